"""apply_fixes: apply a report's automatic fixes to a compiled model and to fit()'s arguments.

A fix whose ``automatic`` is True carries in ``params`` a complete change to
the optimizer (learning rate, gradient clipping) or to ``fit()``'s arguments
(callbacks, epochs, batch size), so a program can make it::

    report = diagnose(history)
    fit_kwargs, applied, manual = apply_fixes(report, model, epochs=50, callbacks=[...])
    model.fit(x, y, **fit_kwargs)

The model's architecture is never touched; its optimizer is changed in place;
the caller's arguments are copied, never changed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras

from ..report import Fix, Report
from . import optimizer as optimizers
from .monitor import MODES

# What a fix sets, as the change texts name it. The first fix of a report to
# set one wins; a later fix that would set it again is skipped.
LEARNING_RATE = "the learning rate"
CLIPPING = "gradient clipping"
EARLY_STOPPING = "early stopping"
EPOCHS = "the number of epochs"
PLATEAU = "ReduceLROnPlateau"
BATCH_SIZE = "the batch size"

KERAS_DEFAULT_EPOCHS = 1
KERAS_DEFAULT_BATCH_SIZE = 32

_Schedule = keras.optimizers.schedules.LearningRateSchedule


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_fixes` did with one automatic fix.

    Attributes:
        fix: the fix.
        change: one sentence with the numbers: what was changed
            (``"Learning rate 0.1 -> 0.001 (x0.01)."``) or, when ``skipped``,
            why nothing was (``"Not applied: ..."``).
        skipped: True when the fix changed nothing: what it sets was already
            set by an earlier fix of the report (the first one wins), or the
            setup has it already or rules it out (gradients the optimizer
            already clips, at least as many epochs, a ``ReduceLROnPlateau``
            over a learning-rate schedule).
    """

    fix: Fix
    change: str
    skipped: bool = False


@keras.saving.register_keras_serializable(package="diagnose")
class ScaledSchedule(_Schedule):
    """A learning-rate schedule times a constant: ``factor * schedule(step)``.

    :func:`apply_fixes` puts it in place of an optimizer's schedule to scale
    the rate, as Keras refuses a float there. A model whose optimizer uses it
    saves and loads like any other; importing ``diagnose.keras`` registers it
    for ``keras.saving.load_model``.

    Args:
        schedule: the schedule to scale.
        factor: the multiplier.

    Example:
        >>> import keras
        >>> decay = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
        >>> round(float(ScaledSchedule(decay, 0.5)(10)), 6)
        0.025
    """

    def __init__(self, schedule: _Schedule, factor: float):
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.factor * self.schedule(step)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "factor": self.factor}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledSchedule:
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["factor"])


class _Skip(Exception):
    """The fix changes nothing; the message says why."""


class _Action(NamedTuple):
    parse: Callable[[Mapping, str], dict[str, Any]]  # params, where -> the method's arguments
    method: str  # the _Fixer method that applies it
    needs: str | None  # "optimizer", "rate" (an optimizer whose rate can be scaled) or None


