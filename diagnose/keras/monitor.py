"""The monitored quantity: Keras' "is this an improvement", once.

:class:`Monitor` is the piece of ``keras.callbacks.MonitorCallback`` and
``EarlyStopping`` that the live callback needs (``mode``, ``min_delta``,
``start_from_epoch``, the best value and how long ago it was), written
without Keras so that it is a pure function of the logs: every replica of a
distributed run, fed the same reduced logs, reaches the same state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..metrics import parse_metric
from ..run import VAL_PREFIX

MODES = ("auto", "min", "max")


class Monitor:
    """Track the best value of one logged quantity and the epochs since.

    Args:
        monitor: the quantity, as logged (``"val_loss"``). When it has not
            been logged yet and its training twin has (``"loss"`` for
            ``"val_loss"``: no validation data, or ``validation_freq`` > 1
            before the first validation), the twin is tracked instead until
            the quantity itself shows up.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name, as Keras
            does: losses and errors down, accuracies and scores up).
        min_delta: a change smaller than this is no improvement.
        start_from_epoch: epochs (0-based, as Keras counts) to ignore before
            tracking starts: a warm-up in which no improvement is expected.

    Example:
        >>> m = Monitor("val_loss")
        >>> for epoch, v in enumerate([1.0, 0.8, 0.9, 0.85]):
        ...     _ = m.update(epoch, {"val_loss": v})
        >>> m.best, m.best_epoch, m.wait
        (0.8, 1, 2)
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 start_from_epoch: int = 0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.start_from_epoch = int(start_from_epoch)
        self.fallback = monitor[len(VAL_PREFIX):] if monitor.startswith(VAL_PREFIX) else None
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new ``fit()``)."""
        self.tracking: str | None = None  # the name actually tracked
        self.direction: str | None = None
        self.best: float | None = None
        self.best_epoch: int | None = None  # 0-based, as Keras counts
        self.wait = 0  # monitored epochs since the best

    def update(self, epoch: int, logs: Mapping[str, float]) -> bool | None:
        """Record one epoch's value; True when it is a new best, None when not tracked.

        Raises:
            ValueError: ``mode="auto"`` and the direction of the quantity
                cannot be told from its name (pass ``mode``).
        """
        name = self._name(logs)
        if name is None or epoch < self.start_from_epoch:
            return None
        if name != self.tracking:  # first value, or the monitored quantity replaced its twin
            self.reset()
            self.tracking, self.direction = name, self._direction(name)
        value = logs[name]
        if self.is_improvement(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    def is_improvement(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.direction == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def _name(self, logs: Mapping[str, float]) -> str | None:
        if self.monitor in logs:
            return self.monitor
        if self.tracking == self.monitor:
            return None  # an epoch without validation (validation_freq > 1)
        if self.fallback is not None and self.fallback in logs:
            return self.fallback
        return None

    def _direction(self, name: str) -> str:
        if self.mode != "auto":
            return self.mode
        direction = parse_metric(name).direction
        if direction is None:
            raise ValueError(f"cannot tell whether {name!r} should go down or up; "
                             f"pass mode='min' or mode='max'")
        return direction
