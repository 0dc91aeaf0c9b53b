"""Fixes sized to the run: what to change, by how much, and the code to paste.

Each fix is computed from the run's own numbers: learning-rate changes from
the logged learning rate when there is one (else as factors), an
``EarlyStopping`` call whose patience comes from the run's own noise and is
replayed on this very run, and "train longer" with the gain the fitted curve
projects.

A fix is *automatic* when its ``params`` are a complete change to the
optimizer or to ``fit()``'s arguments (:func:`diagnose.keras.apply_fixes`
applies those); docs/fixes.md documents the ``params`` of every action. The
learning-rate factors were sized by ``scripts/size_lr.py`` on the corpus's
calibration families and their cure rates measured by ``benchmarks/fixes.py``
on the held-out families.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .features import Curve, Features
from .report import Finding, Fix, count
from .rules.base import epoch_str, fmt

# Patience bounds for the EarlyStopping advice. Below 3, one noisy epoch
# stops a run that was still improving; above 20 the callback saves little.
MIN_PATIENCE, MAX_PATIENCE = 3, 20

# Learning-rate sizes (scripts/size_lr.py, calibration families); each change
# is worth trying from 1/LR_SPREAD to LR_SPREAD times its size. A rate that
# blew the loss up (NaN, divergence, a collapse to chance) is far above the
# largest stable rate, not just above it: one tenth cured few such runs.
LOWER_BLOWUP = 1 / 300
# Spikes and oscillation on a loss that still came down: nearer the edge.
LOWER_UNSTABLE = 1 / 100
LR_SPREAD = 3.0
# Regularization that holds a model below what it can learn: L2 strengths
# span orders of magnitude (1e-5 to 1e-2 in common use), so a tenfold cut;
# dropout is bounded, so half. A layer of one or two units cannot be helped
# by doubling: at least MIN_UNITS. Both checked with benchmarks/fixes.py
# --split calibration (31 underfitting runs: worse 2 -> 0, better 25 -> 28).
L2_CUT = 0.1
MIN_UNITS = 32
# A flat or creeping loss moves in proportion to the rate (a small step's
# loss change is linear in its size), so the rate needed is the run's pace
# scaled up to a workable one: losing RAISE_PACE of its starting level per
# epoch. Clipped to [RAISE_MIN, RAISE_MAX]; a loss that never moved at all
# gets RAISE_MAX.
RAISE_PACE = 0.2
RAISE_MIN, RAISE_MAX = 3.0, 1000.0


@dataclass(frozen=True)
class EarlyStoppingReplay:
    """What ``EarlyStopping(patience=...)`` would have done on this run."""

    patience: int
    stopped_epoch: float | None  # None: it would not have stopped
    best_epoch: float
    best: float
    saved_epochs: int


def longest_wait(curve: Curve) -> int:
    """The longest stretch of logged points without a new best, before the best one."""
    better = np.less if curve.direction == "min" else np.greater
    y = curve.y[: curve.best_index + 1]
    longest = streak = 0
    best = y[0] if len(y) else 0.0
    for value in y[1:]:
        if better(value, best):
            best, streak = value, 0
        else:
            streak += 1
            longest = max(longest, streak)
    return longest


def noise_patience(curve: Curve) -> int:
    """A patience that outlasts the run's own noise.

    The longest stretch without a new best *before* the best epoch is how
    long noise alone kept this curve from improving while it was still
    improving; a patience one longer would not have stopped it there.
    """
    return int(min(max(longest_wait(curve) + 1, MIN_PATIENCE), MAX_PATIENCE))


def replay_early_stopping(curve: Curve, patience: int, min_delta: float = 0.0) -> EarlyStoppingReplay:
    """Replay Keras' EarlyStopping (restore_best_weights=True) on a logged curve."""
    sign = 1.0 if curve.direction == "min" else -1.0
    best, best_i, wait = math.inf, 0, 0
    for i, value in enumerate(curve.y):
        if sign * value < best - min_delta:
            best, best_i, wait = sign * value, i, 0
            continue
        wait += 1
        if wait >= patience and i > 0:
            # Saved epochs, not logged points: with validation_freq=3 or a
            # binned long run, one point stands for several epochs.
            return EarlyStoppingReplay(patience, float(curve.x[i]), float(curve.x[best_i]),
                                       float(curve.y[best_i]),
                                       int(round(curve.x[-1] - curve.x[i])))
    return EarlyStoppingReplay(patience, None, float(curve.x[best_i]), float(curve.y[best_i]), 0)


