"""Regenerate fixtures/formats/: small logs in other tools' layouts, one per oddity.

CI never sees the real logs in ../shared/realworld, so each layout oddity
met there is reproduced here from a REAL Keras training run (scikit-learn's
bundled data, nothing downloaded): the per-batch and per-epoch numbers the
run produced are written out the way PyTorch Lightning's CSVLogger and
Hugging Face's Trainer lay them out, and a genuine Keras TensorBoard log
directory is kept as written.

    python scripts/generate_format_fixtures.py   # needs the test extra and `pip install tensorboard`
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


class BatchLog(keras.callbacks.Callback):
    """Keeps what Keras reports after every batch (its running mean of the epoch so far)."""

    def __init__(self):
        super().__init__()
        self.batches: list[dict] = []  # {"epoch", "step", "loss", "accuracy"}
        self.step = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self.batches.append({"epoch": self.epoch, "step": self.step, **{k: float(v) for k, v in logs.items()}})


def train(dataset: str, epochs: int, lr: float, seed: int, tensorboard: Path | None = None):
    """Fit a small classifier; returns (history dict, batch log, steps per epoch)."""
    loader = {"digits": load_digits, "cancer": load_breast_cancer}[dataset]
    x, y = loader(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    classes = int(y.max()) + 1
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    batches = BatchLog()
    callbacks = [batches]
    if tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(tensorboard), update_freq="epoch",
                                                     histogram_freq=0, write_graph=False,
                                                     profile_batch=0))
    history = model.fit(x, y, epochs=epochs, batch_size=64, validation_split=0.2, verbose=0,
                        callbacks=callbacks)
    steps = int(np.ceil(0.8 * len(x) / 64))
    return history.history, batches.batches, steps


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in header})


def lightning_files(history: dict, batches: list[dict], steps: int, lr: float) -> None:
    # 1. on_step + on_epoch twins, validation rows, an lr-Adam row without an epoch,
    #    a final test row (what Lightning >= 1.5 writes).
    rows = [{"lr-Adam": lr, "step": 0}]
    for e in range(len(history["loss"])):
        rows += [{"train_loss_step": b["loss"], "train_acc_step": b["accuracy"], "epoch": e,
                  "step": b["step"]} for b in batches if b["epoch"] == e and b["step"] % 2 == 0]
        rows.append({"val_loss": history["val_loss"][e], "val_acc": history["val_accuracy"][e],
                     "epoch": e, "step": (e + 1) * steps - 1})
        rows.append({"train_loss_epoch": history["loss"][e], "train_acc_epoch": history["accuracy"][e],
                     "epoch": e, "step": (e + 1) * steps - 1})
    rows.append({"test_loss": history["val_loss"][-1], "epoch": len(history["loss"]), "step": len(batches)})
    header = ["epoch", "lr-Adam", "step", "test_loss", "train_acc_epoch", "train_acc_step",
              "train_loss_epoch", "train_loss_step", "val_acc", "val_loss"]
    write_csv(OUT / "lightning_step_epoch.csv", header, rows)
    # 2. Old versions: unsorted columns, training loss logged per step only.
    rows = []
    for e in range(len(history["loss"])):
        rows += [{"train_loss": b["loss"], "epoch": e, "step": b["step"]} for b in batches if b["epoch"] == e]
        rows.append({"val_loss": history["val_loss"][e], "epoch": e, "step": (e + 1) * steps - 1})
    write_csv(OUT / "lightning_old_step_only.csv", ["val_loss", "train_loss", "step", "epoch"], rows)
    # 3. Slash-style names from self.log("train/loss").
    rows = []
    for e in range(len(history["loss"])):
        rows.append({"train/loss": history["loss"][e], "epoch": e, "step": (e + 1) * steps - 1})
        rows.append({"val/loss": history["val_loss"][e], "val/acc": history["val_accuracy"][e],
                     "epoch": e, "step": (e + 1) * steps - 1})
    write_csv(OUT / "lightning_slash_names.csv", ["epoch", "step", "train/loss", "val/acc", "val/loss"], rows)


def trainer_states(history: dict, batches: list[dict], steps: int, lr: float) -> None:
    def state(entries, final_epoch):
        return {"best_metric": None, "epoch": final_epoch, "global_step": entries[-1]["step"],
                "is_world_process_zero": True, "log_history": entries}

    epochs = len(history["loss"])
    train_entries = [{"epoch": round(b["step"] / steps, 4), "grad_norm": None, "learning_rate": lr,
                      "loss": round(b["loss"], 4), "step": b["step"]} for b in batches if b["step"] % 3 == 0]
    for entry in train_entries:
        entry.pop("grad_norm")
    evals = [{"epoch": float(e + 1), "eval_accuracy": history["val_accuracy"][e],
              "eval_loss": history["val_loss"][e], "eval_runtime": 0.05,
              "eval_samples_per_second": 7000.0, "eval_steps_per_second": 110.0,
              "step": (e + 1) * steps} for e in range(epochs)]
    summary = {"epoch": float(epochs), "step": len(batches), "total_flos": 1.0e9,
               "train_loss": float(np.mean([b["loss"] for b in batches])), "train_runtime": 3.2,
               "train_samples_per_second": 900.0, "train_steps_per_second": 14.0}
    merged = sorted(train_entries + evals, key=lambda e: (e["step"], "eval_loss" in e))
    (OUT / "trainer_state.json").write_text(json.dumps(state(merged + [summary], float(epochs)), indent=2))
    # Resumed from a checkpoint at half-way: the steps after it are logged again.
    half = len(merged) // 2
    resumed = merged[:half] + [dict(e) for e in merged[half - 4:]]
    (OUT / "trainer_state_resumed.json").write_text(json.dumps(state(resumed, float(epochs)), indent=2))
    (OUT / "trainer_state_no_eval.json").write_text(
        json.dumps(state(train_entries + [summary], float(epochs)), indent=2))


# What this script writes; fixtures/formats/ also holds other scripts' fixtures
# (scripts/generate_console_fixtures.py), which a rerun must leave alone.
OWN = ("lightning_step_epoch.csv", "lightning_old_step_only.csv", "lightning_slash_names.csv",
       "trainer_state.json", "trainer_state_resumed.json", "trainer_state_no_eval.json",
       "tensorboard")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in OWN:
        old = OUT / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    history, batches, steps = train("digits", epochs=8, lr=1e-3, seed=1)
    lightning_files(history, batches, steps, 1e-3)
    trainer_states(history, batches, steps, 1e-3)
    train("cancer", epochs=8, lr=1e-3, seed=2, tensorboard=OUT / "tensorboard")
    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(path.relative_to(OUT.parent), path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
