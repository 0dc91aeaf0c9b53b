#!/usr/bin/env python3
"""Regenerate the console, JSONL and W&B fixtures in fixtures/formats/.

Console captures are REAL: each scenario is a small Keras model trained on
scikit-learn's bundled data (CPU, seconds) in a child process whose stdout
and stderr go, merged, into a file, exactly as ``python train.py > run.log
2>&1`` leaves them: carriage-return redraws, backspaces and colour codes of
the verbose=1 progress bar, TensorFlow's start-up lines, warnings. Next to
each capture, ``<name>.history.json`` holds the same fit's
``History.history`` (a list of them for a capture of several ``fit()``
calls), so that the tests compare the parsed run with it value by value.

The ``console_keras2_*`` captures come from ``tf_keras`` (Keras 2, the
``[=====]`` bar and ``loss`` before ``accuracy``); they are skipped, and the
committed ones kept, when ``tf_keras`` cannot be imported
(``pip install --target DIR tf_keras`` and ``--tf-keras-path DIR`` work).

The JSONL files are written by a small callback during a real fit. The
Hugging Face printed-dict capture and the W&B CSV exports hold the numbers of
real Keras fits written in those tools' layouts (not produced by those
tools: neither is installed here).

    python scripts/generate_console_fixtures.py [--only NAME ...] [--tf-keras-path DIR]

Only the files named here are written; the other fixtures in
fixtures/formats/ are left alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "fixtures" / "formats"

# name -> (dataset, keras flavour, verbose, what the child does)
SCENARIOS = {
    "console_keras3_v1": ("digits", "keras", 1, "plain"),
    "console_keras3_v2_overfit": ("digits_small", "keras", 2, "overfit"),
    "console_keras3_v1_nan": ("diabetes", "keras", 1, "nan"),
    "console_keras3_v2_two_fits": ("cancer", "keras", 2, "two_fits"),
    "console_keras3_v1_warnings": ("wine", "keras", 1, "warnings"),
    "console_keras2_v1": ("digits", "tf_keras", 1, "plain"),
    "console_keras2_v2": ("cancer", "tf_keras", 2, "plain"),
}


# --- the child: one fit (or two), printing as Keras prints --------------------------------

def _data(name: str):
    import numpy as np
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    if name == "diabetes":  # regression on unscaled targets (25..346): SGD blows up
        x, y = datasets.load_diabetes(return_X_y=True)
        return StandardScaler().fit_transform(x), y.astype("float32"), None
    loader = {"digits": datasets.load_digits, "digits_small": datasets.load_digits,
              "cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}[name]
    x, y = loader(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    if name == "digits_small":  # 200 images for a 512-unit network: it overfits
        x, y = x[:200], y[:200]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))  # validation_split takes the tail: shuffle once
    return x[order], y[order], int(y.max()) + 1


def _model(keras, inputs: int, classes: int | None, units: int):
    layers = [keras.Input((inputs,)), keras.layers.Dense(units, activation="relu")]
    if classes is None:
        layers.append(keras.layers.Dense(1))
    else:
        layers.append(keras.layers.Dense(classes, activation="softmax"))
    return keras.Sequential(layers)


def _compile(keras, model, classes, optimizer):
    if classes is None:
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    else:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])


def child(name: str, history_path: Path) -> None:
    dataset, flavour, verbose, kind = SCENARIOS[name]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if flavour == "tf_keras":
        import tf_keras as keras
    else:
        import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    x, y, classes = _data(dataset)
    keras.utils.set_random_seed(3)
    units = {"overfit": 512}.get(kind, 32)
    model = _model(keras, x.shape[1], classes, units)
    histories = []
    if kind == "nan":
        _compile(keras, model, classes, keras.optimizers.SGD(0.0025))
        h = model.fit(x, y, epochs=8, batch_size=32, validation_split=0.2, verbose=verbose)
        histories.append(h.history)
    elif kind == "two_fits":
        _compile(keras, model, classes, keras.optimizers.Adam(1e-2))
        h = model.fit(x, y, epochs=6, batch_size=64, validation_split=0.2, verbose=verbose)
        histories.append(h.history)
        print("first fit done; fine-tuning at a lower rate", flush=True)
        _compile(keras, model, classes, keras.optimizers.Adam(1e-3))
        h = model.fit(x, y, epochs=8, batch_size=64, validation_split=0.2, verbose=verbose)
        histories.append(h.history)
    elif kind == "warnings":
        import warnings

        class Noisy(keras.callbacks.Callback):
            """Prints in the middle of a progress bar, and warns between epochs."""

            def on_train_batch_end(self, batch, logs=None):
                if self.epoch == 3 and batch == 1:
                    print("\nsaving a checkpoint (user print inside the epoch)", flush=True)

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch
                if epoch == 5:
                    warnings.warn("the validation set is small: val_loss will be noisy",
                                  UserWarning, stacklevel=1)
                    sys.stderr.flush()

        _compile(keras, model, classes, keras.optimizers.Adam(3e-2))
        callbacks = [Noisy(),
                     keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                       patience=2, verbose=1),
                     keras.callbacks.EarlyStopping(monitor="val_loss", patience=6, verbose=1,
                                                   restore_best_weights=True)]
        h = model.fit(x, y, epochs=30, batch_size=16, validation_split=0.25, verbose=verbose,
                      callbacks=callbacks)
        histories.append(h.history)
        model.evaluate(x, y, batch_size=16, verbose=1)  # after fit: not an epoch
    else:
        epochs = {"overfit": 40}.get(kind, 12)
        _compile(keras, model, classes, keras.optimizers.Adam({"overfit": 1e-2}.get(kind, 1e-3)))
        h = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.2,
                      verbose=verbose)
        histories.append(h.history)
    sys.stdout.flush()
    plain = [{k: [float(v) for v in vs] for k, vs in hist.items()} for hist in histories]
    history_path.write_text(json.dumps(plain[0] if len(plain) == 1 else plain, indent=1) + "\n")


def capture(name: str, tf_keras_path: str | None) -> bool:
    """Run the child for ``name`` with stdout and stderr merged into the .log file."""
    if SCENARIOS[name][1] == "tf_keras":
        probe = subprocess.run([sys.executable, "-c", "import tf_keras"], env=_env(tf_keras_path),
                               capture_output=True, check=False)
        if probe.returncode != 0:
            print(f"skipped {name}: tf_keras is not importable (kept the committed files)")
            return False
    log, history = OUT / f"{name}.log", OUT / f"{name}.history.json"
    with log.open("wb") as fh:
        subprocess.run([sys.executable, __file__, "--child", name, "--history", str(history)],
                       stdout=fh, stderr=subprocess.STDOUT, env=_env(tf_keras_path), check=True,
                       cwd=ROOT)
    return True


def _env(tf_keras_path: str | None) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    if tf_keras_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tf_keras_path, env.get("PYTHONPATH")]))
    return env


_ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")


def redraws_as_lines() -> None:
    """The verbose=1 capture as a log viewer that turns each carriage return into a line
    break shows it (CI logs, some notebook exports): every redraw on a line of its own."""
    data = (OUT / "console_keras3_v1.log").read_bytes()
    data = _ANSI.sub(b"", data)
    data = re.sub(rb"\x08+", b"", data).replace(b"\r", b"\n")
    data = re.sub(rb"\n{2,}", b"\n", data)
    (OUT / "console_keras3_v1_redraws_as_lines.txt").write_bytes(data)


# --- JSONL, Hugging Face printed dicts, W&B exports from real fits -------------------------

def _fit_logging(dataset: str, lr: float, epochs: int, seed: int, callbacks=()):
    """A fit with a callback keeping every batch's and every epoch's logs."""
    import keras

    x, y, classes = _data(dataset)
    keras.utils.set_random_seed(seed)
    model = _model(keras, x.shape[1], classes, 32)
    _compile(keras, model, classes, keras.optimizers.Adam(lr))

    class Keep(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs, self.step = [], [], 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            self.batches.append({"epoch": self.epoch, "step": self.step,
                                 **{k: float(v) for k, v in logs.items()}})

        def on_epoch_end(self, epoch, logs=None):
            lr_now = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            self.epochs.append({"epoch": epoch, "step": self.step, "learning_rate": lr_now,
                                **{k: float(v) for k, v in logs.items()}})

    keep = Keep()
    history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=0,
                        callbacks=[keep, *callbacks])
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}, keep


class JsonLines:
    """The small callback a user writes: one JSON object per line, flushed as it goes.

    Training rows hold the batch's own loss and accuracy, as a hand-written
    training loop logs them (Keras reports the running mean of the epoch so
    far; with equal batches, batch k's own value is k*m_k - (k-1)*m_(k-1)).
    """

    def __new__(cls, path: Path, every: int = 1):
        import keras

        class _JsonLines(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.fh, self.step = path.open("w"), 0

            def on_epoch_begin(self, epoch, logs=None):
                self.epoch, self.means = epoch, {"loss": 0.0, "accuracy": 0.0}

            def on_train_batch_end(self, batch, logs=None):
                self.step += 1
                own = {}
                for key, before in self.means.items():
                    now = float(logs[key])
                    own[key] = (batch + 1) * now - batch * before
                    self.means[key] = now
                if self.step % every == 0:
                    row = {"step": self.step, "epoch": self.epoch,
                           "train/loss": own["loss"], "train/accuracy": own["accuracy"]}
                    self.fh.write(json.dumps(row) + "\n")

            def on_epoch_end(self, epoch, logs=None):
                row = {"step": self.step, "epoch": epoch, "time": round(time.time(), 3),
                       **{k: float(v) for k, v in logs.items() if k.startswith("val_")}}
                self.fh.write(json.dumps(row) + "\n")
                self.fh.flush()

            def on_train_end(self, logs=None):
                self.fh.close()

        return _JsonLines()


def jsonl_files() -> None:
    # Epoch rows: a training row and an evaluation row per epoch (rows with some metrics).
    history, keep = _fit_logging("digits", 1e-3, 12, seed=5)
    with (OUT / "metrics_epochs.jsonl").open("w") as fh:
        for row in keep.epochs:
            train = {k: v for k, v in row.items() if not k.startswith("val_")}
            fh.write(json.dumps(train) + "\n")
            fh.write(json.dumps({"epoch": row["epoch"], "step": row["step"],
                                 **{k: v for k, v in row.items() if k.startswith("val_")}})
                     + "\n")
    _history(history, "metrics_epochs")
    # Step rows (train/ names, every batch) and evaluation rows at each epoch's end.
    history, _ = _fit_logging("cancer", 3e-3, 10, seed=6,
                              callbacks=[JsonLines(OUT / "metrics_steps.jsonl")])
    _history(history, "metrics_steps")


def hf_printed_dicts() -> None:
    """What the Trainer prints to the console (``str(logs)`` lines among tqdm redraws),
    holding a real Keras run's numbers: training every 2 steps, evaluation per epoch."""
    history, keep = _fit_logging("wine", 1e-2, 8, seed=7)
    steps = keep.epochs[0]["step"]
    total = keep.epochs[-1]["step"]
    text = [("***** Running training *****\n  Num examples = 142\n  Num Epochs = 8\n"
             f"  Total optimization steps = {total}\n")]

    def write(message: str) -> None:  # tqdm.write: clear the bar, print, the bar comes back
        text.append("\r" + " " * 60 + "\r" + message + "\n")

    for b in keep.batches:
        done = b["step"] * 10 // total
        text.append(f"\r{100 * b['step'] // total:3d}%|{'#' * done}{' ' * (10 - done)}| "
                    f"{b['step']}/{total} [00:{b['step'] // 12:02d}<00:01, 12.40it/s]")
        if b["step"] % 2 == 0:
            write(str({"loss": round(b["loss"], 4), "grad_norm": 1.0,
                       "learning_rate": 0.01, "epoch": round(b["step"] / steps, 2)}))
        end = next((e for e in keep.epochs if e["step"] == b["step"]), None)
        if end is not None:
            write(str({"eval_loss": end["val_loss"], "eval_accuracy": end["val_accuracy"],
                       "eval_runtime": 0.0418, "eval_samples_per_second": 860.2,
                       "eval_steps_per_second": 47.8, "epoch": float(end["epoch"] + 1)}))
    write(str({"train_runtime": 3.21, "train_samples_per_second": 354.2,
               "train_steps_per_second": 12.4, "train_loss": 0.4312, "epoch": 8.0}))
    text.append("\n")
    (OUT / "console_hf_trainer.txt").write_text("".join(text))
    _history(history, "console_hf_trainer")


def wandb_files() -> None:
    # 1. A run's history table: one row per wandb.log() call, `_step` counting them; a
    #    training row every 4 batches and an epoch row with validation, `epoch` and `lr`.
    history, keep = _fit_logging("digits", 2e-3, 10, seed=8)
    header = ["_runtime", "_step", "_timestamp", "epoch", "lr", "train/acc", "train/loss",
              "val/acc", "val/loss"]
    rows, start = [], 1767225600.0
    for b in keep.batches:
        end = next((e for e in keep.epochs if e["step"] == b["step"]), None)
        if b["step"] % 4 == 0:
            rows.append({"train/loss": b["loss"], "train/acc": b["accuracy"]})
        if end is not None:
            rows.append({"epoch": end["epoch"], "lr": end["learning_rate"],
                         "val/loss": end["val_loss"], "val/acc": end["val_accuracy"]})
    for step, row in enumerate(rows):
        row.update({"_step": step, "_runtime": round(0.21 * step + 1.5, 6),
                    "_timestamp": round(start + 0.21 * step, 6)})
    _write_csv(OUT / "wandb_history.csv", header, rows)
    _history(history, "wandb_history")
    # 2. A chart's "Download CSV": the x axis first, then `<run> - <key>` with __MIN and
    #    __MAX beside each, for two runs (the chart plots train/loss and val/loss by epoch).
    runs = {"swift-river-12": _fit_logging("cancer", 1e-3, 15, seed=9)[0],
            "misty-forest-11": _fit_logging("cancer", 3e-1, 15, seed=9)[0]}
    header = ["epoch"]
    for run in runs:
        for key in ("train/loss", "val/loss"):
            header += [f"{run} - {key}", f"{run} - {key}__MIN", f"{run} - {key}__MAX"]
    rows = []
    for e in range(15):
        row = {"epoch": e}
        for run, hist in runs.items():
            for key, name in (("train/loss", "loss"), ("val/loss", "val_loss")):
                for suffix in ("", "__MIN", "__MAX"):
                    row[f"{run} - {key}{suffix}"] = hist[name][e]
        rows.append(row)
    _write_csv(OUT / "wandb_chart_export.csv", header, rows, quote=True)
    (OUT / "wandb_chart_export.history.json").write_text(
        json.dumps(runs, indent=1) + "\n")


def _write_csv(path: Path, header: list[str], rows: list[dict], quote: bool = False) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n",
                                quoting=csv.QUOTE_ALL if quote else csv.QUOTE_MINIMAL)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in header})


def _history(history: dict, name: str) -> None:
    (OUT / f"{name}.history.json").write_text(json.dumps(history, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--tf-keras-path", help="a folder holding tf_keras (pip --target)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.history)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    OUT.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or [*SCENARIOS, "redraws", "jsonl", "hf", "wandb"])
    for name in SCENARIOS:
        if name in wanted:
            capture(name, args.tf_keras_path)
    if "redraws" in wanted:
        redraws_as_lines()
    if "jsonl" in wanted:
        jsonl_files()
    if "hf" in wanted:
        hf_printed_dicts()
    if "wandb" in wanted:
        wandb_files()
    for path in sorted(OUT.glob("*")):
        if path.is_file() and path.name.startswith(("console_", "metrics_", "wandb_")):
            print(path.relative_to(ROOT), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
