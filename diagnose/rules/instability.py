"""Rules for an unstable run: the learning rate is too high (``lr_too_high``)."""

from __future__ import annotations

import numpy as np

from .. import curves
from ..report import Finding
from .base import THIS_VERSION, Option, confidence, epoch_str, fmt, rule, share, times_said


@rule("loss-nan", "lr_too_high")
def loss_nan(f, p):
    """The loss became NaN or infinite.

    Why: once the loss is NaN every weight it touches is NaN too, and the run
    is lost from that epoch on. A loss that climbed and then overflowed points
    at a learning rate far too high; NaN from the very first epoch points at
    the data (NaN or inf inputs) or a loss/activation mismatch
    (``from_logits``) at least as much as at the learning rate.
    """
    for curve in (f.train, f.val):
        if curve is None or len(curve.bad_epochs) == 0:
            continue
        first = float(curve.bad_epochs[0])
        before = curve.y[curve.x < first]
        evidence = {
            "series": curve.name,
            "first_bad_epoch": first,
            "bad_epochs": len(curve.bad_epochs),
            "logged_epochs": curve.n_logged,
            "last_finite": float(before[-1]) if len(before) else None,
            "best_before": float(before.min()) if len(before) else None,
            "from_first_epoch": len(before) == 0,
        }
        later = curve.x[curve.x > first]  # finite again after it (a rewound or repaired run)
        share = (f"{len(curve.bad_epochs)} of {curve.n_logged} logged epochs "
                 f"{'is' if len(curve.bad_epochs) == 1 else 'are'} NaN/inf")
        if len(before) == 0 and len(later) == 0:
            message = (f"{curve.name} is NaN/inf from the first epoch on: a rate far too high, or "
                       f"NaN/inf in the inputs or a loss that does not fit the last layer "
                       f"(from_logits)")
        elif len(before) == 0:
            message = (f"{curve.name} was NaN/inf from the first epoch and finite again from epoch "
                       f"{epoch_str(later[0])}; {share}")
        else:
            trend = ("after climbing from " + fmt(before.min()) + " to " + fmt(before[-1])
                     if before[-1] > before.min() + 3 * curves.noise_scale(before) else
                     "after " + fmt(before[-1]))
            message = f"{curve.name} became NaN/inf at epoch {epoch_str(first)} {trend}; {share}"
        # A training loss that blows up is the textbook symptom; a validation
        # loss that does while training stays finite is a weaker sign.
        conf = 0.95 if curve is f.train else 0.7
        return Finding("loss-nan", "lr_too_high", (first,), evidence, message, conf)
    return None


@rule(
    "loss-diverging",
    "lr_too_high",
    min_giveback=Option(0.5, "Fraction of its own improvement the training loss must give back "
                        "(from its best to its final level). Training loss, unlike validation "
                        "loss, does not rise under overfitting; giving back half of the progress "
                        "is far outside what epoch-to-epoch noise does in the fixture runs."),
    min_sigmas=Option(4.0, "The rise must also exceed this many noise standard deviations, so a "
                      "flat, noisy curve is not called diverging."),
)
def loss_diverging(f, p):
    """The training loss climbs: it ends above its best by a large part of what it had gained, or above where it started.

    Why: gradient descent with a workable learning rate does not make the
    training loss worse for long. A training loss that climbs back means the
    steps overshoot: the optimiser is bouncing out of the minimum it found.
    """
    t = f.train
    if t is None or len(t) < 3:
        return None
    if len(t) < 6:
        # Too few points for a significant trend or a noise estimate: a short
        # run diverges when its loss rose at every single epoch.
        if not np.all(np.diff(t.y) > 0):
            return None
        evidence = {"best_epoch": t.best_epoch, "best": t.best, "final": t.last,
                    "start": float(t.y[0]), "giveback": None, "noise_sigma": t.sigma}
        message = (f"{t.name} rose at every epoch, from {fmt(t.y[0])} to {fmt(t.last)} by epoch "
                   f"{epoch_str(t.last_epoch)}")
        return Finding("loss-diverging", "lr_too_high", (float(t.x[0]), t.last_epoch), evidence,
                       message, 0.6)
    # The minimum of a noisy curve sits about a sigma below its floor.
    rise = t.tail - (t.best + t.sigma)
    if rise < p.min_sigmas * t.sigma:
        return None
    above_start = t.tail > t.head + p.min_sigmas * t.sigma
    # "Giving back" needs something to give back: a curve that never
    # improved beyond its noise can only diverge by ending above its start.
    improved = t.span >= p.min_sigmas * t.sigma
    giveback = rise / max(t.span, t.sigma)
    if not (above_start or improved and giveback >= p.min_giveback):
        return None
    if not t.slope(t.best_index).rising:
        return None
    evidence = {
        "best_epoch": t.best_epoch, "best": t.best, "final": t.tail, "start": t.head,
        "giveback": giveback, "noise_sigma": t.sigma,
    }
    where = "above where it started" if above_start else f"{giveback:.0%} of its improvement given back"
    message = (f"{t.name} fell to {fmt(t.best)} at epoch {epoch_str(t.best_epoch)} and climbed back "
               f"to {fmt(t.tail)} by epoch {epoch_str(t.last_epoch)} ({where}; start {fmt(t.head)})")
    margin = max(giveback / p.min_giveback, 3.0 if above_start else 0.0)
    return Finding("loss-diverging", "lr_too_high", (t.best_epoch, t.last_epoch), evidence,
                   message, confidence(margin))


