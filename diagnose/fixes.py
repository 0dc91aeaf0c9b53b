"""Fixes sized to the run: what to change, by how much, and the code to paste.

Each fix is computed from the run's own numbers: learning-rate changes from
the logged learning rate when there is one (else as factors), an
``EarlyStopping`` call whose patience comes from the run's own noise and is
replayed on this very run, and "train longer" with the gain the fitted curve
projects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .features import Curve, Features
from .report import Finding, Fix
from .rules.base import epoch_str, fmt

# Patience bounds for the EarlyStopping advice. Below 3, one noisy epoch
# stops a run that was still improving; above 20 the callback saves little.
MIN_PATIENCE, MAX_PATIENCE = 3, 20


@dataclass(frozen=True)
class EarlyStoppingReplay:
    """What ``EarlyStopping(patience=...)`` would have done on this run."""

    patience: int
    stopped_epoch: float | None  # None: it would not have stopped
    best_epoch: float
    best: float
    saved_epochs: int


def noise_patience(curve: Curve) -> int:
    """A patience that outlasts the run's own noise.

    The longest stretch without a new best *before* the best epoch is how
    long noise alone kept this curve from improving while it was still
    improving; a patience one longer would not have stopped it there.
    """
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
    return int(min(max(longest + 1, MIN_PATIENCE), MAX_PATIENCE))


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
        text = (f"Stop at the best epoch: EarlyStopping with patience {patience} (the longest "
                f"stretch without a new best before epoch {epoch_str(monitor.best_epoch)} was "
                f"{patience - epochs_per_point(f)}) would have stopped at epoch "
                f"{epoch_str(replay.stopped_epoch)}, "
                f"kept the weights of epoch {epoch_str(replay.best_epoch)} ({monitor.name} "
                f"{fmt(replay.best)}) and saved {replay.saved_epochs} epochs.")
    params = {"monitor": monitor.name, "mode": mode, "patience": patience,
              "restore_best_weights": True, "stopped_epoch": replay.stopped_epoch,
              "best_epoch": replay.best_epoch, "best_value": replay.best,
              "saved_epochs": replay.saved_epochs}
    return Fix("early_stopping", params, text, code, condition)


def _lr_change(f: Features, low: float, high: float, verb: str, condition: str, why: str) -> Fix:
    """A learning-rate change by a factor in [low, high], absolute when the rate is known."""
    lr = f.learning_rate
    action = "lower_learning_rate" if high < 1 else "raise_learning_rate"
    factor = math.sqrt(low * high)  # the middle of the range on a log scale
    params: dict = {"factor": _round_sig(factor), "factor_range": [low, high]}
    if lr is not None:
        lo_lr, hi_lr = sorted((_round_sig(lr * low), _round_sig(lr * high)))
        target = _round_sig(lr * factor)
        params.update({"from": lr, "to": target, "range": [lo_lr, hi_lr]})
        text = f"{verb} the learning rate from {lr:g} to {lo_lr:g}-{hi_lr:g} ({why})."
        code = f"optimizer = keras.optimizers.Adam(learning_rate={target:g})  # or your optimizer"
    else:
        span = f"{1 / high:g}-{1 / low:g}x" if high < 1 else f"{low:g}-{high:g}x"
        text = (f"{verb} the learning rate {span} ({why}); the log has no learning-rate "
                f"column, so pass --lr to get absolute values.")
        code = (f"optimizer.learning_rate = optimizer.learning_rate * {_round_sig(factor):g}"
                f"  # set before model.compile")
    return Fix(action, params, text, code, condition)


def _round_sig(x: float, digits: int = 2) -> float:
    return float(f"{x:.{digits}g}")


def fixes_for(f: Features, conditions: tuple[str, ...], findings: tuple[Finding, ...]) -> list[Fix]:
    """The fixes for the conditions found, most useful first."""
    by_rule = {x.rule: x for x in findings}
    fixes: list[Fix] = []
    if "lr_too_high" in conditions:
        hard = "loss-nan" in by_rule or "loss-diverging" in by_rule
        nan = by_rule.get("loss-nan")
        if nan is not None and nan.evidence.get("from_first_epoch"):
            fixes.append(Fix(
                "check_inputs", {"terminate_on_nan": True},
                "The loss is NaN from the first epoch: check the inputs for NaN/inf and that the "
                "loss matches the last layer (from_logits=True when it has no softmax/sigmoid).",
                "assert np.isfinite(x_train).all() and np.isfinite(y_train).all()\n"
                "callbacks = [keras.callbacks.TerminateOnNaN()]",
                "lr_too_high"))
        if hard:
            fixes.append(_lr_change(f, 0.1, 0.1 ** 0.5, "Lower", "lr_too_high",
                                    "the loss blew up; 3-10x lower is the usual cure"))
        else:
            fixes.append(_lr_change(f, 0.3, 0.5, "Lower", "lr_too_high",
                                    "spikes and oscillation need a smaller step, not a tiny one"))
        fixes.append(Fix("clip_gradients", {"clipnorm": 1.0},
                         "Clip gradients so that one bad batch cannot throw the weights out of "
                         "the valley: clipnorm=1.0 on the optimizer.",
                         "optimizer = keras.optimizers.Adam(learning_rate=..., clipnorm=1.0)",
                         "lr_too_high"))
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
            fixes.append(Fix(
                "train_longer", {"epochs": epochs, "projected": ev["projected"]},
                f"Train longer: at its current pace, slowing as it goes, {ev['series']} would reach "
                f"about {fmt(ev['projected'])} by epoch {epochs} (now {fmt(ev['final'])}); add "
                f"EarlyStopping so the extra epochs cost nothing if it levels off sooner.",
                f"model.fit(..., epochs={epochs}, callbacks=[keras.callbacks.EarlyStopping("
                f"monitor=\"{ev['series']}\", patience=5, restore_best_weights=True)])",
                "underfitting"))
        held = by_rule.get("train-below-val")
        if held is not None:
            fixes.append(Fix(
                "reduce_regularization", {"dropout_factor": 0.5},
                f"Regularize less: the training accuracy ({held.evidence['train_accuracy']:.3f}) "
                f"stays {held.evidence['gap']:.2f} below the validation accuracy; halve the "
                f"dropout rates (or the augmentation) and train again.",
                "keras.layers.Dropout(rate / 2)  # for each Dropout layer",
                "underfitting"))
        if "stuck-at-chance" in by_rule or "plateau-high" in by_rule:
            fixes.append(Fix(
                "increase_capacity", {"width_factor": 2},
                "Give the model more capacity (twice the units per layer, or one more layer) and "
                "less regularization; if the accuracy is frozen, check that the labels match the "
                "inputs and that the output layer and loss fit the task.",
                "keras.layers.Dense(2 * units, activation=\"relu\")  # wider hidden layers",
                "underfitting"))
            fixes.append(_lr_change(f, 2.0, 3.0, "Raise", "underfitting",
                                    "a stuck model sometimes only needs larger steps"))
    if "lr_too_low" in conditions:
        still = by_rule.get("loss-never-moves")
        if still is not None and still.evidence.get("learning_rate") is None:
            # Without the rate, a flat log cannot tell a tiny step from a model
            # that cannot learn: name both, the cheaper check first.
            fixes.append(Fix(
                "check_model_can_learn", {},
                "The loss never moved and the log has no learning rate: first check that the "
                "model can learn at all. Train it briefly on a few dozen examples: a healthy "
                "model drives their loss near zero; if it cannot, look for frozen layers "
                "(trainable=False), dead units, or labels that do not match the inputs.",
                "model.fit(x_train[:32], y_train[:32], epochs=50, verbose=0)\n"
                "print(model.evaluate(x_train[:32], y_train[:32]))  # should be near zero",
                "lr_too_low"))
        flat = by_rule.get("loss-flat")
        nearly_flat = still is not None or (flat is not None and flat.evidence.get("progress", 1) < 0.2)
        low, high = (3.0, 10.0) if nearly_flat else (2.0, 3.0)
        why = ("the loss never moved: each step is far too small" if still is not None
               else "the curve never bends: each step is too small")
        fixes.append(_lr_change(f, low, high, "Raise", "lr_too_low", why))
        fixes.append(Fix(
            "lr_range_test", {"start": 1e-6, "stop": 1.0, "epochs": 1},
            "Or run a learning-rate range test: one epoch with the rate growing from 1e-6 to 1, "
            "then pick a rate ~10x below where the loss starts to climb.",
            "steps = len(train_dataset)  # batches in one epoch\n"
            "ramp = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: "
            "model.optimizer.learning_rate.assign(1e-6 * 1e6 ** (batch / steps)))\n"
            "model.fit(train_dataset, epochs=1, callbacks=[ramp])  # then plot loss against rate",
            "lr_too_low"))
    return fixes
