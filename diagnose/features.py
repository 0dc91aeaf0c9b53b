"""Curve features of one run: the numbers the rules reason about.

A :class:`Curve` wraps one series (finite points, NaN onset, smoothing,
noise, best epoch, slopes, decay fit), computed lazily so a rule that
needs one slope does not pay for the fit. :class:`Features` picks the
series a diagnosis is about (main training loss, its validation twin, the
monitored series, an accuracy-like metric, the learning rate) and infers the
chance level of a classification task when the logs allow it.

Scale: nothing here compares a loss with a fixed number. Losses are judged
against the run's own noise (``sigma``) and its own improvement (``span``),
so multiplying every loss by a constant or adding a constant (a weight
penalty, say) changes no feature that a rule thresholds. The one exception
is the chance-level loss, an absolute reference by definition, which is only
ever used together with accuracy evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import curves
from .metrics import GRAD_NORM, Metric, is_accuracy, metric_names, parse_metric
from .run import LEARNING_RATE, Run

# An accuracy within this fraction of the way from 1/K to perfect is
# consistent with near-uniform outputs over K classes (the majority class of
# imbalanced real data reaches about a third of the way: 59% on 3 classes).
CHANCE_ACCURACY_MARGIN = 0.4

REGRESSION_METRICS = frozenset(
    """mae mse rmse msle mape mean_absolute_error mean_squared_error root_mean_squared_error
    mean_squared_logarithmic_error mean_absolute_percentage_error logcosh log_cosh huber r2
    r2_score""".split()
)


class Curve:
    """One logged series, ready for judging.

    Attributes:
        name: the series name as logged.
        direction: ``"min"`` or ``"max"`` (which way is better).
        x, y: epochs and values of the finite logged points.
        bad_epochs: epochs where the value was logged as NaN or inf.
    """

    def __init__(self, run: Run, name: str, direction: str):
        self.name = name
        self.direction = direction
        values = run.series[name]
        logged = run.logged[name]
        finite = logged & np.isfinite(values)
        self.x = run.epochs[finite]
        self.y = values[finite]
        self.bad_epochs = run.epochs[logged & ~np.isfinite(values)]
        self.n_logged = int(logged.sum())

    def __len__(self) -> int:
        return len(self.y)

    @cached_property
    def median5(self) -> np.ndarray:
        """Running median over 5 epochs: the curve without its spikes."""
        return curves.running_median(self.y, 5)

    @cached_property
    def smooth(self) -> np.ndarray:
        return curves.smooth(self.y, self.median5)

    @cached_property
    def sigma(self) -> float:
        """Robust epoch-to-epoch noise (same units as the values)."""
        return curves.noise_scale(self.y)

    @cached_property
    def head(self) -> float:
        """Robust starting level: median of the first three values."""
        return curves.median(self.y[:3])

    @cached_property
    def tail(self) -> float:
        """Robust final level: median of the last few values (3, or 10% of the run)."""
        k = max(3, len(self.y) // 10)
        return curves.median(self.y[-k:])

    @cached_property
    def best_index(self) -> int:
        return int(np.argmin(self.y) if self.direction == "min" else np.argmax(self.y))

    @property
    def best_epoch(self) -> float:
        return float(self.x[self.best_index])

    @property
    def best(self) -> float:
        return float(self.y[self.best_index])

    @property
    def last(self) -> float:
        return float(self.y[-1])

    @property
    def last_epoch(self) -> float:
        return float(self.x[-1])

    @cached_property
    def span(self) -> float:
        """How much the curve improved from its start to its best (>= 0)."""
        gain = self.head - self.best if self.direction == "min" else self.best - self.head
        return max(float(gain), 0.0)

    def slope(self, start: int = 0, stop: int | None = None) -> curves.Slope:
        """Theil-Sen slope of points ``[start:stop]`` (per epoch)."""
        return curves.theil_sen(self.x[start:stop], self.y[start:stop])

    @cached_property
    def late_slope(self) -> curves.Slope:
        """Slope over the last third of the run (at least 6 points).

        Six, because Sen's 95% band is undefined (infinite) on four or five
        points: a shorter window could never show a significant trend.
        """
        k = max(6, len(self.y) // 3)
        return self.slope(max(0, len(self.y) - k))

    @cached_property
    def still_falling(self) -> bool:
        """Materially falling at the end: significantly, and by at least 2% of
        the curve's own improvement over its last third.

        Significance alone is not enough: on a perfectly smooth curve any
        slope is "significant", including one that changes the fourth digit.
        """
        slope = self.late_slope
        k = min(len(self.y), max(6, len(self.y) // 3))
        drop = -slope.slope * (self.x[-1] - self.x[-k]) if k > 1 else 0.0
        return slope.falling and drop >= 0.02 * max(self.span, self.sigma)

    @cached_property
    def early_slope(self) -> curves.Slope:
        """Slope over the first third of the run (at least 6 points)."""
        return self.slope(0, max(6, len(self.y) // 3))

    @cached_property
    def decay(self) -> curves.DecayFit | None:
        """Decay fit of the smoothed curve from its highest early point on."""
        if self.direction != "min" or len(self.y) < 5:
            return None
        ys = self.smooth
        early = ys[: max(2, len(ys) // 4)]
        # The first of the highest points, ties judged at a resolution far
        # above rounding: smoothing repeats values, and argmax on exact ties
        # would depend on how a constant added to the curve rounded.
        k = int(np.flatnonzero(early >= early.max() - 1e-9 * float(np.ptp(ys)))[0])
        return curves.fit_decay(self.x[k:], ys[k:])


@dataclass(frozen=True)
class Chance:
    """Chance level of a classification task.

    Attributes:
        classes: the number of classes K.
        loss: the cross-entropy of a uniform guess, ln K.
        accuracy: the accuracy of a uniform guess, 1/K.
        how: how K was inferred, in words.
    """

    classes: int
    loss: float
    accuracy: float
    how: str


def _classes_near(loss: float, below: float, above: float) -> int | None:
    """The K whose ln K is nearest ``loss``, among those with loss within [-below, +above] of ln K (relative)."""
    if not (0.3 < loss < 7.5):
        return None
    low = max(2, math.ceil(math.exp(loss / (1.0 + above))))
    high = max(low, math.floor(math.exp(loss / (1.0 + below))))
    candidates = [c for c in range(low, high + 1)
                  if below <= (loss - math.log(c)) / math.log(c) <= above]
    return min(candidates, key=lambda c: abs(loss - math.log(c))) if candidates else None


class Features:
    """The series a diagnosis is about, as :class:`Curve` objects."""

    def __init__(self, run: Run, loss: str | None = None, monitor: str | None = None,
                 metric: str | None = None, learning_rate: float | None = None,
                 optimizer: str | None = None):
        self.run = run
        self._given_learning_rate = learning_rate
        # The optimizer's class name in keras.optimizers, when the caller knows it
        # (a log does not say): what code snippets build.
        self.optimizer = optimizer
        self.notes: list[str] = []
        parsed = {m.name: m for m in metric_names(run.names) if run.has(m.name)}
        self.metrics = parsed
        self.loss_name = self._pick_loss(parsed, loss)
        self.train = self._curve(self.twin(self.loss_name, "train"), "min")
        self.val = self._curve(self.twin(self.loss_name, "val"), "min")
        if self.train is None and self.val is not None:
            self.notes.append(f"only {self.val.name} was logged; judging the run on it alone")
        self.monitor = self._pick_monitor(parsed, monitor)
        self.metric_name = self._pick_metric(parsed, metric)
        direction = parse_metric(self.metric_name).direction if self.metric_name else None
        self.metric_train = self._curve(self.twin(self.metric_name, "train"), direction)
        self.metric_val = self._curve(self.twin(self.metric_name, "val"), direction)

    def twin(self, name: str | None, split: str) -> str | None:
        """The logged name of ``name``'s training or validation series, if logged."""
        if not name:
            return None
        key = parse_metric(name).key
        for m in self.metrics.values():
            if m.key == key and m.split == split:
                return m.name
        return None

    # --- choosing series -------------------------------------------------
    def _curve(self, name: str | None, direction: str | None) -> Curve | None:
        if not name or direction is None or not self.run.has(name):
            return None
        return Curve(self.run, name, direction)

    def _pick_loss(self, parsed: dict[str, Metric], wanted: str | None) -> str | None:
        if wanted:
            return wanted
        if "loss" in parsed or "val_loss" in parsed:
            return "loss" if "loss" in parsed else "val_loss"
        # Prefer training series; a validation-only loss still names the pair.
        losses = sorted(parsed.values(), key=lambda m: (m.split != "train", m.name))
        unique = list(dict.fromkeys(
            self.twin(m.name, "train") or m.name for m in losses if m.is_loss))
        if not unique:
            return None
        if len(unique) > 1:
            self.notes.append(
                f"several losses logged ({', '.join(unique)}) and none named 'loss'; "
                f"judging {unique[0]} (choose with --loss)"
            )
        return unique[0]

    def _pick_monitor(self, parsed: dict[str, Metric], wanted: str | None) -> Curve | None:
        if wanted:
            m = parsed.get(wanted)
            return self._curve(wanted, m.direction if m else None)
        return self.val or self.train

    def _pick_metric(self, parsed: dict[str, Metric], wanted: str | None) -> str | None:
        if wanted:
            return wanted
        prefix = parse_metric(self.loss_name).output if self.loss_name else None
        candidates = [m for m in parsed.values() if not m.is_loss and m.direction is not None]
        # Prefer the accuracy of the same output as the loss, then any accuracy,
        # then any other metric whose direction is known.
        candidates.sort(key=lambda m: (m.output != prefix, not is_accuracy(m.base), m.split != "train", m.name))
        return candidates[0].name if candidates else None

    # --- derived facts ----------------------------------------------------
    @property
    def main(self) -> Curve | None:
        """The training loss, or the validation loss when only that was logged."""
        return self.train if self.train is not None else self.val

    @cached_property
    def learning_rate(self) -> float | None:
        """The learning rate the user gave, else the first logged one, else None."""
        if self._given_learning_rate is not None:
            return float(self._given_learning_rate)
        if not self.run.has(LEARNING_RATE):
            return None
        values = self.run.series[LEARNING_RATE][self.run.logged[LEARNING_RATE]]
        values = values[np.isfinite(values)]
        return float(values[0]) if len(values) else None

    @cached_property
    def learning_rate_changes(self) -> list[tuple[float, float]]:
        """(epoch, new rate) wherever the logged learning rate changed by > 1%."""
        if not self.run.has(LEARNING_RATE):
            return []
        lr = self.run.series[LEARNING_RATE]
        ok = self.run.logged[LEARNING_RATE] & np.isfinite(lr)
        x, v = self.run.epochs[ok], lr[ok]
        change = np.flatnonzero(np.abs(np.diff(v)) > 0.01 * np.abs(v[:-1]))
        return [(float(x[i + 1]), float(v[i + 1])) for i in change]

    # --- signals beyond the loss (None when the log does not have them) ---
    # Their direction means nothing ("min" only so that a Curve can be built):
    # the rules in diagnose/rules/signals.py read their values, never a "best".
    @cached_property
    def grad_norm(self) -> Curve | None:
        """The global gradient norm per logged point (``grad_norm``): an epoch's mean, or a step's."""
        return self._curve(GRAD_NORM, "min")

    @cached_property
    def schedule(self) -> Curve | None:
        """The logged learning rate as a curve over the run: its schedule."""
        return self._curve(LEARNING_RATE, "min")

    @cached_property
    def regression(self) -> bool:
        """True when a regression metric (mae, mse, ...) is logged beside the loss.

        Keras happily logs ``accuracy`` for a regression model (exact-match
        of floats, near zero and meaningless); such an accuracy must not be
        read as a classifier's.
        """
        output = parse_metric(self.loss_name).output if self.loss_name else None
        return any(m.base in REGRESSION_METRICS and m.output == output for m in self.metrics.values())

    @cached_property
    def accuracy(self) -> Curve | None:
        """The accuracy-like curve of a classifier (validation preferred), if any."""
        if self.regression:
            return None
        for c in (self.metric_val, self.metric_train):
            if c is not None and is_accuracy(parse_metric(c.name).base):
                return c
        return None

    @cached_property
    def chance(self) -> Chance | None:
        """The chance level, when loss and accuracy both point at the same K.

        K is read from the first-epoch loss (a fresh classifier starts near
        ln K) and accepted only when the first accuracy is within reach of
        1/K too, so regression losses and pre-trained starts are not mistaken
        for a K-class guess.
        """
        acc = self.accuracy
        main = self.main
        if acc is None or main is None or len(main) == 0 or acc.direction != "max":
            return None

        def poor(accuracy: float, k: int) -> bool:
            # A model that outputs near-uniform probabilities over K classes
            # is not far above 1/K accurate. (Halfway to perfect let a binary
            # model at 52% pass as a 9-class guess: any loss in 0.3-7.5 is
            # near some ln K.)
            return accuracy <= 1.0 / k + CHANCE_ACCURACY_MARGIN * (1.0 - 1.0 / k)

        first_loss = main.head
        k = _classes_near(first_loss, -0.1, 0.25)
        if k is not None and poor(curves.median(acc.y[:3]), k):
            return Chance(k, math.log(k), 1.0 / k,
                          f"first-epoch loss {first_loss:.3g} ~ ln {k} = {math.log(k):.3g}")
        # A weight penalty or a blown-up first epoch hides the start; a model
        # that predicts uniform probabilities still ends *exactly* at ln K
        # (within 2-3%), in training or on the validation set.
        for curve in (main, self.val):
            if curve is None or len(curve) < 3:
                continue
            k = _classes_near(curve.tail, -0.03, 0.03)
            if k is not None and poor(acc.tail, k) and not curve.still_falling:
                return Chance(k, math.log(k), 1.0 / k,
                              f"final {curve.name} {curve.tail:.4g} ~ ln {k} = {math.log(k):.3g}")
        return None