@rule(
    "loss-spikes",
    "lr_too_high",
    min_height=Option(0.3, "How far the loss must climb back above its best so far, as a fraction "
                      "of its own improvement span (start to best). Healthy fixture runs never "
                      "rebound by more than a few percent of their span; the unstable ones "
                      "rebound by 30% to several times their span."),
    sigmas=Option(6.0, "...and by at least this many noise standard deviations (MAD-based), so a "
                  "tiny, very clean curve does not spike on rounding noise; Gaussian "
                  "epoch-to-epoch noise essentially never reaches 6 sigma."),
)
def loss_spikes(f, p):
    """The training loss jumps back above its best so far, for one epoch or several, by a large part of its progress.

    Why: a spike is one or more oversized steps that threw the weights out of
    the valley they were in; Adam's running moments then need epochs to
    recover. Repeated spikes cost epochs, and the next one may not come back.
    A bump that lasts several epochs is the same failure, slower.
    """
    t = f.train
    if t is None or len(t) < 6:
        return None
    scale = max(t.span, t.sigma)
    rebound = t.y - np.minimum.accumulate(t.y)
    threshold = max(p.min_height * scale, p.sigmas * t.sigma)
    above = rebound > threshold
    above[:2] = False  # the first two epochs move fastest and are rough by nature
    if not above.any():
        return None
    # One episode per stretch of consecutive epochs above the threshold.
    starts = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    ends = np.flatnonzero(above & ~np.concatenate([above[1:], [False]]))
    peaks = [int(a + np.argmax(rebound[a:b + 1])) for a, b in zip(starts, ends)]
    heights = rebound[peaks] / scale
    epochs = tuple(float(t.x[i]) for i in peaks)
    evidence = {"spike_epochs": list(epochs), "largest_spike": float(heights.max()),
                "noise_sigma": t.sigma, "span": t.span}
    shown = ", ".join(epoch_str(e) for e in epochs[:6]) + (", ..." if len(epochs) > 6 else "")
    where = f"epoch{'s' if len(epochs) > 1 else ''} {shown}"
    measure = "whole improvement" if t.span >= t.sigma else "epoch-to-epoch noise"
    message = (f"{t.name} jumped back above its best {times_said(len(peaks))} ({where}); the "
               f"largest rebound was {share(float(heights.max()))} the loss's {measure}")
    return Finding("loss-spikes", "lr_too_high", epochs, evidence, message,
                   confidence(float(heights.max()) / p.min_height * (1 + 0.3 * (len(peaks) - 1))),
                   events=True)


