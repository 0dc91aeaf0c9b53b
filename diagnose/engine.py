"""The engine: one normalized run in, one report out.

    run -> curve features (diagnose.features) -> rules (diagnose.rules)
        -> findings + fixes (diagnose.fixes) -> Report

The same path serves a finished log and a live training run: the callback
feeds an :class:`Analyzer` one epoch at a time and asks it for a report
whenever it likes; ``diagnose(history)`` is that Analyzer fed every epoch at
once. Nothing below knows which of the two it serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .report import Report
from .run import Run, RunBuilder


@dataclass(frozen=True)
class Options:
    """What a user may choose about a diagnosis.

    Attributes:
        monitor: the series judged for overfitting and early stopping
            (default ``val_loss``, else ``loss``).
        loss: the main training loss when the log has several or a
            non-standard name (GAN ``loss_gen``); default ``loss``.
        metric: the main quality metric (default: the first accuracy-like or
            other known-direction metric).
        learning_rate: the learning rate used, when the log does not record
            it; fixes then give absolute values instead of factors.
        select: run only these rules (names), like ruff's ``select``.
        ignore: skip these rules.
        rules: per-rule threshold overrides, ``{"val-loss-rising": {"min_rise": 1.2}}``.
    """

    monitor: str | None = None
    loss: str | None = None
    metric: str | None = None
    learning_rate: float | None = None
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def diagnose_run(run: Run, options: Options | None = None) -> Report:
    """Diagnose a normalized run."""
    from .verdict import judge

    return judge(run, options or Options())


class Analyzer:
    """The streaming entry point: add epochs as they finish, ask for a report any time.

    Example:
        >>> analyzer = Analyzer()
        >>> for logs in [{"loss": 1.0, "val_loss": 1.1}, {"loss": 0.8, "val_loss": 0.9}]:
        ...     analyzer.add_epoch(logs)
        >>> analyzer.report().conditions
        ()
    """

    def __init__(self, options: Options | None = None, source: str = "live run"):
        self.options = options or Options()
        self._builder = RunBuilder(source)

    def __len__(self) -> int:
        return len(self._builder)

    def add_epoch(self, logs: Mapping[str, Any], epoch: float | None = None) -> None:
        """Record one finished epoch's logs (``epoch`` is 1-based; default: the next)."""
        self._builder.append(logs, epoch)

    @property
    def run(self) -> Run:
        return self._builder.run()

    def report(self) -> Report:
        """The diagnosis of every epoch seen so far."""
        return diagnose_run(self.run, self.options)
