"""Synthetic training curves for unit and property tests.

These are drawn, not trained: they exist to state invariants of the engine
("scaling every loss leaves the verdict alone") over many shapes. Real
training runs for label tests live in fixtures/.
"""

from __future__ import annotations

import numpy as np


def decaying(n: int, *, start: float = 2.0, floor: float = 0.2, tau: float = 8.0,
             noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """An exponentially decaying loss with Gaussian epoch-to-epoch noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float)
    return floor + (start - floor) * np.exp(-x / tau) + rng.normal(0.0, noise, n)


def history(train: np.ndarray, val: np.ndarray | None = None, **extra) -> dict[str, list]:
    """A ``history.history``-style dict from arrays."""
    out = {"loss": [float(v) for v in train]}
    if val is not None:
        out["val_loss"] = [float(v) for v in val]
    out.update({k: [float(v) for v in vs] for k, vs in extra.items()})
    return out
