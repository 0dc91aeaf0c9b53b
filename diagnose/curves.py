"""Numerical tools for one curve: smoothing, noise, robust slopes, decay fits.

Everything here is numpy only, on purpose: scipy.stats alone takes ~0.9 s
to import on a small machine, more than the whole ``diagnose`` command may
take. The estimators are the textbook ones (Theil-Sen with Sen's confidence
band, median/MAD noise scale) written out in a few lines each.

Every function takes finite values only; callers drop NaN first.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Normal-consistency constant: MAD * 1.4826 estimates sigma for Gaussian noise.
MAD_TO_SIGMA = 1.4826
# Theil-Sen costs O(n^2) pairs; longer curves (step-logged runs) are thinned
# to this many evenly spaced points first, which leaves the median slope
# essentially unchanged and keeps one run under a millisecond.
MAX_SLOPE_POINTS = 80


def median(a: np.ndarray) -> float:
    """Median of a 1-d array; ~5x faster than ``np.median`` on the short arrays used here."""
    n = len(a)
    if n == 0:
        return float("nan")
    mid = n // 2
    if n % 2:
        return float(np.partition(a, mid)[mid])
    part = np.partition(a, (mid - 1, mid))
    return float((part[mid - 1] + part[mid]) / 2.0)


def running_median(y: np.ndarray, window: int = 5) -> np.ndarray:
    """Centred running median, the ends padded by repeating the end values.

    A median, not a mean, so that one spike does not drag its neighbours.
    """
    n = len(y)
    if n < 3 or window < 3:
        return y.astype(float, copy=True)
    half = min(window // 2, (n - 1) // 2)
    padded = np.concatenate([np.full(half, y[0]), y, np.full(half, y[-1])])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.partition(windows, half, axis=1)[:, half]  # odd window: the middle order statistic


def smooth(y: np.ndarray, m: np.ndarray | None = None) -> np.ndarray:
    """Robust smoothing: running median of 5 (``m``, if already computed), then a running mean of 3."""
    m = running_median(y, 5) if m is None else m
    if len(m) < 3:
        return m
    out = m.copy()
    out[1:-1] = (m[:-2] + m[1:-1] + m[2:]) / 3.0
    return out


def noise_scale(y: np.ndarray) -> float:
    """Robust standard deviation of the epoch-to-epoch noise around the trend.

    From second differences ``y[i-1] - 2 y[i] + y[i+1]``, which cancel any
    locally linear trend and have standard deviation ``sqrt(6) * sigma`` for
    independent noise; the MAD makes it ignore the few places where the trend
    bends sharply (the first epochs) and the spikes. Residuals from a running
    median would not do: on a clean falling curve the median *is* the point,
    and the estimate collapses to zero. Never below a tiny fraction of the
    curve's range, so that perfectly smooth curves do not divide by zero.
    """
    n = len(y)
    if n < 2:
        return 0.0
    if n >= 4:
        d = y[:-2] - 2.0 * y[1:-1] + y[2:]
        sigma = MAD_TO_SIGMA * median(np.abs(d - median(d))) / np.sqrt(6.0)
    else:
        d = np.diff(y)
        sigma = MAD_TO_SIGMA * median(np.abs(d - median(d))) / np.sqrt(2.0)
    span = float(np.ptp(y))
    return max(sigma, 1e-3 * span, 1e-12 * max(1.0, float(np.max(np.abs(y)))))


@dataclass(frozen=True)
class Slope:
    """A Theil-Sen slope with its 95% confidence band (per x unit)."""

    slope: float
    low: float
    high: float

    @property
    def rising(self) -> bool:
        """Significantly positive: the whole band is above zero."""
        return self.low > 0

    @property
    def falling(self) -> bool:
        return self.high < 0


def theil_sen(x: np.ndarray, y: np.ndarray) -> Slope:
    """Median of pairwise slopes with Sen's (1968) 95% confidence band.

    Robust to up to ~29% outliers, which is what spiky loss curves need: a
    least-squares slope follows the spikes.
    """
    n = len(x)
    if n < 2:
        return Slope(0.0, -np.inf, np.inf)
    if n > MAX_SLOPE_POINTS:
        keep = np.linspace(0, n - 1, MAX_SLOPE_POINTS).round().astype(int)
        x, y, n = x[keep], y[keep], MAX_SLOPE_POINTS
    i, j = _pairs(n)
    dx = x[j] - x[i]
    slopes = (y[j] - y[i]) / dx
    pairs = len(slopes)
    # Sen's band from the variance of Kendall's S, ignoring ties (z = 1.96).
    c = 1.96 * np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo_rank = int(np.floor((pairs - c) / 2.0))
    hi_rank = int(np.ceil((pairs + c) / 2.0))
    mid = pairs // 2
    ranks = sorted({r for r in (lo_rank, hi_rank, mid, mid - 1) if 0 <= r < pairs})
    part = np.partition(slopes, ranks)  # O(pairs): only these order statistics are needed
    # Pairs that differ only by floating-point rounding are ties, not slopes:
    # otherwise a flat stretch reads as "significantly rising" or not depending
    # on how a constant added to the curve happened to round. Snapping them to
    # zero is monotone, so it can be applied to the order statistics alone.
    resolution = 1e-9 * float(np.ptp(y)) / max(float(x[-1] - x[0]), 1e-300)

    def at(rank: int) -> float:
        value = float(part[rank])
        return 0.0 if abs(value) <= resolution else value

    median = at(mid) if pairs % 2 else (at(mid - 1) + at(mid)) / 2.0
    low = at(lo_rank) if 0 <= lo_rank < pairs else -np.inf
    high = at(hi_rank) if 0 <= hi_rank < pairs else np.inf
    return Slope(median, low, high)


@lru_cache(maxsize=256)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j of n points (cached: the same few lengths recur)."""
    return np.triu_indices(n, 1)