def apply_fixes(report: Report | Mapping[str, Any], model: keras.Model,
                **fit_kwargs: Any) -> tuple[dict[str, Any], list[Applied], list[Fix]]:
    """Apply a report's automatic fixes to ``model``'s optimizer and to ``fit()``'s arguments.

    Every fix whose ``automatic`` is True is applied, in report order:

    - ``lower_learning_rate`` / ``raise_learning_rate``: the optimizer's
      current rate times ``params["factor"]``. A rate that is a
      ``LearningRateSchedule`` is wrapped in :class:`ScaledSchedule`; a
      ``LearningRateScheduler`` in ``callbacks`` is replaced by one whose
      rates are scaled the same way (it would set the old rate back each
      epoch). ``ReduceLROnPlateau`` needs nothing: it scales the current rate.
    - ``clip_gradients``: ``clipnorm`` on the optimizer, unless it already
      has ``clipnorm``, ``global_clipnorm`` or ``clipvalue`` (then the user's
      setting is kept and the fix is skipped).
    - ``early_stopping``: an ``EarlyStopping`` in ``callbacks``, replacing
      any there.
    - ``train_longer``: ``epochs`` raised to ``params["epochs"]`` (never
      lowered), and its ``EarlyStopping`` added when ``callbacks`` has none.
    - ``reduce_lr_on_plateau``: a ``ReduceLROnPlateau`` in ``callbacks``,
      replacing any there; skipped over a learning-rate schedule, which it
      cannot set.
    - ``batch_size``: ``fit_kwargs["batch_size"]``. It takes effect for
      array inputs only: Keras ignores ``batch_size`` for a
      ``tf.data.Dataset`` or a ``PyDataset``, which batch themselves (the fix
      is skipped when such an ``x`` is in ``fit_kwargs``).

    When a later fix would set what an earlier one set (the learning rate,
    clipping, early stopping, the epochs, the batch size), the first one wins
    and the later one is recorded with ``skipped=True``; so is a fix whose
    ``params["alternative_to"]`` names an action already applied (clipping
    is the alternative to lowering the rate, for a rate you keep). Automatic fixes of an
    action this version does not know (``warmup``, or one from a newer
    version) are returned in ``manual``, like the fixes that are not automatic.

    The model's architecture is never changed. Its optimizer is changed in
    place, and its traced train step dropped so that the next ``fit()``
    traces one with the new settings; call it once per report, as every call
    scales the rate again. ``fit_kwargs`` and its ``callbacks`` list are
    copied, never changed. All parameters are checked before anything is
    changed, so an error leaves the model as it was.

    Args:
        report: a :class:`~diagnose.report.Report`, or its ``to_dict()``
            (read back from JSON; a fix without ``"automatic"``, from a
            version before it existed, is not applied).
        model: the Keras model to train; it must be compiled when a fix
            changes the optimizer (the learning rate, clipping).
        **fit_kwargs: the arguments you would pass to ``model.fit`` besides
            the data (``epochs``, ``callbacks``, ``batch_size``, ...).

    Returns:
        ``(fit_kwargs, applied, manual)``: the arguments for ``model.fit``
        with the fixes in them; an :class:`Applied` per automatic fix, in
        report order, saying what it changed or why it was skipped; and the
        fixes left to you (not automatic, or of an unknown action), in report
        order.

    Raises:
        ValueError: the model is not compiled, or its optimizer cannot be
            changed (one optimizer per part of the model, a learning rate that
            is a plain function), or a fix's params are not what its action
            needs, or ``report`` holds no fixes.
        TypeError: ``report`` is not a report, ``model`` not a Keras model,
            ``callbacks`` not a list, or ``epochs`` not an int.

    Example:
        >>> import keras
        >>> from diagnose.report import Fix, Report
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        >>> fix = Fix("lower_learning_rate", {"factor": 0.3}, "", "", "lr_too_high", True)
        >>> kwargs, applied, manual = apply_fixes(Report("run", ("lr_too_high",), fixes=(fix,)),
        ...                                       model, epochs=20)
        >>> applied[0].change, kwargs
        ('Learning rate 0.1 -> 0.03 (x0.3).', {'epochs': 20})
    """
    fixes = _fixes_of(report)
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    fixer = _Fixer(model, fit_kwargs)
    steps, manual = [], []
    for i, fix in enumerate(fixes):
        action = _ACTIONS.get(fix.action) if fix.automatic else None
        if action is None:
            manual.append(fix)
            continue
        steps.append((fix, action, action.parse(fix.params, f"fix {i + 1} ({fix.action})")))
    for fix, action, _ in steps:
        if action.needs is not None:
            _check_optimizer(model, fix, action.needs)
    applied = [fixer.apply(fix, action.method, args) for fix, action, args in steps]
    return fixer.fit_kwargs(), applied, manual


