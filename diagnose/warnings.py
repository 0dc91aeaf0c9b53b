"""Warnings about the log rather than the training: what a verdict does not cover.

A condition (PRODUCT.md) says what went wrong with the training. Some things
that are wrong with the *log* matter as much to the person reading the
report, and no condition names them: a validation set that is not held out
(the validation curve then says nothing about new data), a run resumed or
restarted into the same file, epochs missing, rows that could not be read, a
metric logged on some epochs only. :func:`check` gathers them:

- the loader's warnings, carried on the run (``Run.warnings``: ``went_back``,
  ``repeated``, ``restarted``, ``malformed_rows``), seen while reading;
- ``possible_leakage``, ``skipped`` and ``partly_logged``, read here from the
  curves.

Warnings never change the verdict; the curves are judged as read. Each says
what it saw and why it matters. docs/warnings.md lists them, with the
measurements behind the thresholds (``python -m benchmarks.warnings``).
"""

from __future__ import annotations

import math

import numpy as np

from .features import Features
from .report import RunWarning, count
from .run import LEARNING_RATE, Run

# --- possible_leakage ----------------------------------------------------------
#
# Keras computes the training loss with dropout on and averaged over the epoch
# while the weights still improve; the validation loss is computed after the
# epoch, without dropout. So validation below training is common and healthy:
# in the calibration corpus (fixtures/corpus/runs.jsonl.gz: 1,203 real runs
# with validation to compare, none of which leaks) 312 runs have it in at
# least 90% of their epochs, from L2 penalties, dropout up to 0.9, or a
# validation split easier by chance. What no held-out run there shows is the
# validation loss FAR below the training loss: the median ratio over the
# second half of the run is never below 0.27 (dropout 0.9, on a regression),
# and honest twins with Dropout(0.5) in fixtures/leakage/ reach 0.35. A leak
# goes further when the model memorizes rows that are also in the validation
# set while dropout keeps the training loss up, or when the validation rows
# are the easy ones. Most leaks stay inside the healthy range (a validation
# set that IS training data, without dropout, gives a ratio near 1, as a
# noise-free task does honestly): docs/warnings.md has the measurements
# (python -m benchmarks.warnings --ratios).
CORPUS_RUNS, CORPUS_MIN_RATIO = 1203, 0.27
LEAK_MAX_RATIO = 0.25  # validation / training, median over the second half of the run
LEAK_MIN_BELOW = 0.9   # share of the validated epochs with validation below training
LEAK_MIN_POINTS = 5    # validated epochs needed (as for an overfitting judgment)

# --- skipped -------------------------------------------------------------------
# A step between logged points of at least twice the run's usual step (the
# median) leaves at least one point out: a gap. Logging every k epochs is a
# choice, not a gap: only a step larger than the usual one counts.


def check(run: Run, features: Features) -> tuple[RunWarning, ...]:
    """Every warning for ``run``: possible leakage first, then the loader's, then the gaps.

    ``run`` is the run as loaded (before any binning), ``features`` its
    features (binned for step-logged runs, which is what the leakage check
    wants: the epoch-average view it was calibrated on).
    """
    found = []
    leak = possible_leakage(features)
    if leak is not None:
        found.append(leak)
    found.extend(run.warnings)
    gap = skipped(run, features.loss_name)
    if gap is not None:
        found.append(gap)
    found.extend(partly_logged(run))
    return tuple(found)


def possible_leakage(features: Features) -> RunWarning | None:
    """Validation loss far below the training loss all along: a leak, or an easier validation set."""
    train, val = features.train, features.val
    if train is None or val is None:
        return None
    x, at_train, at_val = np.intersect1d(train.x, val.x, return_indices=True)
    if len(x) < LEAK_MIN_POINTS:
        return None
    t, v = train.y[at_train], val.y[at_val]
    if not (np.all(t > 0) and np.all(v > 0)):
        return None  # a loss that can be zero or negative has no meaningful ratio
    n_below = int(np.sum(v < t))
    below = n_below / len(x)
    half = len(x) // 2
    ratio = float(np.median(v[half:] / t[half:]))
    if below < LEAK_MIN_BELOW or ratio > LEAK_MAX_RATIO:
        return None
    times = 1 / ratio
    message = (
        f"{val.name} stayed below {train.name} in {n_below} of "
        f"{count(len(x), 'validated epoch')} and was {_times(times)} times lower over epochs "
        f"{x[half]:g}-{x[-1]:g} (median). Dropout, regularization and Keras averaging the "
        f"training loss over the epoch put validation below training in many healthy runs, "
        f"but never this far (at most {1 / CORPUS_MIN_RATIO:.1f} times in {CORPUS_RUNS:,} real "
        f"runs, dropout 0.9 included): the validation rows may also be in the training data (duplicates, a split "
        f"made after oversampling or augmentation, frames of the same subject on both sides), "
        f"or the validation set is far easier than training. Then the validation curve says "
        f"little about new data, and the best epoch and any overfitting judgment rest on it. "
        f"Mixup, heavy augmentation or class weights in training alone also do this.")
    return RunWarning("possible_leakage", message, (float(x[0]), float(x[-1])),
                      {"ratio": ratio, "below_share": below, "validated_epochs": len(x),
                       "max_ratio": LEAK_MAX_RATIO})


