"""Rules for a model that learns the training set at the expense of new data (``overfitting``)."""

from __future__ import annotations

import numpy as np

from .. import curves
from ..report import Finding
from .base import THIS_VERSION, Option, confidence, epoch_str, fmt, rule


def _times(ratio: float) -> str:
    """A ratio as a whole number, or in powers of ten when it has more digits than anyone reads."""
    return f"{ratio:.0f}" if ratio < 1e6 else fmt(ratio)


def _train_at(t, epoch: float) -> float:
    """The training loss level around ``epoch`` (median of up to 3 points)."""
    i = int(np.searchsorted(t.x, epoch))
    return curves.median(t.y[max(0, i - 1): i + 2])


@rule(
    "val-loss-rising",
    "overfitting",
    min_rise=Option(0.1, "Rise of the validation loss from its best to its final level, as a "
                    "fraction of the run's improvement scale (the larger of the training and "
                    "validation loss's start-to-best drop). 0.1 separates the overfitting "
                    "fixtures, which give back 15% or more, from healthy runs whose validation "
                    "loss wobbles around its floor."),
    min_trending_rise=Option(0.03, "A smaller rise also counts when the validation loss has been "
                             "rising steadily since its best (Theil-Sen slope significantly "
                             "positive): a smooth 120-epoch climb of 4% of the improvement is "
                             "overfitting; a noisy floor a few percent above the best is not."),
    min_sigmas=Option(3.0, "The rise must also exceed this many standard errors of the settled "
                      "level (the noise of a median of the points after the best), so a noisy "
                      "floor is not mistaken for a rise."),
    min_after=Option(3, "Validation points needed after the best epoch to call a trend."),
)
def val_loss_rising(f, p):
    """The validation loss reached its best and then rose while the training loss kept falling.

    Why: from the best validation epoch on, the model fits the training set
    better at the expense of unseen data; every further epoch makes the model
    you would deploy worse. The weights of the best epoch are the ones to keep.
    """
    v, t = f.val, f.train
    if v is None or len(v) < 5:
        return None
    b = v.best_index
    if len(v) - 1 - b < p.min_after:
        return None
    # The level the curve settled at after its best: the median of the latter
    # half of the points after it (robust to a spike, and on a noisy curve
    # far steadier than the last few points).
    after = v.y[b + 1:]
    settled = after[len(after) // 2:]
    level = curves.median(settled)
    # Compare against the best corrected for its noise bias (the minimum of
    # a noisy curve sits about a sigma below its true floor; a running median
    # would erase a genuine narrow best), and against the noise of a median
    # of len(settled) points, ~1.25 sigma / sqrt(m), not of a single point.
    best_level = min(v.best + v.sigma, float(np.min(v.median5)))
    rise = level - min(best_level, level)
    scale = max(v.span, t.span if t is not None and len(t) else 0.0, v.sigma)
    noise = 1.25 * v.sigma / np.sqrt(len(settled))
    trending = v.slope(b).rising
    if rise < p.min_sigmas * noise:
        return None
    if rise < p.min_rise * scale and not (trending and rise >= p.min_trending_rise * scale):
        return None
    last = after[-int(p.min_after):]
    if not (trending or np.all(last > v.best + v.sigma)):
        return None
    evidence = {"best_epoch": v.best_epoch, "best": v.best, "final": level,
                "rise": rise / scale, "noise_sigma": v.sigma,
                "epochs_after_best": int(len(v) - 1 - b)}
    train_part = ""
    if t is not None and len(t) >= 3:
        at_best, at_end = _train_at(t, v.best_epoch), t.tail
        if at_end >= at_best - t.sigma:
            return None  # training got no better either (within its noise): not overfitting
        evidence.update(train_at_best=at_best, train_final=at_end)
        train_part = f" while {t.name} went from {fmt(at_best)} to {fmt(at_end)}"
    message = (f"{v.name} was best at epoch {epoch_str(v.best_epoch)} ({fmt(v.best)}) and rose to "
               f"about {fmt(level)} by epoch {epoch_str(v.last_epoch)}{train_part}")
    margin = min(rise / (p.min_rise * scale) if not trending else rise / (p.min_trending_rise * scale),
                 rise / (p.min_sigmas * noise))
    return Finding("val-loss-rising", "overfitting", (v.best_epoch, v.last_epoch), evidence,
                   message, confidence(margin))


@rule(
    "gap-widening",
    "overfitting",
    min_widening=Option(0.15, "Growth of the validation-minus-training gap over the second half "
                        "of the run, as a fraction of the run's improvement scale. A stable gap "
                        "(healthy: the validation set is just harder) does not grow; reviewers "
                        "called a run overfitting at 17% (train still falling fast, validation "
                        "flat)."),
)
def gap_widening(f, p):
    """The training loss keeps falling while the validation loss has stalled, so the gap between them keeps widening.

    Why: when the validation loss stops improving but the training loss does
    not, the extra progress is memorisation. The run has stopped buying
    generalisation, and a rise of the validation loss usually follows.
    """
    v, t = f.val, f.train
    if v is None or t is None or len(v) < 8 or len(t) < 8:
        return None
    both = np.intersect1d(v.x, t.x)
    if len(both) < 8:
        return None
    half = both[len(both) // 2:]
    gap = np.interp(half, v.x, v.y) - np.interp(half, t.x, t.y)
    gap_slope = curves.theil_sen(half, gap)
    widening = gap_slope.slope * (half[-1] - half[0])
    scale = max(v.span, t.span, v.sigma)
    if not gap_slope.rising or widening < p.min_widening * scale:
        return None
    if v.still_falling or not t.still_falling:
        return None  # validation still improving, or training no longer is
    recent = max(2, len(v) // 4)
    if v.y[-recent:].min() < v.y[:-recent].min() - v.sigma:
        return None  # validation just made a new best: not stalled
    evidence = {"gap_start": float(gap[0]), "gap_end": float(gap[-1]),
                "widening": widening / scale, "from_epoch": float(half[0])}
    message = (f"from epoch {epoch_str(half[0])} the gap {v.name} - {t.name} grew from "
               f"{fmt(gap[0])} to {fmt(gap[-1])} while {v.name} stalled near {fmt(v.tail)}")
    return Finding("gap-widening", "overfitting", (float(half[0]), float(half[-1])), evidence,
                   message, confidence(widening / (p.min_widening * scale)))


@rule(
    "val-stalled",
    "overfitting",
    max_best_at=Option(0.6, "The validation loss must have had its best in the first this-fraction "
                       "of the run, and not improved since: a long stall, not a late wobble.",
                       THIS_VERSION),
    min_train_fall=Option(2.0, "...while the training loss fell at least this many times lower "
                          "after that best epoch: the model kept fitting its training set.",
                          THIS_VERSION),
    min_ratio=Option(5.0, "...and ends at least this many times below the validation loss. A "
                     "healthy classifier's validation loss ends 1-3 times its training loss; one "
                     "that memorises its training set drives the training loss toward zero.",
                     THIS_VERSION),
)
def val_stalled(f, p):
    """A classifier's validation loss stalled early while its training loss kept falling toward zero, far below it.

    Why: a validation loss that has not improved for most of the run, beside
    a training loss still shrinking by factors, is a model memorising its
    training set: every epoch after the stall buys nothing on new data. The
    validation loss need not rise much for this to cost epochs and
    robustness. Judged for classifiers only, whose cross-entropy has a true
    zero at a perfect fit, so that "times lower" means something; a weight
    penalty keeps the training loss off zero and only makes the rule more
    cautious.
    """
    v, t = f.val, f.train
    if f.accuracy is None or v is None or t is None or len(v) < 8 or len(t) < 8:
        return None
    if v.best_index > p.max_best_at * (len(v) - 1) or t.tail <= 0 or v.tail <= 0:
        return None
    at_best = _train_at(t, v.best_epoch)
    if at_best < p.min_train_fall * t.tail or v.tail < p.min_ratio * t.tail:
        return None
    evidence = {"best_epoch": v.best_epoch, "best": v.best, "final": v.tail,
                "train_at_best": at_best, "train_final": t.tail, "ratio": v.tail / t.tail}
    message = (f"{v.name} has not improved since epoch {epoch_str(v.best_epoch)} ({fmt(v.best)}; "
               f"about {fmt(v.tail)} at the end) while {t.name} fell from {fmt(at_best)} to "
               f"about {fmt(t.tail)}, {_times(v.tail / t.tail)} times below it")
    return Finding("val-stalled", "overfitting", (v.best_epoch, v.last_epoch), evidence, message,
                   confidence(v.tail / (p.min_ratio * t.tail), 4.0))