class _Fixer:
    """The copied fit() arguments and the model, as the fixes change them."""

    def __init__(self, model: keras.Model, fit_kwargs: dict[str, Any]):
        callbacks = fit_kwargs.get("callbacks")
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of Keras callbacks, got "
                            f"{type(callbacks).__name__}")
        epochs = fit_kwargs.get("epochs")
        if epochs is not None and (isinstance(epochs, bool)
                                   or not isinstance(epochs, numbers.Integral)):
            raise TypeError(f"epochs must be an int, got {epochs!r}")
        self.model = model
        self.kwargs = fit_kwargs  # apply_fixes' own dict: ** made it
        self.callbacks = list(callbacks or ())
        self.claimed: dict[str, Fix] = {}  # what is set -> the fix that set it
        self.done: set[str] = set()  # the actions applied so far

    def apply(self, fix: Fix, method: str, args: dict[str, Any]) -> Applied:
        try:
            instead = fix.params.get("alternative_to")
            if instead in self.done:
                raise _Skip(f"it is the alternative to the {instead} fix, which was applied")
            applied = Applied(fix, getattr(self, method)(fix, **args))
        except _Skip as skip:
            return Applied(fix, f"Not applied: {skip}.", skipped=True)
        self.done.add(fix.action)
        return applied

    def fit_kwargs(self) -> dict[str, Any]:
        if self.callbacks or "callbacks" in self.kwargs:
            self.kwargs["callbacks"] = self.callbacks
        return self.kwargs

    # --- the actions: each returns the change, or raises _Skip --------------
    def scale_learning_rate(self, fix: Fix, factor: float, logged: float | None) -> str:
        self._check_free(LEARNING_RATE)
        optimizer = _inner(self.model.optimizer)
        rate = optimizer._learning_rate  # the schedule itself: .learning_rate evaluates it
        if isinstance(rate, _Schedule):
            step = int(optimizer.iterations.numpy())
            now = optimizers.learning_rate(optimizer)  # the schedule's value at this step
            original = rate.schedule if isinstance(rate, ScaledSchedule) else rate
            total = rate.factor * factor if isinstance(rate, ScaledSchedule) else factor
            optimizer.learning_rate = ScaledSchedule(original, total)
            self._retrace()
            change = (f"Learning-rate schedule {type(original).__name__} scaled by {factor:g} "
                      f"({now:g} -> {now * factor:g} at step {step})")
        else:
            now = optimizers.learning_rate(optimizer)
            optimizer.learning_rate = now * factor
            change = f"Learning rate {now:g} -> {now * factor:g} (x{factor:g})"
            if logged is not None and not math.isclose(logged, now, rel_tol=1e-3):
                change += (f"; the diagnosed run logged {logged:g}, the factor scales the "
                           f"model's own rate")
        schedulers = [i for i, c in enumerate(self.callbacks)
                      if isinstance(c, keras.callbacks.LearningRateScheduler)]
        for i in schedulers:
            self.callbacks[i] = _scaled_scheduler(self.callbacks[i], factor)
        if schedulers:
            change += (f", and the LearningRateScheduler in callbacks scaled by {factor:g}, "
                       f"as it would set the old rate back at each epoch")
        self.claimed[LEARNING_RATE] = fix
        return change + "."

    def clip_gradients(self, fix: Fix, clipnorm: float) -> str:
        self._check_free(CLIPPING)
        optimizer = _inner(self.model.optimizer)
        for name in ("clipnorm", "global_clipnorm", "clipvalue"):
            value = getattr(optimizer, name, None)
            if value:  # Keras clips only with a setting above 0
                raise _Skip(f"the optimizer already clips gradients ({name}={value:g}), and "
                            f"that setting is kept")
        optimizer.clipnorm = clipnorm
        self._retrace()
        self.claimed[CLIPPING] = fix
        return (f"Gradients clipped: clipnorm={clipnorm!r} on the optimizer, so no weight's "
                f"gradient has a norm above {clipnorm:g}.")

    def early_stopping(self, fix: Fix, **stop: Any) -> str:
        self._check_free(EARLY_STOPPING)
        replaced = self._put(keras.callbacks.EarlyStopping(**stop))
        self.claimed[EARLY_STOPPING] = fix
        call = _call("EarlyStopping", stop)
        if not replaced:
            return f"Added {call} to callbacks."
        patience = ", ".join(str(c.patience) for c in replaced)
        return f"Replaced the EarlyStopping in callbacks (patience {patience}) by {call}."

    def train_longer(self, fix: Fix, epochs: int, stopping: dict[str, Any] | None) -> str:
        done, kept = [], []
        given = self.kwargs.get("epochs")
        if EPOCHS in self.claimed:
            kept.append(self._taken(EPOCHS))
        elif given is not None and given >= epochs:
            kept.append(f"epochs={given} already reaches the {epochs} it asks for")
        else:
            before = f"{given}" if given is not None else f"{KERAS_DEFAULT_EPOCHS} (Keras' default)"
            self.kwargs["epochs"] = epochs
            self.claimed[EPOCHS] = fix
            done.append(f"epochs {before} -> {epochs}")
        if stopping is not None:
            present = [c for c in self.callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
            if present:
                kept.append(f"the EarlyStopping already in callbacks (patience "
                            f"{present[0].patience}) is kept")
            else:
                self.callbacks.append(keras.callbacks.EarlyStopping(**stopping))
                self.claimed[EARLY_STOPPING] = fix
                done.append(f"added {_call('EarlyStopping', stopping)} to callbacks")
        if not done:
            raise _Skip(" and ".join(kept))
        change = " and ".join(done)
        if kept:
            change += "; " + " and ".join(kept)
        return change[0].upper() + change[1:] + "."

    def reduce_lr_on_plateau(self, fix: Fix, **plateau: Any) -> str:
        self._check_free(PLATEAU)
        optimizer = getattr(self.model, "optimizer", None)
        rate = getattr(_inner(optimizer), "_learning_rate", None)
        if isinstance(rate, _Schedule):
            raise _Skip(f"the optimizer's learning rate is a schedule ({type(rate).__name__}), "
                        f"which ReduceLROnPlateau cannot set (Keras raises TypeError at the "
                        f"first plateau)")
        replaced = self._put(keras.callbacks.ReduceLROnPlateau(**plateau))
        self.claimed[PLATEAU] = fix
        call = _call("ReduceLROnPlateau", plateau)
        return (f"Replaced the ReduceLROnPlateau in callbacks by {call}." if replaced
                else f"Added {call} to callbacks.")

    def batch_size(self, fix: Fix, batch_size: int) -> str:
        self._check_free(BATCH_SIZE)
        x = self.kwargs.get("x")
        if x is not None and not hasattr(x, "shape") and not isinstance(x, (list, tuple, dict)):
            raise _Skip(f"x is a {type(x).__name__}, which brings its own batches (Keras "
                        f"ignores batch_size for it); batch it by {batch_size} yourself")
        given = self.kwargs.get("batch_size")
        if given == batch_size:
            raise _Skip(f"batch_size is {batch_size} already")
        before = f"{given}" if given is not None else f"{KERAS_DEFAULT_BATCH_SIZE} (Keras' default)"
        self.kwargs["batch_size"] = batch_size
        self.claimed[BATCH_SIZE] = fix
        return f"batch_size {before} -> {batch_size}."

    # --- helpers ----------------------------------------------------------------
    def _retrace(self) -> None:
        """Drop the traced train step: it holds the optimizer's settings from when it was traced.

        The next fit() traces a new one (a learning rate that is a variable
        needs none of this: the traced step reads the variable).
        """
        self.model.train_function = None

    def _check_free(self, target: str) -> None:
        if target in self.claimed:
            raise _Skip(self._taken(target))

    def _taken(self, target: str) -> str:
        return f"{target} was already set by the {self.claimed[target].action} fix"

    def _put(self, callback: keras.callbacks.Callback) -> list[keras.callbacks.Callback]:
        """Put ``callback`` in the place of those of its class (or last); the ones it replaced."""
        kind = type(callback)
        replaced = [c for c in self.callbacks if isinstance(c, kind)]
        if not replaced:
            self.callbacks.append(callback)
            return []
        at = self.callbacks.index(replaced[0])
        self.callbacks[at] = callback
        self.callbacks[:] = [c for c in self.callbacks if not isinstance(c, kind) or c is callback]
        return replaced


# --- reading the report ---------------------------------------------------------

def _fixes_of(report: Report | Mapping[str, Any]) -> list[Fix]:
    if isinstance(report, Report):
        return list(report.fixes)
    if not isinstance(report, Mapping):
        raise TypeError(f"report must be a diagnose Report or its to_dict(), got "
                        f"{type(report).__name__}")
    fixes = report.get("fixes")
    if not isinstance(fixes, (list, tuple)):
        keys = ", ".join(map(str, report))
        raise ValueError(f"the report dict has no 'fixes' list (keys: {keys}): pass a Report or "
                         f"Report.to_dict()")
    return [_fix_of(d, i) for i, d in enumerate(fixes)]


def _fix_of(d: Any, i: int) -> Fix:
    if not isinstance(d, Mapping) or not isinstance(d.get("action"), str):
        raise ValueError(f"fixes[{i}] of the report is not a fix (a dict with an 'action'): "
                         f"{d!r:.80}")
    return Fix(d["action"], d.get("params") or {}, d.get("text", ""), d.get("code", ""),
               d.get("condition", ""), d.get("automatic") is True)


# --- reading params: a bad one names the fix and the key ------------------------

def _get(params: Mapping, key: str, where: str) -> Any:
    if not isinstance(params, Mapping):
        raise ValueError(f"{where}: params must be a dict, got {type(params).__name__}")
    if key not in params:
        raise ValueError(f"{where}: params has no {key!r} (it has: {', '.join(map(str, params))})")
    return params[key]


def _number(params: Mapping, key: str, where: str, ok: Callable[[float], bool] = lambda v: v > 0,
            what: str = "a positive number") -> float:
    value = _get(params, key, where)
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not ok(value)):
        raise ValueError(f"{where}: {key} must be {what}, got {value!r}")
    return float(value)