def epochs_per_point(f: Features) -> int:
    """How many epochs one logged point stands for: 1, or the bin size of a long run.

    Keras' EarlyStopping counts epochs (validated epochs, with
    ``validation_freq``), so a patience found on a run judged in bins of 100
    epochs is 100 times larger in Keras' terms.
    """
    epochs = f.run.epochs
    if f.run.granularity != "epoch" or len(epochs) < 2:
        return 1
    # Bins are equally wide, so the mean spacing is the bin size (1 otherwise).
    return max(1, int(round(float(epochs[-1] - epochs[0]) / (len(epochs) - 1))))


def early_stopping_fix(f: Features, condition: str) -> Fix | None:
    monitor = f.monitor
    if monitor is None or len(monitor) < 4:
        return None
    points = noise_patience(monitor)
    replay = replay_early_stopping(monitor, points)
    patience = points * epochs_per_point(f)
    mode = "min" if monitor.direction == "min" else "max"
    code = (f'keras.callbacks.EarlyStopping(monitor="{monitor.name}", mode="{mode}", '
            f"patience={patience}, restore_best_weights=True)")
    if replay.stopped_epoch is None:
        text = (f"EarlyStopping(patience={patience}) would not have stopped this run; keep it as "
                f"a guard: it keeps the weights of the best epoch ({epoch_str(replay.best_epoch)}, "
                f"{monitor.name} {fmt(replay.best)}).")
    else:
        wait = longest_wait(monitor)
        why = (f"the longest stretch without a new best before epoch "
               f"{epoch_str(monitor.best_epoch)} was {count(wait * epochs_per_point(f), 'epoch')}"
               if wait + 1 >= MIN_PATIENCE else
               f"{MIN_PATIENCE * epochs_per_point(f)} is the least that outlasts a noisy epoch")
        text = (f"Stop at the best epoch: EarlyStopping with patience {patience} ({why}) would "
                f"have stopped at epoch {epoch_str(replay.stopped_epoch)}, kept the weights of "
                f"epoch {epoch_str(replay.best_epoch)} ({monitor.name} {fmt(replay.best)}) and "
                f"saved {count(replay.saved_epochs, 'epoch')}.")
    params = {"monitor": monitor.name, "mode": mode, "patience": patience,
              "restore_best_weights": True, "stopped_epoch": replay.stopped_epoch,
              "best_epoch": replay.best_epoch, "best_value": replay.best,
              "saved_epochs": replay.saved_epochs}
    return Fix("early_stopping", params, text, code, condition, automatic=True)


def still_best_fix(f: Features) -> Fix | None:
    """For a healthy run whose last epoch was its best and that was still falling: more epochs.

    On a run this short (under 6 points) or still materially falling, the
    last epoch being the best says the run ended before it levelled off;
    twice the epochs, guarded by EarlyStopping, costs nothing if it levels
    off sooner.
    """
    monitor = f.monitor
    if monitor is None or monitor.direction != "min" or len(monitor) < 2:
        return None
    if monitor.best_index != len(monitor) - 1 or not (len(monitor) < 6 or monitor.still_falling):
        return None
    last = int(round(f.run.epochs[-1]))
    epochs = 2 * last
    stop = {"monitor": monitor.name, "mode": "min", "patience": 5, "restore_best_weights": True}
    return Fix(
        "train_longer", {"epochs": epochs, "projected": None, "early_stopping": stop},
        f"The last epoch was the best ({monitor.name} {fmt(monitor.last)} at epoch "
        f"{epoch_str(monitor.last_epoch)}): train for {epochs} epochs; EarlyStopping keeps the "
        f"extra ones from costing anything if it levels off sooner.",
        f"model.fit(..., epochs={epochs}, callbacks=[keras.callbacks.EarlyStopping("
        f"monitor=\"{monitor.name}\", patience=5, restore_best_weights=True)])",
        "healthy", automatic=True)


