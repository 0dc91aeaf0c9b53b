"""Watch the training loss batch by batch: NaN/inf at once, spikes inside an epoch.

The epoch-level rules see a blow-up only when the epoch ends; a NaN in
batch 3 of a 1,000-batch epoch wastes the other 997. :class:`BatchWatch`
looks at every batch's logs, in O(1) time and memory per batch (running
statistics, no history), and never touches the model: it only reads the
numbers Keras already hands to ``on_train_batch_end``.

Keras logs, per batch, the *running mean* of the epoch so far (its loss
tracker is a ``Mean`` reset at each epoch), which hides a one-batch spike
behind the average. The step's own loss is recovered exactly from two
consecutive means: ``(n_now * mean_now - n_before * mean_before) / (n_now - n_before)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

# A spike stands this many noise sigmas above the running level. Batch losses
# are heavy-tailed (one batch of hard examples); 10 sigma is not reached by
# the batch noise of healthy runs in the fixture scenarios.
SPIKE_SIGMAS = 10.0
# Batches seen before spikes are judged: the running statistics must settle
# first, and the first steps of a fresh model fall too fast to have a level.
WARMUP_BATCHES = 30
# Weight of the newest step in the running level and noise (~50-batch memory).
DECAY = 0.02
# Gaussian noise: sigma ~ 1.25 x the mean absolute deviation.
MAD_TO_SIGMA = 1.25


@dataclass(frozen=True)
class BatchEvent:
    """Something seen inside an epoch.

    Attributes:
        epoch: 1-based epoch, as Keras prints it.
        batch: 0-based batch index within the epoch, as Keras passes it.
        kind: ``"nan"`` (the loss became NaN or inf) or ``"spike"``.
        value: the step's own loss (NaN/inf for ``"nan"``).
        level: the running level it is compared with.
        sigmas: how many noise sigmas above the level (spikes).
    """

    epoch: int
    batch: int
    kind: str
    value: float
    level: float
    sigmas: float

    @property
    def message(self) -> str:
        if self.kind == "nan":
            return f"the loss became {self.value} at batch {self.batch} of epoch {self.epoch}"
        return (f"the loss spiked to {self.value:.4g} at batch {self.batch} of epoch {self.epoch} "
                f"({self.sigmas:.0f} sigma above its running level {self.level:.4g})")


class BatchWatch:
    """Running statistics of the per-step training loss.

    Args:
        key: the logged loss to watch.

    Example:
        >>> watch = BatchWatch()
        >>> watch.begin_epoch(0)
        >>> watch.update(0, {"loss": 1.0}) is None
        True
        >>> watch.update(1, {"loss": float("nan")}).kind
        'nan'
    """

    def __init__(self, key: str = "loss"):
        self.key = key
        self.level = 0.0  # running level of the step loss, kept across epochs
        self.noise = 0.0  # running mean absolute deviation from it
        self.steps = 0
        self.epoch = 0
        self.spikes = 0
        self._seen = 0  # batches averaged into the last mean of this epoch
        self._mean = 0.0
        self._nan_reported = False

    def begin_epoch(self, epoch: int) -> None:
        """Keras resets its running means at each epoch: so does the recovery."""
        self.epoch = epoch + 1
        self._seen, self._mean = 0, 0.0
        self._nan_reported = False

    def update(self, batch: int, logs: Mapping[str, object] | None) -> BatchEvent | None:
        """Take one batch's logs; a :class:`BatchEvent` when something happened."""
        if not logs or self.key not in logs:
            return None
        try:
            mean = float(logs[self.key])
        except (TypeError, ValueError):
            return None
        if not math.isfinite(mean):
            if self._nan_reported:
                return None  # a NaN mean stays NaN for the rest of the epoch
            self._nan_reported = True
            return BatchEvent(self.epoch, batch, "nan", mean, self.level, math.inf)
        seen = batch + 1  # steps_per_execution > 1 reports every few batches
        if seen <= self._seen:  # not a running mean after all: take the value as it is
            step = mean
        else:
            step = (seen * mean - self._seen * self._mean) / (seen - self._seen)
        self._seen, self._mean = seen, mean
        return self._judge(batch, step)

    def _judge(self, batch: int, step: float) -> BatchEvent | None:
        self.steps += 1
        if self.steps == 1:
            self.level = step
            return None
        # Plain averages until there are 1/DECAY steps, then exponential:
        # the statistics are unbiased from the first batches on.
        weight = max(DECAY, 1.0 / (self.steps - 1))
        deviation = step - self.level
        sigma = MAD_TO_SIGMA * self.noise
        event = None
        if self.steps > WARMUP_BATCHES and sigma > 0 and deviation > SPIKE_SIGMAS * sigma:
            self.spikes += 1
            event = BatchEvent(self.epoch, batch, "spike", step, self.level, deviation / sigma)
            # Clipped: one spike barely moves the statistics, a lasting jump
            # in level is absorbed within a few dozen batches.
            deviation = SPIKE_SIGMAS * sigma
        self.level += weight * deviation
        self.noise += weight * (abs(deviation) - self.noise)
        return event
