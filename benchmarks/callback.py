"""What DiagnoseCallback(action="act") does to real training runs, and what it costs.

Trains the fixture generator's scenarios (``scripts/generate_fixtures.py``:
real ``model.fit()`` runs of small models on scikit-learn data, one or two
per condition) three ways and prints them side by side:

  none   no callback
  seed   EarlyStopping(patience=5, restore_best_weights=True)
         + ReduceLROnPlateau(factor=0.5, patience=2) + TerminateOnNaN()
  act    DiagnoseCallback(action="act")

Per run: epochs trained; the validation loss of the model as fit() leaves it
(after any restore of the best weights; "-" without validation data); the
epoch at which the scenario's condition became visible (the first epoch of
the evidence the offline diagnosis of the uncontrolled run points at) and the
epoch at which the callback first reported it (act) or a seed callback first
intervened (seed); what was done; wall and CPU (process) time.

Overhead: a short healthy run, median of ``--repeat`` runs each without a
callback, with DiagnoseCallback(action="act") and with batch_checks=True;
plus the callback's own per-epoch and per-batch cost measured in isolation.

    python benchmarks/callback.py [--only NAME ...] [--repeat 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np

# One or two scenarios per condition, chosen to keep the whole benchmark under 10 minutes.
SCENARIOS = {
    "overfitting": ("moons_overfit_subset", "digits_overfit_subset"),
    "lr_too_high": ("digits_high_sgd_nan", "cls5_high_adam_diverge"),
    "lr_too_low": ("digits_low_1e-6",),
    "underfitting": ("digits_underfit_capacity",),
    "healthy": ("moons_healthy_adam", "digits_healthy_adam"),
}
OVERHEAD_SCENARIO, OVERHEAD_EPOCHS = "digits_healthy_adam", 10


def seed_recipe(monitor: str) -> list:
    import keras

    return [keras.callbacks.EarlyStopping(monitor=monitor, patience=5, restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=2),
            keras.callbacks.TerminateOnNaN()]


def val_loss_kept(g, scenario, model) -> float | None:
    """The validation loss of the model as fit() left it (after any weight restore)."""
    if not scenario.validation_split:
        return None
    x, y, n_fit = g.build_data(scenario)
    y_val = ({"out1": y[n_fit:, 0], "out2": y[n_fit:, 1]} if scenario.multi_output
             else y[n_fit:])
    result = model.evaluate(x[n_fit:], y_val, verbose=0, batch_size=256)
    return float(result[0] if isinstance(result, list) else result)


def train(g, scenario, callbacks):
    wall, cpu = time.perf_counter(), time.process_time()
    history = g.train(scenario, callbacks=callbacks)
    return history, time.perf_counter() - wall, time.process_time() - cpu


def visible_epoch(history: dict, condition: str) -> float | None:
    """Where the offline diagnosis of the uncontrolled run says the condition shows first."""
    from diagnose import diagnose

    report = diagnose(history)
    epochs = [f.epochs[0] for f in report.findings if f.condition == condition and f.epochs]
    return min(epochs) if epochs else None


def seed_intervention(early_stopping, history: dict, budget: int) -> tuple[str, str]:
    """(first epoch a seed callback intervened, what they did)."""
    done, first = [], []
    rates = history.get("learning_rate", [])  # ReduceLROnPlateau logs the rate it set
    drops = [i + 1 for i in range(1, len(rates)) if rates[i] < rates[i - 1]]
    if drops:
        done.append(f"lr/2@{drops[0]}" + (f" x{len(drops)}" if len(drops) > 1 else ""))
        first.append(drops[0])
    epochs = len(history["loss"])
    if early_stopping.stopped_epoch:
        done.append(f"stop@{early_stopping.stopped_epoch + 1}, restore")
        first.append(early_stopping.stopped_epoch + 1)
    elif epochs < budget:
        done.append(f"nan-stop@{epochs}")
        first.append(epochs)
    return (str(min(first)) if first else "-"), ", ".join(done) or "-"


def act_summary(callback) -> str:
    counts: dict[str, int] = {}
    for a in callback.report.actions:
        counts[a.action] = counts.get(a.action, 0) + 1
    short = {"stop_training": "stop", "lower_learning_rate": "lr/2",
             "restore_best_weights": "restore", "rewind": "rewind"}
    parts = []
    for action, n in counts.items():
        at = next(int(a.epoch) for a in callback.report.actions if a.action == action)
        parts.append(f"{short.get(action, action)}@{at}" + (f" x{n}" if n > 1 else ""))
    return ", ".join(parts) or "-"


def compare(g, names: list[str]) -> list[list[str]]:
    from diagnose.keras import DiagnoseCallback

    by_name = {s.name: s for s in g.SCENARIOS}
    rows = []
    for condition, scenario_names in SCENARIOS.items():
        for name in scenario_names:
            if names and name not in names:
                continue
            s = by_name[name]
            monitor = "val_loss" if s.validation_split else "loss"
            history, wall, cpu = train(g, s, [])
            plain = {k: [float(v) for v in vs] for k, vs in history.history.items()}
            seen = visible_epoch(plain, condition)
            seen_text = "-" if seen is None else f"{seen:g}"
            rows.append([name, condition, seen_text, "none", str(len(plain["loss"])),
                         _fmt(val_loss_kept(g, s, history.model)), "-", "-",
                         f"{wall:.1f}", f"{cpu:.1f}"])
            seed = seed_recipe(monitor)
            history, wall, cpu = train(g, s, seed)
            epochs = len(history.history["loss"])
            first, done = seed_intervention(seed[0], history.history, s.epochs)
            rows.append(["", "", "", "seed", str(epochs), _fmt(val_loss_kept(g, s, history.model)),
                         first, done, f"{wall:.1f}", f"{cpu:.1f}"])
            callback = DiagnoseCallback(action="act", verbose=0)
            history, wall, cpu = train(g, s, [callback])
            if condition == "healthy":  # any condition reported is a false alarm
                detected = ", ".join(f"{c}@{e}" for c, e in callback.first_seen.items()) or "-"
            else:
                detected = str(callback.first_seen.get(condition, "-"))
            rows.append(["", "", "", "act", str(len(history.history["loss"])),
                         _fmt(val_loss_kept(g, s, history.model)), detected, act_summary(callback),
                         f"{wall:.1f}", f"{cpu:.1f}"])
            print(f"  trained {name}", file=sys.stderr, flush=True)
    return rows


def overhead(g, repeat: int) -> list[str]:
    from diagnose.keras import DiagnoseCallback

    s = dataclasses.replace(next(s for s in g.SCENARIOS if s.name == OVERHEAD_SCENARIO),
                            epochs=OVERHEAD_EPOCHS)
    variants = {"none": list,
                "act": lambda: [DiagnoseCallback(action="act", verbose=0)],
                "act+batch_checks": lambda: [DiagnoseCallback(action="act", batch_checks=True,
                                                              verbose=0)]}
    train(g, s, [])  # warm-up: imports, first graph build
    times: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    for i in range(repeat):
        # Interleaved, in alternating order: drift and the cost of following
        # another run hit every variant alike.
        for variant in list(variants)[:: 1 if i % 2 else -1]:
            _, wall, cpu = train(g, s, variants[variant]())
            times[variant].append((wall, cpu))
    base_wall = statistics.median(w for w, _ in times["none"])
    base_cpu = statistics.median(c for _, c in times["none"])
    rows = int(len(g.build_data(s)[0]) * (1 - s.validation_split))
    steps = OVERHEAD_EPOCHS * -(-rows // s.batch_size)
    lines = [(f"overhead: {OVERHEAD_SCENARIO}, {OVERHEAD_EPOCHS} epochs ({steps} batches), "
              f"median of {repeat}")]
    for variant in variants:
        wall = statistics.median(w for w, _ in times[variant])
        cpu = statistics.median(c for _, c in times[variant])
        lines.append(f"  {variant:<17s} wall {wall:6.2f} s ({100 * (wall / base_wall - 1):+5.1f}%)"
                     f"   cpu {cpu:6.2f} s ({100 * (cpu / base_cpu - 1):+5.1f}%)")
    return lines


def unit_costs() -> list[str]:
    """The callback's own work, without training: per epoch (engine re-run) and per batch."""
    from diagnose.keras import DiagnoseCallback
    from diagnose.keras.batches import BatchWatch

    rng = np.random.default_rng(0)
    lines = []
    for n in (50, 150):
        callback = DiagnoseCallback(verbose=0)
        costs = []
        for epoch in range(n):
            logs = {"loss": 2 * np.exp(-epoch / 10) + 0.1 + 0.01 * rng.standard_normal(),
                    "val_loss": 2 * np.exp(-epoch / 10) + 0.3 + 0.01 * rng.standard_normal(),
                    "accuracy": 0.9, "val_accuracy": 0.85}
            start = time.perf_counter()
            callback.on_epoch_end(epoch, logs)
            costs.append(time.perf_counter() - start)
        lines.append(f"  on_epoch_end at epoch {n}: {1e3 * statistics.median(costs[-10:]):.2f} ms "
                     f"(median of the last 10)")
    watch = BatchWatch()
    watch.begin_epoch(0)
    means = (1.0 + 0.05 * rng.standard_normal(100_000)).cumsum() / np.arange(1, 100_001)
    logs = [{"loss": float(m)} for m in means]
    start = time.perf_counter()
    for batch, log in enumerate(logs):
        watch.update(batch, log)
    per_batch = (time.perf_counter() - start) / len(logs)
    lines.append(f"  batch check: {1e6 * per_batch:.2f} us per batch")
    return ["callback's own cost:"] + lines


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    import generate_fixtures as g

    rows = compare(g, args.only)
    header = ["scenario", "condition", "visible@", "run", "epochs", "val_loss kept",
              "detected@", "actions", "wall s", "cpu s"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print()
    print("\n".join(overhead(g, args.repeat)))
    print("\n".join(unit_costs()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