@dataclass(frozen=True)
class DecayFit:
    """``y ~ asymptote + scale * shape(x)`` for a falling curve.

    ``shape`` is ``exp(-x / tau)`` (kind ``"exp"``) or ``x ** -power``
    (kind ``"power"``), whichever fits better.

    Attributes:
        kind: ``"exp"`` or ``"power"``.
        asymptote: the level the curve is heading to.
        rate: tau (epochs) for exp, the power for power law.
        r2: coefficient of determination on the fitted points.
        progress: fraction of the way from the first value to the asymptote
            covered by the end (1.0 = converged).
    """

    kind: str
    asymptote: float
    rate: float
    r2: float
    progress: float
    _scale: float
    _x0: float

    @property
    def start(self) -> float:
        """The first epoch of the fitted stretch: the fit says nothing before it."""
        return self._x0

    def predict(self, x: float | np.ndarray) -> np.ndarray:
        t = np.asarray(x, float) - self._x0 + 1.0
        if self.kind == "exp":
            return self.asymptote + self._scale * np.exp(-(t - 1.0) / self.rate)
        return self.asymptote + self._scale * t ** (-self.rate)


# Candidate asymptotes, in spans below the minimum (np.geomspace costs more
# than the rest of a short fit, so the grid is built once).
_ASYMPTOTE_STEPS = np.geomspace(1e-3, 3.0, 28)


def fit_decay(x: np.ndarray, y: np.ndarray) -> DecayFit | None:
    """Fit a decaying curve with an asymptote, or None when it does not fall.

    For a fixed asymptote ``a`` both models are linear in log space
    (``log(y - a)`` against ``x`` or ``log x``), so the fit is a grid over
    ``a`` below the curve's minimum with a closed-form line for each: no
    iterative optimiser, no starting guesses, no failure to converge, and
    about 0.1 ms for a 100-epoch curve.
    """
    n = len(y)
    if n < 4:
        return None
    lo, hi = float(np.min(y)), float(np.max(y))
    span = hi - lo
    if span <= 0 or y[-1] >= y[0]:
        return None
    t = x - x[0] + 1.0
    # Candidate asymptotes from just below the minimum down to 3 spans below
    # it, log-spaced: converged curves put it just under the minimum.
    asymptotes = lo - span * _ASYMPTOTE_STEPS
    gap = y[None, :] - asymptotes[:, None]  # (candidates, n), all > 0
    z = np.log(gap)
    # Weighted least squares in log space with weights gap**2 (the delta
    # method): without them the points nearest the asymptote, where log
    # magnifies noise, would decide the fit.
    w = gap * gap
    wsum = w.sum(axis=1)
    zm = (w * z).sum(axis=1) / wsum
    best = None
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    for kind, u in (("exp", t - 1.0), ("power", np.log(t))):
        um = (w * u).sum(axis=1) / wsum
        du = u[None, :] - um[:, None]
        var = (w * du * du).sum(axis=1)
        slope = (w * du * (z - zm[:, None])).sum(axis=1) / np.where(var > 0, var, np.inf)
        intercept = zm - slope * um
        pred = asymptotes[:, None] + np.exp(intercept[:, None] + slope[:, None] * u[None, :])
        sse = np.sum((pred - y[None, :]) ** 2, axis=1)
        sse[slope >= 0] = np.inf  # must decay
        k = int(np.argmin(sse))
        if not np.isfinite(sse[k]):
            continue
        if best is None or sse[k] < best[0]:
            rate = -1.0 / slope[k] if kind == "exp" else -slope[k]
            best = (float(sse[k]), kind, float(asymptotes[k]), float(rate), float(np.exp(intercept[k])))
    if best is None:
        return None
    sse, kind, asymptote, rate, scale = best
    r2 = 1.0 - sse / ss_tot if ss_tot > 0 else 0.0
    first = asymptote + scale
    progress = (first - y[-1]) / (first - asymptote) if first > asymptote else 1.0
    return DecayFit(kind, asymptote, rate, r2, float(np.clip(progress, 0.0, 1.0)), scale, float(x[0]))


def spikes(y: np.ndarray, baseline: np.ndarray, sigma: float, threshold: float) -> np.ndarray:
    """Indices where the curve stands above ``baseline`` (its running median) by > threshold*sigma."""
    if len(y) < 5 or sigma <= 0:
        return np.array([], dtype=int)
    return np.flatnonzero(y - baseline > threshold * sigma)


def sign_changes(y: np.ndarray) -> float:
    """Fraction of consecutive steps whose direction flips (zig-zag rate).

    About 0.5-0.7 for white noise around a trend, near 0 for a smooth curve,
    near 1 for a curve that bounces up and down every epoch.
    """
    d = np.diff(y)
    d = d[d != 0]
    if len(d) < 2:
        return 0.0
    return float(np.mean(np.sign(d[1:]) != np.sign(d[:-1])))
