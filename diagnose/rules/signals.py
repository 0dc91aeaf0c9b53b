"""Rules on the signals beyond the loss: the gradient norm, the learning-rate schedule, and
how the loss's zig-zag grows.

A rule that reads a signal the log does not have (no ``grad_norm``, no
``learning_rate``) finds nothing: it never guesses the signal from the loss.
The thresholds were chosen by ``scripts/calibrate_signals.py`` on the
calibration families only: real Keras runs that log the gradient norm and the
rate (``python -m trainruns.signals``), read both as logged per epoch and as
a Trainer-style step log, beside the corpus's calibration families.
"""

from __future__ import annotations

import numpy as np

from .. import curves
from ..report import Finding
from .base import Option, confidence, epoch_str, fmt, rule, share, times_said

SIGNALS_VERSION = ("trainruns.signals runs of the calibration families (epoch- and step-logged) "
                   "and the corpus calibration families")

# A jump is judged against the median of the points just before it.
_JUMP_WINDOW = 5


def _percent(ratio: float) -> str:
    """A small fraction as people write it: 2.1%, 0.35%, 0.0012%."""
    value = 100.0 * ratio
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


def _jumps(y: np.ndarray) -> np.ndarray:
    """Each point over the median of the (up to) five before it; the first three count as 0.

    The baseline has a floor of a thousandth of the curve's typical level, so
    that a norm coming back from exactly zero (dead units) is a large jump,
    not a division by zero.
    """
    out = np.zeros(len(y))
    positive = y[y > 0]
    floor = 1e-3 * float(np.median(positive)) if len(positive) else 1e-300
    for i in range(3, len(y)):
        base = curves.median(y[max(0, i - _JUMP_WINDOW):i])
        out[i] = y[i] / max(base, floor)
    return out


@rule(
    "grad-norm-spikes",
    "lr_too_high",
    min_ratio=Option(15.0, "How many times the median of the five points before it a logged "
                     "gradient norm must reach. Healthy runs' norms drift by under 2x between "
                     "epochs, and by up to 14x in a recurrent net trained with SGD and "
                     "momentum (the largest among the healthy calibration runs); steps that "
                     "overshoot throw the norm up by 20x to 1e9x.", SIGNALS_VERSION),
)
def grad_norm_spikes(f, p):
    """The logged gradient norm jumps to many times its recent level.

    Why: the gradient norm is the size of the step the optimiser is asked to
    take. When it leaps far above its recent level, an update threw the
    weights onto a steep wall of the loss surface: the rate is too large for
    that region, and the loss usually follows (a spike, or NaN), often an
    epoch or a few steps later: it can show before the loss does.
    """
    g = f.grad_norm
    if g is None or len(g) < 6:
        return None
    jumps = _jumps(g.y)
    above = jumps >= p.min_ratio
    if not above.any():
        return None
    starts = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    ends = np.flatnonzero(above & ~np.concatenate([above[1:], [False]]))
    peaks = [int(a + np.argmax(jumps[a:b + 1])) for a, b in zip(starts, ends)]
    top = max(peaks, key=lambda i: jumps[i])
    epochs = tuple(float(g.x[i]) for i in peaks)
    before = curves.median(g.y[max(0, top - _JUMP_WINDOW):top])
    evidence = {"series": g.name, "spike_epochs": list(epochs), "largest_ratio": float(jumps[top]),
                "largest_epoch": float(g.x[top]), "largest": float(g.y[top]),
                "level_before": before}
    shown = ", ".join(epoch_str(e) for e in epochs[:6]) + (", ..." if len(epochs) > 6 else "")
    where = f"epoch{'s' if len(epochs) > 1 else ''} {shown}"
    if len(peaks) == 1:
        message = (f"{g.name} jumped at epoch {epoch_str(g.x[top])} to "
                   f"{share(float(jumps[top]))} its level before (from about {fmt(before)} to "
                   f"{fmt(g.y[top])})")
    else:
        message = (f"{g.name} jumped {times_said(len(peaks))} ({where}), to as much as "
                   f"{share(float(jumps[top]))} its level before (from about {fmt(before)} to "
                   f"{fmt(g.y[top])} at epoch {epoch_str(g.x[top])})")
    return Finding("grad-norm-spikes", "lr_too_high", epochs, evidence, message,
                   confidence(float(jumps[top]) / p.min_ratio), events=True)