def _count(params: Mapping, key: str, where: str, minimum: int) -> int:
    value = _get(params, key, where)
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not float(value).is_integer() or value < minimum):
        raise ValueError(f"{where}: {key} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _text(params: Mapping, key: str, where: str, choices: tuple[str, ...] | None = None) -> str:
    value = _get(params, key, where)
    if not isinstance(value, str) or not value or (choices and value not in choices):
        what = f"one of {choices}" if choices else "a non-empty string"
        raise ValueError(f"{where}: {key} must be {what}, got {value!r}")
    return value


def _flag(params: Mapping, key: str, where: str) -> bool:
    value = _get(params, key, where)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _rate_args(params: Mapping, where: str) -> dict[str, Any]:
    logged = params.get("from") if isinstance(params, Mapping) else None
    usable = (isinstance(logged, numbers.Real) and not isinstance(logged, bool)
              and math.isfinite(logged) and logged > 0)
    return {"factor": _number(params, "factor", where), "logged": float(logged) if usable else None}


def _clip_args(params: Mapping, where: str) -> dict[str, Any]:
    return {"clipnorm": _number(params, "clipnorm", where)}


def _stopping_args(params: Mapping, where: str) -> dict[str, Any]:
    return {"monitor": _text(params, "monitor", where),
            "mode": _text(params, "mode", where, MODES),
            "patience": _count(params, "patience", where, 0),
            "restore_best_weights": _flag(params, "restore_best_weights", where)}


def _longer_args(params: Mapping, where: str) -> dict[str, Any]:
    stopping = _get(params, "early_stopping", where) if "early_stopping" in params else None
    return {"epochs": _count(params, "epochs", where, 1),
            "stopping": (None if stopping is None
                         else _stopping_args(stopping, f"{where}, early_stopping"))}


def _plateau_args(params: Mapping, where: str) -> dict[str, Any]:
    args = {"monitor": _text(params, "monitor", where),
            "factor": _number(params, "factor", where, lambda v: 0 < v < 1,
                              "a number between 0 and 1"),
            "patience": _count(params, "patience", where, 0),
            "min_lr": _number(params, "min_lr", where, lambda v: v >= 0, "a number >= 0")}
    if "mode" in params:
        args["mode"] = _text(params, "mode", where, MODES)
    return args


def _batch_args(params: Mapping, where: str) -> dict[str, Any]:
    return {"batch_size": _count(params, "batch_size", where, 1)}


_ACTIONS = {
    "lower_learning_rate": _Action(_rate_args, "scale_learning_rate", "rate"),
    "raise_learning_rate": _Action(_rate_args, "scale_learning_rate", "rate"),
    "clip_gradients": _Action(_clip_args, "clip_gradients", "optimizer"),
    "early_stopping": _Action(_stopping_args, "early_stopping", None),
    "train_longer": _Action(_longer_args, "train_longer", None),
    "reduce_lr_on_plateau": _Action(_plateau_args, "reduce_lr_on_plateau", None),
    "batch_size": _Action(_batch_args, "batch_size", None),
}


# --- the optimizer ------------------------------------------------------------------

def _check_optimizer(model: keras.Model, fix: Fix, needs: str) -> None:
    """Raise ValueError when ``fix`` cannot change the model's optimizer."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(f"compile the model before apply_fixes: the {fix.action} fix changes "
                         f"the optimizer, and model {model.name!r} has none yet "
                         f"(model.compile(optimizer=..., loss=...))")
    if hasattr(optimizer, "optimizers"):
        raise ValueError(f"the model has one optimizer per part ({type(optimizer).__name__}); "
                         f"which one the {fix.action} fix is for is not apply_fixes' guess: "
                         f"apply it by hand")
    if needs != "rate":
        return
    rate = _inner(optimizer)._learning_rate  # the schedule itself: .learning_rate evaluates it
    if not isinstance(rate, (keras.Variable, _Schedule)):
        raise ValueError(f"the optimizer's learning rate is a {type(rate).__name__}, which the "
                         f"{fix.action} fix cannot scale: build the optimizer with a float or a "
                         f"keras.optimizers.schedules.LearningRateSchedule")


def _inner(optimizer):
    """The optimizer that holds the rate and clips: a LossScaleOptimizer's inner one."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _scaled_scheduler(callback: keras.callbacks.LearningRateScheduler,
                      factor: float) -> keras.callbacks.LearningRateScheduler:
    """A LearningRateScheduler whose rates are ``factor`` times those of ``callback``."""
    schedule = callback.schedule

    def scaled(epoch, lr=None):
        if lr is None:  # Keras' retry for a schedule(epoch) that takes no rate
            return factor * schedule(epoch)
        return factor * schedule(epoch, lr / factor)

    return keras.callbacks.LearningRateScheduler(scaled, verbose=callback.verbose)


def _call(name: str, args: Mapping[str, Any]) -> str:
    """``EarlyStopping(monitor="val_loss", patience=3)``, as the code is written."""
    shown = (f'{k}="{v}"' if isinstance(v, str) else f"{k}={v!r}" for k, v in args.items())
    return f"{name}({', '.join(shown)})"