@rule(
    "loss-exploded",
    "lr_too_high",
    min_ratio=Option(1000.0, "How far the first epoch's loss stands above the rest of the run, in "
                     "units of the rest's own range. A large first epoch is normal (healthy real "
                     "runs reach 20-30x); a thousand times means the weights blew up."),
    frozen_ratio=Option(20.0, "When the loss is frozen (identical values at the end), a first "
                        "epoch this far above the rest is enough: the blow-up killed the units. "
                        "(A tolerance relative to the first epoch's drop was tried and rejected: "
                        "it called a healthy Adagrad run with a 9381 -> 60 first step frozen.)"),
)
def loss_exploded(f, p):
    """The training loss was off the scale in the first epoch, or froze at one exact value after a blow-up.

    Why: a first-epoch loss thousands of times above the rest means the
    first steps threw the weights to huge values; a loss that then repeats
    the same value to every digit means no gradient flows any more (dead
    ReLUs, saturated outputs). Either way the step size was far too large.
    """
    t = f.train
    if t is None or len(t) < 4:
        return None
    rest = t.y[1:]
    spread = float(np.ptp(rest)) + curves.noise_scale(rest)
    ratio = (t.y[0] - curves.median(rest)) / spread
    tail = rest[-5:]
    frozen = len(rest) >= 5 and float(np.ptp(tail)) <= 1e-9 + 1e-6 * abs(float(tail[-1]))
    if not (ratio >= p.min_ratio or frozen and ratio >= p.frozen_ratio):
        return None
    evidence = {"first": float(t.y[0]), "rest_median": curves.median(rest),
                "ratio": float(ratio), "frozen": frozen}
    message = (f"{t.name} was {fmt(t.y[0])} in epoch {epoch_str(t.x[0])} against "
               f"{fmt(curves.median(rest))} afterwards")
    if frozen:
        message += f", and it froze at exactly {fmt(tail[-1])}: no gradient flows any more"
    return Finding("loss-exploded", "lr_too_high", (float(t.x[0]),), evidence, message,
                   confidence(ratio / (p.frozen_ratio if frozen else p.min_ratio)))


@rule(
    "loss-oscillating",
    "lr_too_high",
    min_flip_rate=Option(0.8, "Fraction of epochs whose direction flips (up after down). "
                         "Independent noise around a trend flips about 2/3 of the time (0.65-0.69 "
                         "on noisy but healthy real logs); an optimiser overshooting back and "
                         "forth flips nearly every epoch."),
    min_amplitude=Option(0.2, "Noise standard deviation as a fraction of the improvement span. "
                         "A healthy run's epoch-to-epoch noise is a few percent of what it "
                         "gains; a loss bouncing by a fifth of its whole progress every epoch is "
                         "not converging smoothly."),
    plateau_amplitude=Option(0.5, "A noisy plateau: noise this large a fraction of the improvement "
                             "span, around a trend that no longer falls, counts whatever the flip "
                             "rate (independent noise flips about 2/3 of the time). Adam or RMSprop "
                             "with too large a step stall early and then bounce by half of all "
                             "they gained.", THIS_VERSION),
)
def loss_oscillating(f, p):
    """The training loss zig-zags up and down by a large fraction of its progress.

    Why: an oscillating loss is the optimiser stepping across the valley
    instead of down it; the run converges slowly, if at all, to a worse point.
    """
    t = f.train
    if t is None or len(t) < 8:
        return None
    flips = curves.sign_changes(t.y)
    scale = max(t.span, 1e-12)
    amplitude = t.sigma / scale
    zigzag = flips >= p.min_flip_rate and amplitude >= p.min_amplitude
    plateau = amplitude >= p.plateau_amplitude and not t.late_slope.falling
    if not (zigzag or plateau):
        return None
    evidence = {"flip_rate": flips, "amplitude": amplitude, "noise_sigma": t.sigma, "span": t.span}
    if zigzag:
        message = (f"{t.name} changes direction on {flips:.0%} of epochs with swings of "
                   f"{share(amplitude)} its total improvement (sigma {fmt(t.sigma)})")
    else:
        message = (f"{t.name} bounces by {share(amplitude)} its total improvement (sigma "
                   f"{fmt(t.sigma)}) around a level it no longer improves on")
    return Finding("loss-oscillating", "lr_too_high", (float(t.x[0]), t.last_epoch), evidence,
                   message, confidence(amplitude / p.min_amplitude))