@rule(
    "grad-norm-nonfinite",
    "lr_too_high",
    min_points=Option(3, "How many logged points must hold a NaN or infinite gradient norm, "
                      "unless the last one does: a single overflowed step is what a mixed-"
                      "precision loss scaler skips by design (a Trainer with fp16 can log it), "
                      "while norms that keep overflowing mean the steps blew the weights up.",
                      SIGNALS_VERSION),
)
def grad_norm_nonfinite(f, p):
    """The logged gradient norm is NaN or infinite at several points, or at the end.

    Why: an infinite gradient norm means some gradient overflowed: the
    weights or activations have grown without bound, which oversized steps
    do. Once a NaN gradient is applied, every weight it touches is NaN; the
    loss follows at once or a few steps later.
    """
    g = f.grad_norm
    if g is None or len(g.bad_epochs) == 0:
        return None
    bad = g.bad_epochs
    at_end = len(g) == 0 or bad[-1] > g.x[-1]
    if len(bad) < p.min_points and not at_end:
        return None
    first = float(bad[0])
    loss = f.train
    loss_bad = loss.bad_epochs if loss is not None else np.array([])
    ahead = len(loss_bad) == 0 or loss_bad[0] > first
    evidence = {"series": g.name, "first_bad_epoch": first, "bad_points": len(bad),
                "logged_points": g.n_logged, "loss_finite_then": bool(ahead)}
    message = (f"{g.name} is NaN/inf at {len(bad)} of {g.n_logged} logged points, first at "
               f"epoch {epoch_str(first)}")
    if loss is not None and ahead:
        message += (f", while {loss.name} was still finite" +
                    (f" (it became NaN/inf at epoch {epoch_str(loss_bad[0])})"
                     if len(loss_bad) else ""))
    return Finding("grad-norm-nonfinite", "lr_too_high", (first,), evidence, message,
                   0.9 if len(bad) >= 2 * p.min_points or at_end else 0.7)


