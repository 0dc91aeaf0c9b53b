"""One training run, normalized: what every loader returns and every rule reads.

Whatever the log looked like (a Keras ``History``, a CSVLogger file with
appended segments, a Lightning ``metrics.csv``, a Trainer state), the engine
sees a :class:`Run`: one x axis and named series aligned with it. Names follow
Keras: a training series is ``loss`` / ``accuracy`` / ``out1_loss``, its
validation twin carries the ``val_`` prefix, and the learning rate is always
``learning_rate``. Loaders translate other spellings and record what they did
in ``notes``.

Two kinds of "no number" are kept apart, because they mean different things:
a value that was *not logged* (validation every other epoch, a Lightning row
that only carries validation columns) and a value that *was logged as NaN or
inf* (the loss blew up). ``series`` holds NaN for both; ``logged`` says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .report import RunWarning

LEARNING_RATE = "learning_rate"
VAL_PREFIX = "val_"


@dataclass(frozen=True, eq=False)
class Run:
    """A normalized training run.

    Attributes:
        source: path or name shown in reports.
        epochs: float64, strictly increasing x axis. Epoch numbers are
            1-based, as Keras prints them ("Epoch 12/50"), so a CSVLogger row
            with ``epoch`` 11 is epoch 12 here. Step-logged runs use
            fractional epochs.
        series: metric name -> float64 values aligned with ``epochs``; NaN
            where the value is NaN, infinite-free (inf becomes NaN with
            ``logged`` true and the sign kept in ``infinite``).
        logged: metric name -> bool mask, True where a value was logged.
        infinite: metric name -> int8 mask, +1/-1 where the logged value was
            +inf/-inf, 0 elsewhere. Only present for series that had one.
        granularity: ``"epoch"`` or ``"step"`` (step-logged curves are noisier).
        format: which loader read it (``"keras_csv"``, ``"history"``, ...).
        notes: what the loader decided on the user's behalf, in words
            (segment chosen, columns renamed, series aligned).
        params: what the run was trained with, when the source records it
            (a KerasTuner trial's hyperparameters, an MLflow run's params and
            name): name -> number or string. Reports carry it in
            ``summary["params"]``, and a sweep reads its advice from it.
        warnings: what the loader saw that is wrong with the log itself (an
            epoch or step going back, a restarted counter, malformed rows),
            for the report's ``warnings``; ``notes`` still say what the loader
            decided about it.
    """

    source: str
    epochs: np.ndarray
    series: Mapping[str, np.ndarray]
    logged: Mapping[str, np.ndarray]
    infinite: Mapping[str, np.ndarray] = field(default_factory=dict)
    granularity: str = "epoch"
    format: str = "history"
    notes: tuple[str, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    warnings: tuple[RunWarning, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.epochs)
        for name, values in self.series.items():
            if len(values) != n or len(self.logged[name]) != n:
                raise AssertionError(f"series {name!r} is not aligned with epochs")
        if n > 1 and not np.all(np.diff(self.epochs) > 0):
            raise AssertionError("epochs must be strictly increasing")

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def names(self) -> list[str]:
        return list(self.series)

    def has(self, name: str) -> bool:
        """True when ``name`` was logged at least once."""
        mask = self.logged.get(name)
        return mask is not None and bool(mask.any())

    @classmethod
    def from_columns(
        cls,
        source: str,
        columns: Mapping[str, Iterable[float | None]],
        epochs: Iterable[float] | None = None,
        **attrs,
    ) -> Run:
        """Build a run from plain columns of equal length.

        ``None`` means "not logged"; ``float('nan')`` and infinities mean the
        value was logged as such. ``epochs`` defaults to 1..n.
        """
        raw = {name: list(values) for name, values in columns.items()}
        n = len(next(iter(raw.values()))) if raw else 0
        series, logged, infinite = {}, {}, {}
        for name, values in raw.items():
            mask = np.fromiter((v is not None for v in values), bool, len(values))
            arr = np.array([math.nan if v is None else float(v) for v in values], float)
            inf = np.isinf(arr)
            if inf.any():
                infinite[name] = np.where(inf, np.sign(np.nan_to_num(arr)), 0).astype(np.int8)
                arr[inf] = math.nan
            series[name], logged[name] = arr, mask
        x = np.arange(1, n + 1, dtype=float) if epochs is None else np.asarray(list(epochs), float)
        return cls(source, x, series, logged, infinite, **attrs)

    def head(self, n: int) -> Run:
        """The first ``n`` epochs: what a live callback had seen at that point."""
        cut = {k: v[:n] for k, v in self.series.items()}
        return Run(
            self.source,
            self.epochs[:n],
            cut,
            {k: v[:n] for k, v in self.logged.items()},
            {k: v[:n] for k, v in self.infinite.items()},
            self.granularity,
            self.format,
            self.notes,
            self.params,
            self.warnings,
        )


def bin_steps(run: Run, bins: int) -> Run:
    """A step-logged run as ``bins`` equal-width bins of its x axis, median per bin.

    Step-logged losses (one value per logging step) are far noisier and
    more heavy-tailed than the per-epoch averages Keras logs; binning gives
    the rules the epoch-average view they were calibrated on. A bin's value
    is the median of its finite logged values; a bin whose logged values are
    all NaN/inf stays logged as NaN, so blow-ups are not smoothed away.
    """
    edges = np.linspace(run.epochs[0], run.epochs[-1], bins + 1)
    which = np.clip(np.searchsorted(edges, run.epochs, side="right") - 1, 0, bins - 1)
    used = np.unique(which)
    x = np.array([run.epochs[which == b].mean() for b in used])
    series, logged = {}, {}
    for name, values in run.series.items():
        out = np.full(len(used), math.nan)
        mask = np.zeros(len(used), bool)
        for i, b in enumerate(used):
            member = (which == b) & run.logged[name]
            if member.any():
                mask[i] = True
                finite = values[member][np.isfinite(values[member])]
                if len(finite):
                    out[i] = float(np.median(finite))
        series[name], logged[name] = out, mask
    note = f"step-logged run: judged on {len(used)} bins of its x axis (median per bin)"
    return Run(run.source, x, series, logged, {}, "step", run.format, (*run.notes, note),
               run.params, run.warnings)


def bin_long_run(run: Run, max_points: int) -> Run:
    """A run longer than ``max_points`` as that many bins of consecutive epochs, median per bin.

    Judging a million epochs one by one costs seconds and gigabytes and says
    nothing more than judging their medians in bins of a hundred, as step-logged
    runs are judged (:func:`bin_steps`). A bin's value is the
    median of its finite logged values; a bin whose logged values are all
    NaN or inf stays logged as such, so a blow-up is never smoothed away.
    Vectorised: one reshape per series, no loop over bins.
    """
    n = len(run)
    if n <= max_points:
        return run
    size = -(-n // max_points)  # epochs per bin, rounded up
    bins = -(-n // size)
    pad = bins * size - n

    def blocks(values: np.ndarray, fill) -> np.ndarray:
        return np.concatenate([values, np.full(pad, fill, dtype=values.dtype)]).reshape(bins, size)

    # Each bin stands at its last epoch: a whole epoch number, as people count.
    epochs = np.nanmax(blocks(run.epochs, math.nan), axis=1)
    series, logged, infinite = {}, {}, {}
    for name, values in run.series.items():
        mask = blocks(run.logged[name], False)
        finite = np.where(mask, blocks(values, math.nan), math.nan)
        has_finite = np.isfinite(finite).any(axis=1)
        medians = np.full(bins, math.nan)
        medians[has_finite] = np.nanmedian(finite[has_finite], axis=1)
        series[name], logged[name] = medians, mask.any(axis=1)
        signs = run.infinite.get(name)
        if signs is not None:
            # A bin of nothing but blow-ups keeps the sign of its first infinity.
            signs = blocks(signs, 0)
            first = signs[np.arange(bins), np.argmax(signs != 0, axis=1)]
            kept = np.where(has_finite, 0, first).astype(np.int8)
            if kept.any():
                infinite[name] = kept
    note = (f"long run: judged on {bins:,} bins of {size:,} consecutive epochs (median per "
            f"bin), not on its {n:,} epochs one by one")
    return Run(run.source, epochs, series, logged, infinite, run.granularity, run.format,
               (*run.notes, note), run.params, run.warnings)


class RunBuilder:
    """Accumulates one epoch of logs at a time into a :class:`Run`.

    This is the streaming entry point: the live callback appends each epoch's
    ``logs`` dict, and ``run()`` gives the same Run a loader would have made
    from the finished History.
    """

    def __init__(self, source: str = "live run", format: str = "callback"):
        self.source = source
        self.format = format
        self._epochs: list[float] = []
        self._columns: dict[str, list[float | None]] = {}

    def __len__(self) -> int:
        return len(self._epochs)

    def append(self, logs: Mapping[str, object], epoch: float | None = None) -> None:
        """Add one epoch. ``epoch`` is 1-based; by default the next one."""
        n = len(self._epochs)
        self._epochs.append(float(n + 1 if epoch is None else epoch))
        for name, value in logs.items():
            if name == "lr":
                name = LEARNING_RATE
            column = self._columns.get(name)
            if column is None:
                column = self._columns[name] = [None] * n
            column.append(_to_float(value))
        for column in self._columns.values():
            if len(column) <= n:
                column.append(None)

    def run(self) -> Run:
        return Run.from_columns(self.source, self._columns, self._epochs, format=self.format)


def _to_float(value: object) -> float | None:
    """A logged value as a float; None when it is not a number at all."""
    try:
        return float(value)  # numpy scalars, 0-d tensors and Python numbers alike
    except (TypeError, ValueError):
        return None