def _lr_change(f: Features, factor: float, spread: float, condition: str, why: str) -> Fix:
    """A learning-rate change by ``factor`` (worth trying from factor/spread to factor*spread),
    in absolute rates when the run's rate is known (and not 0: a warm-up that starts at 0,
    or a schedule that ends there, gives no rate to multiply)."""
    lr = f.learning_rate if f.learning_rate is not None and f.learning_rate > 0 else None
    lower = factor < 1
    action = "lower_learning_rate" if lower else "raise_learning_rate"
    verb = "Lower" if lower else "Raise"
    # Round the "times" a person reads (300 times, try 100-900), then the factors from them.
    times = _round_sig(1 / factor if lower else factor)
    t_low, t_high = _round_sig(times / spread), _round_sig(times * spread)
    factor = _round_sig(1 / times) if lower else times
    low, high = (_round_sig(1 / t_high), _round_sig(1 / t_low)) if lower else (t_low, t_high)
    params: dict = {"factor": factor, "factor_range": [low, high]}
    if lr is not None:
        target = _round_sig(lr * factor)
        lo_lr, hi_lr = _round_sig(lr * low), _round_sig(lr * high)
        params.update({"from": lr, "to": target, "range": [lo_lr, hi_lr]})
        text = f"{verb} the learning rate from {lr:g} to {target:g} (try {lo_lr:g}-{hi_lr:g}): {why}."
        code = (f"optimizer.learning_rate = {target:g}  # {times:g} times "
                f"{'lower' if lower else 'higher'} than this run's")
    else:
        missing = ("The log's learning rate is 0, a rate nothing can be multiplied from"
                   if f.learning_rate is not None else "The log has no learning-rate column")
        text = (f"{verb} the learning rate {times:g} times (try {t_low:g}-{t_high:g} times): {why}. "
                f"{missing}; pass --lr for absolute values.")
        code = f"optimizer.learning_rate = optimizer.learning_rate * {factor:g}"
    return Fix(action, params, text, code, condition, automatic=True)


def raise_factor(f: Features) -> tuple[float, float]:
    """(factor, pace): how many times the rate must grow for a flat or creeping loss.

    ``pace`` is the fraction of its starting level the loss loses per epoch
    (Theil-Sen slope over the whole run). A small step changes the loss in
    proportion to its size, so the rate that loses ``RAISE_PACE`` per epoch is
    ``RAISE_PACE / pace`` times this one, clipped to [RAISE_MIN, RAISE_MAX].
    """
    main = f.main
    if main is None or len(main) < 3 or main.head == 0:
        return RAISE_MAX, 0.0
    pace = -main.slope(0).slope / abs(main.head)
    if not math.isfinite(pace) or pace <= RAISE_PACE / RAISE_MAX:
        return RAISE_MAX, max(pace, 0.0) if math.isfinite(pace) else 0.0
    return float(min(max(RAISE_PACE / pace, RAISE_MIN), RAISE_MAX)), pace