@rule(
    "grad-norm-vanishing",
    "lr_too_high",
    max_fall=Option(0.1, "The gradient norm's last points must be at most this fraction of its "
                    "peak level (running median of 5): a tenfold fall, beyond the drift of "
                    "a noisy step-logged norm.", SIGNALS_VERSION),
    max_relative=Option(0.2, "...and its fall (its last points over its peak level) "
                        "must be at most this fraction of the training loss's fall over the "
                        "same stretch. A loss that falls takes its gradient down with it (the "
                        "ratio is 0.48 to 60 in the healthy calibration runs, 1.6 typically); "
                        "gradients that vanish while the loss stays put mean units died or "
                        "saturated.", SIGNALS_VERSION),
    min_loss_kept=Option(0.05, "...and the training loss must keep at least this fraction of "
                         "its level at the gradient norm's peak: a model that fits its data "
                         "to a loss near zero has vanishing gradients for a good reason.",
                         SIGNALS_VERSION),
)
def grad_norm_vanishing(f, p):
    """The gradient norm falls to a small fraction of its peak while the training loss does not
    fall with it.

    Why: a healthy run's gradient shrinks as its loss does. Gradients that
    vanish while the loss stays high mean the units stopped passing a
    signal: ReLUs knocked onto their flat side, or sigmoids and softmaxes
    saturated, by steps too large for them. The model stops learning at a
    poor level, and more epochs do not revive it; in the runs this was
    calibrated on, it always followed a rate far too high, never one too low
    (too small a rate leaves the gradient norm where it started).
    """
    g, loss = f.grad_norm, f.train
    if g is None or loss is None or len(g) < 6 or len(loss) < 6:
        return None
    level = curves.running_median(g.y, 5)
    k = int(np.argmax(level))
    peak, end = float(level[k]), curves.median(g.y[-3:])
    if peak <= 0 or k >= len(g) - 3:
        return None
    j = int(np.argmin(np.abs(loss.x - g.x[k])))  # the loss points nearest the peak
    loss_then = curves.median(loss.y[max(0, j - 1):j + 2])
    loss_end = loss.tail
    if loss_then <= 0:
        return None
    g_fall, loss_fall = end / peak, loss_end / loss_then
    if g_fall > p.max_fall or loss_fall < p.min_loss_kept or g_fall > p.max_relative * loss_fall:
        return None
    relative = g_fall / loss_fall
    evidence = {"series": g.name, "peak_epoch": float(g.x[k]), "peak": peak, "final": end,
                "fall": g_fall, "loss_then": loss_then, "loss_final": loss_end,
                "loss_fall": loss_fall, "relative": relative}
    loss_did = (f"rose from {fmt(loss_then)} to {fmt(loss_end)}" if loss_fall >= 1 else
                f"kept {_percent(loss_fall)} of its level then ({fmt(loss_then)} -> "
                f"{fmt(loss_end)})")
    message = (f"{g.name} fell to {_percent(g_fall)} of its peak ({fmt(peak)} around epoch "
               f"{epoch_str(g.x[k])}, {fmt(end)} at the end) while {loss.name} {loss_did}: "
               f"the gradients vanished without the loss falling")
    return Finding("grad-norm-vanishing", "lr_too_high", (float(g.x[k]), g.last_epoch), evidence,
                   message, confidence(p.max_relative / max(relative, 1e-9), 10.0))


def _collapse(f, max_fraction: float):
    """(index of the first point after the peak below ``max_fraction`` x peak, peak index), or None.

    None also when the rate comes back up afterwards (a restart, a cycle): a
    schedule that collapses for good ends below the fraction too.
    """
    lr = f.schedule
    if lr is None or len(lr) < 3:
        return None
    y = lr.y
    k = int(np.argmax(y))
    peak = float(y[k])
    if peak <= 0:
        return None  # zero at every logged point: lr-zero's case
    low = np.flatnonzero((np.arange(len(y)) > k) & (y < max_fraction * peak))
    if len(low) == 0 or y[-1] >= max_fraction * peak:
        return None
    return int(low[0]), k