def skipped(run: Run, loss: str | None = None) -> RunWarning | None:
    """Epochs (steps) missing from the middle of the log: a gap larger than its usual step.

    For a step-logged run the positions of the training loss are used (its
    evaluation entries fall anywhere); for an epoch-logged run, every epoch
    the log holds.
    """
    xs = run.epochs
    step = run.granularity == "step"
    if step:
        mask = run.logged.get(loss) if loss else None
        if mask is None:
            return None
        xs = xs[mask]
    # Only whole numbers count: a fractional epoch axis (the Trainer's, which an
    # IterableDataset makes jump from 0.05 to 1.01 with no step missing) says
    # nothing about missing rows.
    if len(xs) < 3 or not np.all(xs == np.round(xs)):
        return None
    steps = np.diff(xs)
    usual = float(np.median(steps))
    if not usual > 0:
        return None
    # A gap is at least one point missing at the usual step.
    gaps = np.flatnonzero(steps >= 2 * usual - 1e-9)
    if not len(gaps):
        return None
    word = "step" if step else "epoch"
    shown = []
    for i in gaps[:4]:
        a, b = float(xs[i]), float(xs[i + 1])
        if usual == 1:
            lost = f"{word}s {a + 1:g}-{b - 1:g}" if b - a > 2 else f"{word} {a + 1:g}"
            shown.append(f"from {word} {a:g} to {b:g} ({lost} missing)")
        else:
            shown.append(f"from {word} {a:g} to {b:g}")
    more = f", and {len(gaps) - 4} more gaps" if len(gaps) > 4 else ""
    missing = round(float(np.sum(steps[gaps] / usual - 1)))
    every = f"every {usual:g} {word}s" if usual != 1 else f"every {word}"
    message = (
        f"the log jumps {'; '.join(shown)}{more}, where it is otherwise written {every}: about "
        f"{count(missing, 'point')} missing (training resumed from an older checkpoint with a "
        f"later initial_epoch, or rows lost). The curves are drawn straight across "
        f"{'the gap' if len(gaps) == 1 else 'the gaps'}, and what is counted in {word}s there "
        f"(a patience, the {word}s early stopping would save) is off by "
        f"{'it' if len(gaps) == 1 else 'them'}.")
    if len(gaps) == 1:
        i = gaps[0]
        epochs, events = (float(xs[i] + usual), float(xs[i + 1] - usual)), False
    else:
        epochs, events = tuple(float(xs[i]) for i in gaps[:12]), True
    return RunWarning("skipped", message, epochs,
                      {"gaps": [[float(xs[i]), float(xs[i + 1])] for i in gaps[:12]],
                       "usual_step": usual, "missing": missing}, events)


def partly_logged(run: Run) -> list[RunWarning]:
    """Series of an epoch-logged run logged on some epochs only, on no regular schedule.

    ``validation_freq=k`` logs the validation series every k-th epoch; any
    series logged every k-th epoch from the start of the run to its end is
    such a schedule and is fine. A step-logged run is not checked: its
    training and evaluation entries fall on different steps by design.
    """
    if run.granularity != "epoch" or len(run) < 2:
        return []
    groups: dict[bytes, list[str]] = {}
    for name, mask in run.logged.items():
        if name == LEARNING_RATE:
            continue  # a setting, often logged once or when it changes, not a measurement
        if mask.all() or not mask.any() or _regular(run.epochs, mask):
            continue
        if mask[:-1].all():
            # Only the last epoch lacks it: a run stopped inside its last epoch, or a
            # final row of other values (Lightning's test metrics) making an epoch of its own.
            continue
        groups.setdefault(mask.tobytes(), []).append(name)
    out = []
    n = len(run)
    for names in groups.values():
        mask = run.logged[names[0]]
        where = run.epochs[mask]
        m = len(where)
        they = "it" if len(names) == 1 else "them"
        listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        message = (
            f"{listed} {'was' if len(names) == 1 else 'were'} logged on {m} of {n} epochs "
            f"({_epoch_list(where)}), on no regular validation_freq schedule: a metric added or "
            f"dropped mid-run, a callback that failed on some epochs, or rows lost. Whatever is "
            f"judged from {they} sees only those epochs.")
        out.append(RunWarning("partly_logged", message,
                              (float(where[0]), float(where[-1])),
                              {"series": names, "logged": m, "epochs": n}))
    return out


def _regular(epochs: np.ndarray, mask: np.ndarray) -> bool:
    """True when the logged epochs are every k-th epoch (k >= 2) from the start to the end.

    Keras' ``validation_freq=k`` logs epochs k, 2k, ... (Lightning's
    ``check_val_every_n_epoch`` the same); another logger may start at the
    first epoch. Either way the first logged epoch is within k of the start
    and the last within k of the end.
    """
    where = epochs[mask]
    first, last = float(epochs[0]), float(epochs[-1])
    if len(where) == 1:
        k = float(where[0]) - first + 1
    else:
        steps = np.diff(where)
        k = float(steps[0])
        if not np.allclose(steps, k):
            return False
    return k >= 2 and where[0] - first < k and last - where[-1] < k


def _epoch_list(epochs: np.ndarray, limit: int = 6) -> str:
    """``epochs 1-5, 12, 30``: stretches of consecutive epochs joined, at most ``limit`` parts."""
    parts: list[str] = []
    start = prev = None
    for e in (float(v) for v in epochs):
        if prev is not None and math.isclose(e, prev + 1):
            prev = e
            continue
        if start is not None:
            parts.append(f"{start:g}" if start == prev else f"{start:g}-{prev:g}")
        start = prev = e
    if start is not None:
        parts.append(f"{start:g}" if start == prev else f"{start:g}-{prev:g}")
    shown = ", ".join(parts[:limit]) + (", ..." if len(parts) > limit else "")
    return ("epoch " if len(epochs) == 1 else "epochs ") + shown


def _times(ratio: float) -> str:
    """4.2, 37 or 21,400: never 2.14e+04."""
    return f"{ratio:.2g}" if ratio < 10 else f"{ratio:,.0f}" if ratio < 1e6 else f"{ratio:.2g}"