def _round_sig(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


# The lr_too_high findings that mean the loss blew up, in the words a report uses.
BLOWUP_RULES = {
    "loss-nan": "the loss became NaN or infinite",
    "loss-diverging": "the loss diverged",
    "loss-exploded": "the loss exploded in the first epoch",
    "loss-above-chance": "the loss ended worse than guessing",
    "accuracy-collapse": "the accuracy collapsed to chance",
}


# The findings that say the learning-rate schedule, not the base rate, stopped the run.
SCHEDULE_RULES = ("lr-schedule-collapsed", "lr-zero")
# The floor a repaired schedule keeps, as a fraction of its peak (CosineDecay's alpha).
SCHEDULE_FLOOR = 0.1


def schedule_fix(finding: Finding) -> Fix:
    """Fix the schedule's length or floor: a rate that collapsed early needs no other base rate."""
    ev = finding.evidence
    peak = ev.get("learning_rate_peak") or None
    rate = f"{peak:g}" if peak else "initial_rate"
    when = ("was 0 at every logged epoch" if finding.rule == "lr-zero" else
            f"was about zero from epoch {epoch_str(ev['collapse_epoch'])} on")
    return Fix(
        "fix_lr_schedule",
        {"initial_learning_rate": peak, "decay_over": "whole_run", "alpha": SCHEDULE_FLOOR,
         "collapsed_at_epoch": ev["collapse_epoch"]},
        f"Fix the schedule, not the base rate: the rate {when}. Let the decay span the whole run (Keras "
        f"schedules count optimizer steps: decay_steps = epochs x steps per epoch, not epochs) "
        f"and give it a floor ({SCHEDULE_FLOOR:g} of the peak: alpha in CosineDecay, min_lr in "
        f"ReduceLROnPlateau).",
        f"steps = epochs * math.ceil(len(x_train) / batch_size)  # optimizer steps, not epochs\n"
        f"schedule = keras.optimizers.schedules.CosineDecay({rate}, decay_steps=steps, "
        f"alpha={SCHEDULE_FLOOR:g})",
        finding.condition)


def fixes_for(f: Features, conditions: tuple[str, ...], findings: tuple[Finding, ...]) -> list[Fix]:
    """The fixes for the conditions found, most useful first.

    At most one learning-rate change: lowering it for lr_too_high wins over any
    raise, and lr_too_low's sized raise over underfitting's modest one. When
    the schedule collapsed, the schedule is the fix: no raise of the base rate
    and no larger model.
    """
    by_rule = {x.rule: x for x in findings}
    fixes: list[Fix] = []
    schedule = next((by_rule[r] for r in SCHEDULE_RULES if r in by_rule), None)
    if "lr_too_high" in conditions:
        blew_up = [r for r in BLOWUP_RULES if r in by_rule]
        if blew_up:
            fixes.append(_lr_change(f, LOWER_BLOWUP, LR_SPREAD, "lr_too_high",
                                    f"{BLOWUP_RULES[blew_up[0]]}, so the rate is far above the "
                                    "largest stable one, not just above it"))
        else:
            fixes.append(_lr_change(f, LOWER_UNSTABLE, LR_SPREAD, "lr_too_high",
                                    "the loss spikes or oscillates, so each step overshoots"))
        nan = by_rule.get("loss-nan")
        if nan is not None and nan.evidence.get("from_first_epoch"):
            fixes.append(Fix(
                "check_inputs", {"terminate_on_nan": True},
                "The loss is NaN from the first epoch: if a lower rate does not cure it, check "
                "the inputs for NaN/inf and that the loss matches the last layer "
                "(from_logits=True when it has no softmax/sigmoid).",
                "assert np.isfinite(x_train).all() and np.isfinite(y_train).all()\n"
                "callbacks = [keras.callbacks.TerminateOnNaN()]",
                "lr_too_high"))
        # An alternative, not an addition: on top of the rate cut it cured no run and
        # spoiled two (benchmarks/fixes.py, held-out families; clipnorm=1 starves the
        # large gradients of an unscaled regression loss).
        fixes.append(Fix("clip_gradients", {"clipnorm": 1.0,
                                            "alternative_to": "lower_learning_rate"},
                         "Or, to keep the rate (a schedule tuned elsewhere), clip gradients so "
                         "that one bad batch cannot throw the weights out of the valley: "
                         "clipnorm=1.0 on the optimizer.",
                         f"optimizer = keras.optimizers.{f.optimizer or DEFAULT_OPTIMIZER}("
                         f"learning_rate=..., clipnorm=1.0)",
                         "lr_too_high", automatic=True))
    if schedule is not None:
        fixes.append(schedule_fix(schedule))
    if "overfitting" in conditions:
        stop = early_stopping_fix(f, "overfitting")
        if stop is not None:
            fixes.append(stop)
        rising = by_rule.get("val-loss-rising")
        strong = rising is not None and rising.evidence.get("rise", 0) > 0.5
        dropout, l2 = (0.5, 1e-3) if strong else (0.2, 1e-4)
        fixes.append(Fix(
            "add_regularization", {"dropout": dropout, "l2": l2},
            f"Regularize: Dropout({dropout}) after each hidden block or an L2 penalty of {l2:g} "
            f"on the kernels; more training data or augmentation helps the same way.",
            f"keras.layers.Dropout({dropout})\n"
            f"keras.layers.Dense(units, kernel_regularizer=keras.regularizers.L2({l2:g}))",
            "overfitting"))
    if "underfitting" in conditions:
        improving = by_rule.get("still-improving")
        if improving is not None:
            ev = improving.evidence
            epochs = int(ev["projected_epochs"])
            stop = {"monitor": ev["series"], "mode": "min", "patience": 5,
                    "restore_best_weights": True}
            fixes.append(Fix(
                "train_longer", {"epochs": epochs, "projected": ev["projected"],
                                 "early_stopping": stop},
                f"Train longer: at its current pace, slowing as it goes, {ev['series']} would reach "
                f"about {fmt(ev['projected'])} by epoch {epochs} (now {fmt(ev['final'])}); add "
                f"EarlyStopping so the extra epochs cost nothing if it levels off sooner.",
                f"model.fit(..., epochs={epochs}, callbacks=[keras.callbacks.EarlyStopping("
                f"monitor=\"{ev['series']}\", patience=5, restore_best_weights=True)])",
                "underfitting", automatic=True))
        held = by_rule.get("train-below-val")
        if held is not None:
            # Training accuracy below validation's names the cause (dropout or
            # augmentation holds training back): ahead of more epochs.
            fixes.insert(len(fixes) - (improving is not None), Fix(
                "reduce_regularization", {"dropout_factor": 0.5, "l2_factor": L2_CUT},
                f"Regularize less: the training accuracy ({held.evidence['train_accuracy']:.3f}) "
                f"stays {held.evidence['gap']:.2f} below the validation accuracy; halve the "
                f"dropout rates (or the augmentation) and cut L2 penalties tenfold, then train "
                f"again.",
                "keras.layers.Dropout(rate / 2)  # for each Dropout layer\n"
                "kernel_regularizer=keras.regularizers.L2(l2 / 10)  # for each L2 penalty",
                "underfitting"))
        if ("stuck-at-chance" in by_rule or "plateau-high" in by_rule) and schedule is None:
            # No automatic rate raise here: 2-3x on a run held down by a heavy L2
            # penalty made it unstable (4 of 14 held-out runs worse, none cured).
            fixes.append(Fix(
                "increase_capacity", {"width_factor": 2, "min_units": MIN_UNITS,
                                      "dropout_factor": 0.5, "l2_factor": L2_CUT},
                f"Give the model more capacity (twice the units per layer and at least "
                f"{MIN_UNITS}, or one more layer), halve the dropout and cut L2 penalties "
                f"tenfold; if the accuracy is frozen, check that the labels match the inputs and "
                f"that the output layer and loss fit the task.",
                f"keras.layers.Dense(max(2 * units, {MIN_UNITS}), activation=\"relu\")  "
                f"# wider hidden layers",
                "underfitting"))
    if "lr_too_low" in conditions and schedule is None:
        still = by_rule.get("loss-never-moves")
        factor, pace = raise_factor(f)
        if still is not None or pace == 0.0:
            why = "the loss never moved, so each step is orders of magnitude too small"
        else:
            why = (f"the loss loses {pace:.2%} of its starting level per epoch; a step "
                   f"{_round_sig(factor):g} times larger would lose about {RAISE_PACE:.0%}")
        fixes.append(_lr_change(f, factor, LR_SPREAD, "lr_too_low", why))
        if still is not None and still.evidence.get("learning_rate") is None:
            # Without the rate, a flat log cannot tell a tiny step from a model
            # that cannot learn: name both.
            fixes.append(Fix(
                "check_model_can_learn", {},
                "The loss never moved and the log has no learning rate: if a larger rate does "
                "not help, check that the model can learn at all. Train it briefly on a few "
                "dozen examples: a healthy model drives their loss near zero; if it cannot, look "
                "for frozen layers (trainable=False), dead units, or labels that do not match "
                "the inputs.",
                "model.fit(x_train[:32], y_train[:32], epochs=50, verbose=0)\n"
                "print(model.evaluate(x_train[:32], y_train[:32]))  # should be near zero",
                "lr_too_low"))
        fixes.append(range_test_fix("lr_too_low", f.optimizer))
    return fixes


def range_test_fix(condition: str, optimizer: str | None = None) -> Fix:
    """The learning-rate range test: the fastest way to find the rate when one run cannot.

    ``optimizer``: the run's optimizer class in ``keras.optimizers``, when known;
    the probe is compiled with it instead of Adam.
    """
    code = LR_RANGE_TEST_CODE if optimizer is None else _LR_RANGE_TEST.format(
        optimizer=optimizer, comment="this run's optimizer class")
    return Fix(
        "lr_range_test", {"start": 1e-7, "stop": 10.0, "steps": 200},
        "To find the rate directly, run a learning-rate range test on a copy of the model: 200 "
        "batches with the rate growing from 1e-7 to 10, then take a rate 10 times below the one "
        "where the loss was lowest.",
        code, condition)


# The optimizer code snippets build when the run's own is not known (a log does not say).
DEFAULT_OPTIMIZER = "Adam"

_LR_RANGE_TEST = """\
import numpy as np
probe = keras.models.clone_model(model)  # same architecture, fresh weights
probe.compile(optimizer=keras.optimizers.{optimizer}(), loss=model.loss)  # {comment}
steps, rates, raw, losses = 200, np.geomspace(1e-7, 10.0, 200), [], []
def ramp(batch, logs):
    probe.optimizer.learning_rate.assign(rates[batch])
def record(batch, logs):  # Keras logs the epoch's running mean: recover each batch's loss
    raw.append((batch + 1) * logs["loss"] - sum(raw))
    losses.append(0.9 * losses[-1] + 0.1 * raw[-1] if losses else raw[-1])  # smoothed
    if not np.isfinite(losses[-1]) or losses[-1] > 4 * min(losses):
        probe.stop_training = True
probe.fit(x_train, y_train, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[
    keras.callbacks.LambdaCallback(on_train_batch_begin=ramp, on_train_batch_end=record)])
print("learning rate:", rates[int(np.argmin(losses))] / 10)"""
LR_RANGE_TEST_CODE = _LR_RANGE_TEST.format(optimizer=DEFAULT_OPTIMIZER, comment="or your optimizer")
