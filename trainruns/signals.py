"""Runs that log the signals beyond the loss: the gradient norm and the learning rate.

Keras logs neither the gradient norm nor (without an LR callback) the learning
rate. This module trains specs of the corpus's kind with both in the logs, so
that rules reading them can be calibrated and checked on real runs:

- :func:`watch_gradients` wraps a compiled model's optimizer so that every
  step's global gradient norm (before the update, as the Hugging Face Trainer
  logs it) is recorded, and returns a callback that writes the epoch's mean
  and largest norm into the epoch logs as ``grad_norm`` and ``grad_norm_max``
  (CSVLogger records them), plus a step log like the Trainer's: every few
  batches the mean loss of those batches, the last step's ``grad_norm`` and the
  ``learning_rate``, and ``val_loss`` at each epoch's end.
- :data:`SCHEDULES` adds rate schedules the corpus does not have: cosine and
  exponential decays that collapse early (the classic slip: ``decay_steps``
  counted in epochs while Keras counts optimizer steps) and a linear ramp to a
  rate far too high (the loss's zig-zag grows as the rate does).
- :func:`grid` is the spec set: for each family one group (healthy twin,
  healthy variants with a logged schedule, too-high and too-low rates, early
  collapsing schedules), labelled by the corpus's own outcome criteria
  (:mod:`trainruns.labels`) against the twin, exactly as the corpus is.

Additive: nothing here changes a corpus spec, its training or its labels.

    python -m trainruns.signals --out fixtures/signals/runs.jsonl.gz --jobs 2

While it trains, every finished run (history included) is appended to
``runs.partial.jsonl`` next to ``--out``, so that an interrupted run resumes;
the rows are labelled when all are done (twins first), written sorted and
without histories, and the partial file is removed. 323 runs take about 25
minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .datasets import FAMILIES, SPLIT_OF  # noqa: E402
from .specs import BASES, HI, LO, UN, H, Spec, _seed  # noqa: E402

# One group per family: the architecture and size that train fastest.
FAMILY_ARCH = {"digits": "mlp", "sequences": "gru"}
# Steps per logged row of the step log (about five rows per epoch, as a Trainer with
# logging_steps a fifth of an epoch writes).
ROWS_PER_EPOCH = 5


def watch_gradients(model, steps_per_epoch: int, n_fit: int, batch_size: int):
    """Record each step's global gradient norm; return the callback that logs it.

    The model must be compiled. Its optimizer's ``apply_gradients`` is wrapped on
    the instance (the traced train step looks it up there), so the norm is that of
    exactly the gradients the optimizer applies. A step whose gradients hold NaN
    or inf has a non-finite norm; the epoch's mean is then non-finite too, as the
    mean of the steps' norms is.
    """
    import keras
    import tensorflow as tf

    total = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    count = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    largest = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    last = tf.Variable(0.0, dtype=tf.float64, trainable=False)
    optimizer = model.optimizer
    apply = optimizer.apply_gradients

    def apply_gradients(grads_and_vars):
        pairs = list(grads_and_vars)
        grads = [g for g, _ in pairs if g is not None]
        norm = tf.cast(tf.linalg.global_norm(grads), tf.float64)
        total.assign_add(norm)
        count.assign_add(1.0)
        # tf.maximum drops NaN; a non-finite step makes the epoch's largest inf.
        largest.assign(tf.where(tf.math.is_finite(norm), tf.maximum(largest, norm),
                                tf.constant(math.inf, tf.float64)))
        last.assign(norm)
        return apply(pairs)

    optimizer.apply_gradients = apply_gradients
    every = max(1, steps_per_epoch // ROWS_PER_EPOCH)

    class GradNormLogger(keras.callbacks.Callback):
        """Writes ``grad_norm`` / ``grad_norm_max`` into the epoch logs; keeps a step log."""

        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []
            self._epoch = 0
            self._sum_before = 0.0  # loss x samples up to the last logged batch
            self._seen_before = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._sum_before, self._seen_before = 0.0, 0
            for v in (total, count, largest):
                v.assign(0.0)

        def on_train_batch_end(self, batch, logs=None):
            if logs is None or (batch + 1) % every and batch + 1 != steps_per_epoch:
                return
            # Keras' batch logs hold the epoch's running mean: recover the mean of
            # the batches since the last row from the running sums.
            seen = min((batch + 1) * batch_size, n_fit)
            loss_sum = float(logs["loss"]) * seen
            loss = (loss_sum - self._sum_before) / max(seen - self._seen_before, 1)
            self._sum_before, self._seen_before = loss_sum, seen
            step = self._epoch * steps_per_epoch + batch + 1
            self.rows.append({"step": step, "epoch": round(step / steps_per_epoch, 4),
                              "loss": _digits(loss), "grad_norm": _digits(float(last.numpy())),
                              "learning_rate": _digits(_current_rate(self.model))})

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            n = float(count.numpy())
            logs["grad_norm"] = float(total.numpy()) / n if n else math.nan
            logs["grad_norm_max"] = float(largest.numpy())
            if "val_loss" in logs:
                step = (epoch + 1) * steps_per_epoch
                self.rows.append({"step": step, "epoch": float(epoch + 1),
                                  "val_loss": _digits(float(logs["val_loss"]))})

    return GradNormLogger()


def _digits(value: float) -> float:
    """Seven significant digits: what a float32 holds, and a third of the file."""
    return float(f"{value:.7g}")


def _current_rate(model) -> float:
    import keras
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _ramp(lr0: float, peak: float, steps: int):
    """A linear ramp from ``lr0`` to ``peak`` over ``steps`` optimizer steps."""
    import keras

    class LinearRamp(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            frac = keras.ops.minimum(keras.ops.cast(step, "float32") / steps, 1.0)
            return lr0 + (peak - lr0) * frac

    return LinearRamp()


def _warmup_cosine(lr0: float, steps: int):
    """Linear warm-up over the first 10% of the steps, then cosine to zero (the Trainer's)."""
    import keras
    warm = max(1, steps // 10)
    return keras.optimizers.schedules.CosineDecay(0.0, steps - warm, alpha=0.0,
                                                  warmup_target=lr0, warmup_steps=warm)


def schedule(kind: str, lr0: float, steps_per_epoch: int, epochs: int):
    """The rate schedule ``kind`` for a run of ``epochs`` x ``steps_per_epoch`` steps."""
    import keras
    S = keras.optimizers.schedules
    steps = epochs * steps_per_epoch
    if kind == "cosine_full":        # to zero at the very end: the rate is small only at the end
        return S.CosineDecay(lr0, steps, alpha=0.0)
    if kind == "warmup_cosine":
        return _warmup_cosine(lr0, steps)
    if kind == "cosine_epochs":      # decay_steps=epochs, read by Keras as optimizer steps
        return S.CosineDecay(lr0, epochs, alpha=0.0)
    if kind == "cosine_fifth":       # decays over the first fifth of the run, then nothing
        return S.CosineDecay(lr0, max(1, steps // 5), alpha=0.0)
    if kind == "exp_per_step":       # a per-epoch decay rate applied at every step
        return S.ExponentialDecay(lr0, decay_steps=1, decay_rate=0.98)
    if kind == "exp_fast":           # x0.1 every eighth of the run, staircase
        return S.ExponentialDecay(lr0, decay_steps=max(1, steps // 8), decay_rate=0.1,
                                  staircase=True)
    if kind.startswith("ramp"):      # ramp_300: up to 300x the starting rate by the end
        return _ramp(lr0, lr0 * float(kind.split("_")[1]), steps)
    raise ValueError(f"unknown schedule {kind!r}")


SCHEDULES = ("cosine_full", "warmup_cosine", "cosine_epochs", "cosine_fifth", "exp_per_step",
             "exp_fast", "ramp_100", "ramp_300")


@dataclass(frozen=True)
class SignalSpec:
    """A corpus-style spec plus a schedule from :data:`SCHEDULES` (or None)."""

    spec: Spec
    schedule: str | None = None

    @property
    def run(self) -> str:
        return self.spec.run


def _variants(b) -> list[tuple[str, tuple, dict, str | None]]:
    lr, sgd = b.lr, b.sgd
    return [
        # healthy, with the rate logged (a decaying schedule that reaches zero only at the end)
        ("healthy/sgd_momentum", (H,), dict(optimizer="sgd", learning_rate=sgd, momentum=0.9),
         None),
        ("healthy/cosine_full", (H,), dict(optimizer="adamw", learning_rate=2 * lr), "cosine_full"),
        ("healthy/warmup_cosine", (H,), dict(learning_rate=2 * lr), "warmup_cosine"),
        ("healthy/step_decay", (H,), dict(learning_rate=2 * lr, schedule="step"), None),
        # lr_too_high: spikes, oscillation, divergence, NaN, a collapse, a growing zig-zag
        ("lr_too_high/spikes_adam", (HI,), dict(learning_rate=300 * lr), None),
        ("lr_too_high/oscillate_adam", (HI,), dict(learning_rate=100 * lr), None),
        ("lr_too_high/oscillate_rmsprop", (HI,), dict(optimizer="rmsprop", learning_rate=100 * lr),
         None),
        ("lr_too_high/diverge_sgd", (HI,), dict(optimizer="sgd", learning_rate=100 * sgd,
                                                momentum=0.9), None),
        ("lr_too_high/nan_sgd", (HI,), dict(optimizer="sgd", learning_rate=1000 * sgd), None),
        ("lr_too_high/collapse_sgd", (HI,), dict(optimizer="sgd", learning_rate=500 * sgd), None),
        ("lr_too_high/ramp_adam", (HI,), dict(learning_rate=lr), "ramp_300"),
        ("lr_too_high/ramp_sgd", (HI,), dict(optimizer="sgd", learning_rate=sgd, momentum=0.9),
         "ramp_100"),
        # lr_too_low: flat, creeping
        ("lr_too_low/flat_adam", (LO,), dict(learning_rate=1e-3 * lr), None),
        ("lr_too_low/creep_adam", (LO,), dict(learning_rate=1e-2 * lr), None),
        # a schedule that collapses long before the end: the rate is fine, its decay is not
        ("underfitting/cosine_epochs", (UN,), dict(learning_rate=lr), "cosine_epochs"),
        ("underfitting/cosine_fifth", (UN,), dict(learning_rate=lr), "cosine_fifth"),
        ("underfitting/exp_per_step", (UN,), dict(learning_rate=lr), "exp_per_step"),
        ("underfitting/exp_fast_sgd", (UN,), dict(optimizer="sgd", learning_rate=sgd,
                                                  momentum=0.9), "exp_fast"),
    ]


def grid(families=None) -> list[SignalSpec]:
    """One group per family (full data, its first or fastest architecture): twin first."""
    out = []
    for family, b in BASES.items():
        if families and family not in families:
            continue
        arch = FAMILY_ARCH.get(family, b.archs[0])
        n = len(FAMILIES[family].loader()[0])
        group = f"{family}.{arch}.n{n}.signals"
        twin = Spec(run=f"{group}.twin", family=family, group=group, architecture=arch,
                    fault="healthy/twin", intended=(H,), hidden=b.hidden, learning_rate=b.lr,
                    epochs=b.epochs, validation=0.2, lr_logged=True, seed=_seed(group))
        out.append(SignalSpec(twin))
        for fault, intended, kw, sched in _variants(b):
            name = f"{group}.{fault.replace('/', '.')}"
            kw = {"lr_logged": True, **kw}
            out.append(SignalSpec(replace(twin, run=name, fault=fault, intended=intended,
                                          seed=_seed(name), **kw), sched))
    return out


def train_signals(s: SignalSpec) -> tuple[dict, str, str]:
    """Fit one spec with the gradient norm and the rate logged: (history, CSV text, step log)."""
    from .datasets import build_data
    from .train import train
    spec = s.spec
    _, _, n_fit = build_data(spec.family, spec.train_size, spec.validation, spec.label_noise,
                             spec.seed)
    steps_per_epoch = math.ceil(n_fit / spec.batch_size)
    logger = {}

    def adjust(model, kwargs):
        if s.schedule is not None:
            model.optimizer.learning_rate = schedule(s.schedule, spec.learning_rate,
                                                     steps_per_epoch, spec.epochs)
        logger["cb"] = watch_gradients(model, steps_per_epoch, n_fit, spec.batch_size)
        kwargs["callbacks"] = [*kwargs["callbacks"], logger["cb"]]
        return kwargs

    history, csv_text = train(spec, adjust=adjust)
    steps = "".join(json.dumps(r) + "\n" for r in logger["cb"].rows)
    return history, csv_text, steps


def _run_one(s: SignalSpec):
    from .datasets import build_data, chance_loss
    t = time.time()
    history, csv_text, steps = train_signals(s)
    spec = s.spec
    _, y, n_fit = build_data(spec.family, spec.train_size, spec.validation, spec.label_noise,
                             spec.seed)
    return s.run, history, csv_text, steps, chance_loss(spec.family, y[:n_fit]), time.time() - t


def label_all(done: dict, specs: dict[str, SignalSpec]) -> dict[str, dict]:
    """Label every finished run against its twin (twins first), as the corpus does."""
    from .cli import Labeller
    rows: dict[str, dict] = {}
    lab = Labeller({k: s.spec for k, s in specs.items()},
                   lambda row: rows.__setitem__(row["run"], row))
    for r in sorted(done.values(), key=lambda r: not specs[r["run"]].spec.is_twin):
        lab.add(r["run"], r["history"], r["csv"], r["chance"])
    for name, row in rows.items():
        row["lr_schedule"] = specs[name].schedule
        row["steps"] = done[name]["steps"]
        row["split"] = SPLIT_OF[row["family"]]
    return rows


def write_logs(out: Path, names: list[str]) -> int:
    """Each named run's two logs, as files next to ``out`` (small fixtures for tests)."""
    with gzip.open(out, "rt", encoding="utf-8") as fh:
        rows = {r["run"]: r for r in map(json.loads, fh) if r["run"] in names}
    missing = sorted(set(names) - set(rows))
    if missing:
        print(f"not in {out}: {', '.join(missing)}", file=sys.stderr)
        return 2
    for name, row in rows.items():
        (out.parent / f"{name}.csv").write_text(row["csv"], encoding="utf-8")
        (out.parent / f"{name}.jsonl").write_text(row["steps"], encoding="utf-8")
        print(f"wrote {name}.csv, {name}.jsonl ({', '.join(row['conditions']) or 'no label'}, "
              f"{row['status']})")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainruns.signals",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="fixtures/signals/runs.jsonl.gz")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--families", help="comma-separated families (default: all)")
    p.add_argument("--only", help="comma-separated run names (no labelling: print and exit)")
    p.add_argument("--write-logs", metavar="RUNS",
                   help="write these runs (comma-separated names) of --out as <run>.csv (the "
                        "CSVLogger file) and <run>.jsonl (the step log) next to it, and exit")
    args = p.parse_args(argv)
    if args.write_logs:
        return write_logs(Path(args.out), args.write_logs.split(","))
    specs = {s.run: s for s in grid(args.families.split(",") if args.families else None)}
    if args.only:
        from .cli import _worker_init
        _worker_init()
        for name in args.only.split(","):
            run, history, csv_text, steps, chance, secs = _run_one(specs[name])
            print(f"{run} {secs:.1f}s chance {chance:.4g}\n{csv_text}")
        return 0
    out = Path(args.out)
    from .cli import partial_rows

    partial, done = partial_rows(out, specs)
    todo = [s for s in specs.values() if s.run not in done]
    print(f"{len(specs)} specs, {len(done)} done, {len(todo)} to train", flush=True)
    t0 = time.time()
    from .cli import _worker_init
    with open(partial, "a") as fh, mp.get_context("spawn").Pool(
            args.jobs, initializer=_worker_init) as pool:
        for i, (name, history, csv_text, steps, chance, secs) in enumerate(
                pool.imap_unordered(_run_one, todo, chunksize=1), 1):
            done[name] = {"run": name, "history": history, "csv": csv_text, "steps": steps,
                          "chance": chance}
            fh.write(json.dumps(done[name]) + "\n")
            fh.flush()
            print(f"trained {name} {secs:.1f}s [{i}/{len(todo)}, "
                  f"{(time.time() - t0) / 60:.1f} min]", flush=True)
    rows = label_all(done, specs)
    partial.unlink()
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for name in sorted(rows):
            r = {k: v for k, v in rows[name].items() if k not in ("history", "chance")}
            gz.write((json.dumps(r) + "\n").encode())
    counts = {}
    for r in rows.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"wrote {out}: {len(rows)} runs, {counts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