@rule(
    "loss-above-chance",
    "lr_too_high",
    min_excess=Option(0.2, "How far above the chance-level loss ln K a classifier's final loss must "
                      "sit, as a fraction of ln K, to be worse than guessing: the class priors "
                      "alone give at most ln K.", THIS_VERSION),
    blowup=Option(2.0, "A first-epoch loss this many times ln K means the first steps blew the "
                  "weights up: a freshly initialised classifier starts within about 1.6 x ln K.",
                  THIS_VERSION),
    max_headroom=Option(0.2, "...while the final accuracy is within this fraction of the way "
                        "from chance (1/K) to perfect: the model has learned nothing (the majority "
                        "class of moderately imbalanced data sits 10-20% of the way).",
                        THIS_VERSION),
)
def loss_above_chance(f, p):
    """A classifier ends worse than guessing, or collapses to guessing after its first epoch blew up, with its accuracy at chance.

    Why: a loss above ln K with chance accuracy means the outputs are
    confidently wrong, and a first epoch far above ln K that then settles at
    chance is the trace of a blow-up that killed the units (dead ReLUs,
    saturated outputs). Neither is a model too small to learn: the steps were
    too large.
    """
    main, acc = f.main, f.accuracy
    if main is None or acc is None or len(main) < 4 or f.chance is None:
        return None
    chance = f.chance
    base = chance.accuracy
    if (acc.tail - base) / (1.0 - base) >= p.max_headroom:
        return None
    worse = main.tail >= (1.0 + p.min_excess) * chance.loss
    # A blow-up drops most of the way in one epoch; a weight penalty also
    # inflates the first epoch, but its loss then decays over many.
    excess = main.y[0] - main.tail
    collapsed = (main.y[0] >= p.blowup * chance.loss and main.tail >= 0.9 * chance.loss
                 and not main.still_falling and main.y[1] - main.tail < 0.25 * excess)
    if not (worse or collapsed):
        return None
    evidence = {"first": float(main.y[0]), "final": main.tail, "chance_loss": chance.loss,
                "classes": chance.classes, "accuracy_final": acc.tail}
    if worse:
        message = (f"{main.name} ends at {fmt(main.tail)}, {main.tail / chance.loss:.1f} times the "
                   f"chance-level loss ln {chance.classes} = {chance.loss:.3g}, with {acc.name} at "
                   f"chance ({acc.tail:.3f}): worse than guessing")
    else:
        message = (f"{main.name} started at {fmt(main.y[0])}, {main.y[0] / chance.loss:.1f} times ln "
                   f"{chance.classes}, and collapsed to {fmt(main.tail)} with {acc.name} at chance "
                   f"({acc.tail:.3f}): the first steps blew the weights up")
    margin = max(main.tail / ((1.0 + p.min_excess) * chance.loss), main.y[0] / (p.blowup * chance.loss))
    return Finding("loss-above-chance", "lr_too_high", (float(main.x[0]), main.last_epoch), evidence,
                   message, confidence(margin, 2.0))


@rule(
    "accuracy-collapse",
    "lr_too_high",
    min_giveback=Option(0.5, "Fraction of its gain (from its first epoch to its best) the training "
                        "accuracy must give back by the end. Overfitting never lowers the training "
                        "accuracy, and a converged run's accuracy wobbles by a few percent of its "
                        "gain.", THIS_VERSION),
    min_drop=Option(0.05, "...and by at least this much in absolute accuracy, so a run that "
                    "barely moved cannot collapse on rounding.", THIS_VERSION),
)
def accuracy_collapse(f, p):
    """The training accuracy rose and then fell back most of the way to where it started.

    Why: the training accuracy measures fit to the data the optimiser sees;
    it falls only when the steps are so large that they throw the weights
    out of the region they had found. Overfitting lowers the validation
    accuracy, never the training one.
    """
    acc = f.metric_train if f.accuracy is not None else None
    if acc is None or acc.direction != "max" or len(acc) < 6:
        return None
    start = float(acc.y[0])
    gain = acc.best - start
    fall = acc.best - acc.tail
    if gain <= 0 or fall < p.min_giveback * gain or fall < p.min_drop:
        return None
    # A heavy weight penalty also erodes the accuracy, but under it the loss
    # falls smoothly; unstable steps make the loss itself bounce.
    loss = f.train
    if loss is None:
        return None
    after = loss.y[loss.x >= acc.best_epoch]
    if len(after) < 3 or np.mean(np.diff(after) > 0) < 0.2:
        return None
    evidence = {"series": acc.name, "start": start, "best": acc.best,
                "best_epoch": acc.best_epoch, "final": acc.tail, "giveback": fall / gain}
    message = (f"{acc.name} rose from {start:.3f} to {acc.best:.3f} at epoch "
               f"{epoch_str(acc.best_epoch)} and fell back to {acc.tail:.3f} ({fall / gain:.0%} of "
               f"its gain lost)")
    return Finding("accuracy-collapse", "lr_too_high", (acc.best_epoch, acc.last_epoch), evidence,
                   message, confidence(fall / (p.min_giveback * gain), 2.0))