@rule(
    "lr-schedule-collapsed",
    "underfitting",
    max_fraction=Option(0.02, "The logged learning rate counts as collapsed below this "
                        "fraction of its peak. A cosine or linear decay that spans the run "
                        "gets there only in its last 8%; one whose decay_steps was counted "
                        "in epochs, or an exponential decay applied every step, gets there "
                        "within the first quarter.", SIGNALS_VERSION),
    max_position=Option(0.7, "...before this fraction of the run: a schedule that ends near "
                        "zero is normal, one that is near zero for the last 30% of the run "
                        "and more has stopped the training early.", SIGNALS_VERSION),
    min_promise=Option(2.0, "...while the judged loss (validation when logged before the "
                       "collapse too) was still falling: its pace over the points before the "
                       "collapse, kept up for "
                       "the rest of the run, would have gained at least this many times its "
                       "whole improvement span. A curve that had converged before its rate "
                       "fell promises little.", SIGNALS_VERSION),
    max_realized=Option(0.2, "...and it gained at most this fraction of its improvement span "
                        "after the collapse: the loss stalled when the rate did. "
                        "(ReduceLROnPlateau cuts the rate because the loss had already "
                        "stopped: its pace before the cut promises nothing.)", SIGNALS_VERSION),
)
def lr_schedule_collapsed(f, p):
    """The logged learning rate fell to about zero long before the end while the loss was still
    falling, and the loss stalled from then on.

    Why: the model was learning at a good pace when the schedule took its
    step size away; what stopped it was the schedule, not the model or the
    base rate. The usual cause is a decay length in the wrong unit (Keras
    schedules count optimizer steps, not epochs) or a decay too fast for the
    run. Raising the base rate would not help: the fix is the schedule's
    length or its floor.
    """
    found = _collapse(f, p.max_fraction)
    if found is None:
        return None
    c, k = found
    lr = f.schedule
    x_c = float(lr.x[c])
    # The validation loss when it was logged before the collapse too, else the training loss.
    main = f.val if f.val is not None and len(f.val) >= 5 and f.val.x[0] < x_c else f.main
    if main is None or len(main) < 6:
        return None
    position = (x_c - float(lr.x[0])) / max(float(lr.x[-1] - lr.x[0]), 1e-12)
    i = int(np.searchsorted(main.x, x_c))  # first loss point at or after the collapse
    if c < 1 or i < 1 or position > p.max_position or i >= len(main) - 3:
        return None  # no loss point before the collapse to measure its pace on
    scale = max(main.span, main.sigma)
    start = max(0, i - max(3, len(main) // 10))
    pace = -main.slope(start, i + 1).slope
    remaining = float(main.x[-1] - main.x[i])
    promise = pace * remaining / scale
    realized = (float(main.y[i]) - main.tail) / scale
    if promise < p.min_promise or realized > p.max_realized:
        return None
    peak = float(lr.y[k])
    evidence = {"learning_rate_peak": peak, "peak_epoch": float(lr.x[k]),
                "collapse_epoch": x_c, "learning_rate_then": float(lr.y[c]),
                "learning_rate_final": float(lr.y[-1]), "position": position,
                "series": main.name, "pace_before": pace, "promise": promise,
                "realized": realized, "value_then": float(main.y[i]), "final": main.tail}
    fell = (f"to 0 (from its peak of {fmt(peak)})" if lr.y[c] == 0 else
            f"to {_percent(float(lr.y[c]) / peak)} of its peak ({fmt(peak)} -> {fmt(lr.y[c])})")
    message = (f"learning_rate fell {fell} by epoch {epoch_str(x_c)} of "
               f"{epoch_str(lr.x[-1])}, while {main.name} was still falling "
               f"({-pace:+.3g}/epoch); it has barely moved since ({fmt(main.y[i])} -> "
               f"{fmt(main.tail)})")
    return Finding("lr-schedule-collapsed", "underfitting", (x_c, main.last_epoch), evidence,
                   message, confidence(promise / p.min_promise, 3.0))


@rule(
    "lr-zero",
    "lr_too_low",
    max_realized=Option(0.2, "After the first epoch the loss gained at most this fraction of "
                        "its first epoch's drop (or of its noise), or fell by nothing "
                        "significant (dropout alone moves a loss whose rate is zero).",
                        SIGNALS_VERSION),
)
def lr_zero(f, p):
    """The logged learning rate is zero at every logged epoch, and the loss stood still after
    the first.

    Why: with a rate of zero no step changes a weight: whatever the loss did
    in the first epoch happened before the rate reached zero. A schedule does
    this when its decay is shorter than one epoch (decay_steps given in
    epochs, which Keras counts as optimizer steps). The loss never leaves its
    starting level, as with a rate far too low, but raising the base rate would
    not help: the schedule must span the run.
    """
    main, lr = f.main, f.schedule
    if main is None or lr is None or len(main) < 5 or len(lr) < 3 or np.any(lr.y != 0):
        return None
    first_drop = max(float(main.y[0] - main.y[1]), 0.0)
    realized = (float(main.y[1]) - main.tail) / max(first_drop, main.sigma)
    # Standing still: it gained next to nothing, or nothing it could not owe to noise.
    if realized > p.max_realized and main.slope(1).falling:
        return None
    evidence = {"logged_points": len(lr), "series": main.name, "first": float(main.y[0]),
                "value_then": float(main.y[1]), "final": main.tail, "realized": realized,
                "collapse_epoch": float(lr.x[0])}
    message = (f"learning_rate is 0 at every logged epoch, and {main.name} has stood still "
               f"since epoch {epoch_str(main.x[1])} ({fmt(main.y[1])} -> {fmt(main.tail)}): "
               f"no step changed a weight after the first epoch")
    return Finding("lr-zero", "lr_too_low", (float(main.x[0]), main.last_epoch), evidence,
                   message, 0.9)


# Each third of the run needs this many points: a ratio of two spreads estimated
# from fewer is mostly noise (15-epoch real logs "grew" 1.7-3.6 times by chance).
_MIN_THIRD = 8


def _swing(y: np.ndarray) -> float:
    """The zig-zag's size: root mean square of the second differences, over sqrt(6).

    For independent noise this is its standard deviation, as curves.noise_scale
    estimates it; unlike that robust estimate it does not look away from the
    jumps, which is what a growing oscillation is made of. A locally straight
    trend cancels out.
    """
    d = y[:-2] - 2.0 * y[1:-1] + y[2:]
    return float(np.sqrt(np.mean(d * d) / 6.0))


@rule(
    "loss-oscillation-growing",
    "lr_too_high",
    min_growth=Option(3.0, "How many times larger the training loss's zig-zag (the root mean "
                      "square of its second differences) must be over the last third of the "
                      "run than over the first (after the first two points; at least 8 points "
                      "a third). A healthy run's zig-zag stays level or shrinks as it "
                      "converges; one whose steps overshoot more and more (a rate, or a "
                      "warm-up, that grows past what the model can take) bounces wider. "
                      "At 2x, runs whose zig-zag only looked wider by chance counted too.",
                      SIGNALS_VERSION),
    min_amplitude=Option(0.1, "...and the late zig-zag must be at least this fraction of the "
                         "loss's improvement span, so that a clean curve's tiny wobble "
                         "doubling does not count.", SIGNALS_VERSION),
)
def loss_oscillation_growing(f, p):
    """The training loss's zig-zag grows: it bounces far wider at the end of the run than at
    the start.

    Why: steady oscillation is a rate at the edge of stability
    (loss-oscillating); oscillation that grows means each step overshoots by
    more than the last, and the run is heading for a spike or a blow-up. A
    schedule that raises the rate (a long warm-up, a cyclic rate) does this
    once it passes the largest stable rate.
    """
    t = f.train
    if t is None or len(t) < 2 + 3 * _MIN_THIRD:
        return None
    y, x = t.y[2:], t.x[2:]
    k = len(y) // 3
    floor = 1e-3 * max(t.span, float(np.ptp(t.y)))
    if floor <= 0:
        return None  # a loss that never moved has no swing to grow
    early = max(_swing(y[:k]), floor)
    late = max(_swing(y[-k:]), floor)
    growth = late / early
    amplitude = late / max(t.span, t.sigma)
    if growth < p.min_growth or amplitude < p.min_amplitude:
        return None
    evidence = {"growth": growth, "early_swing": early, "late_swing": late,
                "amplitude": amplitude, "early_epochs": [float(x[0]), float(x[k - 1])],
                "late_epochs": [float(x[-k]), float(x[-1])]}
    message = (f"{t.name}'s zig-zag grew {growth:.1f} times, from a typical swing of "
               f"{fmt(early)} (epochs {epoch_str(x[0])}-{epoch_str(x[k - 1])}) to {fmt(late)} "
               f"(epochs {epoch_str(x[-k])}-{epoch_str(x[-1])}), {share(amplitude)} its total "
               f"improvement")
    return Finding("loss-oscillation-growing", "lr_too_high", (float(x[-k]), float(x[-1])),
                   evidence, message, confidence(growth / p.min_growth, 3.0))
