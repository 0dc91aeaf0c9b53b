"""Rules for a run that does not get far enough: ``underfitting`` and ``lr_too_low``.

Whether a loss is "high" cannot be read from the loss alone (a weight
penalty or a different loss scale moves it), so these rules decide "high"
from accuracy evidence (chance level, an accuracy that never moves) and
decide "slow" from the curve's own shape (a fitted decay that is nowhere
near its asymptote, a curve that never bends).
"""

from __future__ import annotations

import numpy as np

from ..report import Finding
from .base import THIS_VERSION, Option, confidence, epoch_str, fmt, rule


def _last_part(y: np.ndarray) -> np.ndarray:
    """The last 60% of a series (at least 5 points)."""
    return y[-max(5, int(round(0.6 * len(y)))):]


def _binary_entropy(p: float) -> float:
    """The least entropy (nats) of class priors whose largest class has share p."""
    return float(-p * np.log(p) - (1.0 - p) * np.log(1.0 - p))


def _accuracy_headroom(f):
    """How far the accuracy is from chance toward perfect (0 = chance, 1 = perfect), or None.

    The better of training and validation accuracy: underfitting means the
    model cannot even fit its training data, so a high training accuracy
    beside a poor validation one is a gap, not underfitting.
    """
    tails = [c.tail for c in (f.metric_train, f.metric_val) if c is not None and len(c)]
    if f.accuracy is None or not tails:
        return None
    base = f.chance.accuracy if f.chance is not None else 0.0
    return (max(tails) - base) / (1.0 - base)


@rule(
    "stuck-at-chance",
    "underfitting",
    margin=Option(0.1, "Accuracy within this fraction of the way from chance (1/K) to perfect "
                  "counts as chance level."),
    prior_loss=Option(0.8, "A flat loss at or above this fraction of ln K, with an accuracy that "
                      "never rises, means the model predicts the class priors: their entropy "
                      "is 80-100% of ln K for moderately imbalanced classes."),
    frozen_range=Option(0.01, "An accuracy that spans less than this (absolute) over the last 60% "
                        "of the run, in training and validation alike, while less than half the "
                        "way from chance to perfect, is frozen: the model gives the same answer "
                        "to every input. (A good model's accuracy also stops moving once "
                        "converged; hence the 'poor' condition.)"),
    min_frozen_epochs=Option(8, "A training accuracy that repeats the same value exactly for this "
                             "many epochs, with a loss no lower than the entropy of the class "
                             "priors it implies, means the model gives every input the same class "
                             "(the majority class of imbalanced data), however high that accuracy "
                             "is.", THIS_VERSION),
)
def stuck_at_chance(f, p):
    """The accuracy stays at chance level (1/K) or freezes at one value, or the loss sits flat near the chance-level loss ln K.

    Why: a classifier at chance has learned nothing; one whose accuracy is
    frozen predicts a constant (usually the majority class). More epochs do
    not help: the model, its inputs or its learning rate must change.
    """
    acc, main = f.accuracy, f.main
    if acc is None or main is None or len(acc) < 4 or len(main) < 4:
        return None
    # Frozen means every logged accuracy (training and validation) is frozen:
    # a small validation set can hold one value for a while on its own.
    accuracies = [c for c in (f.metric_train, f.metric_val) if c is not None and len(c) >= 6]
    # ...and poor: a good model's accuracy also stops moving once converged.
    headroom = _accuracy_headroom(f)
    frozen = bool(accuracies) and headroom is not None and headroom < 0.5 and all(
        float(np.ptp(_last_part(c.y))) < p.frozen_range for c in accuracies)
    # One class for every input: the training accuracy repeats one value to
    # every digit (the majority class's share a, at most 95%: beyond that
    # "always the majority" and "learned" cannot be told apart) and the loss
    # is no lower than the entropy of a prior whose largest class is a: the
    # outputs carry nothing beyond the priors. (A converged model on a small
    # data set also repeats its accuracy, with a loss well below that.)
    train_acc = f.metric_train if f.accuracy is not None else None
    if not frozen and train_acc is not None and len(train_acc) >= p.min_frozen_epochs:
        last = train_acc.y[-int(p.min_frozen_epochs):]
        share = float(last[-1])
        frozen = bool(np.ptp(last) <= 1e-6 and 0.0 < share <= 0.95
                      and main.tail >= 0.95 * _binary_entropy(share))
    after_first = _last_part(acc.y)
    at_chance = f.chance is not None and acc.tail <= (
        f.chance.accuracy + p.margin * (1.0 - f.chance.accuracy))
    # Predicting the class priors: a flat loss near ln K while the accuracy
    # goes nowhere. (Such a model's loss is the entropy of the priors.)
    priors = (f.chance is not None and not main.still_falling
              and main.tail >= p.prior_loss * f.chance.loss and not acc.late_slope.rising
              and not acc.slope().rising)
    if not (frozen or at_chance or priors):
        return None
    evidence = {"accuracy_series": acc.name, "accuracy_final": acc.tail,
                "accuracy_range": float(np.ptp(after_first)), "loss_final": main.tail}
    if f.chance is not None:
        evidence.update(classes=f.chance.classes, chance_accuracy=f.chance.accuracy,
                        chance_loss=f.chance.loss)
    if priors and not (at_chance or frozen):
        message = (f"{main.name} stays flat at {fmt(main.tail)}, {main.tail / f.chance.loss:.0%} of the "
                   f"chance-level loss ln {f.chance.classes} = {f.chance.loss:.3g}, and {acc.name} never "
                   f"rises (ends at {acc.tail:.3f}): the model predicts the class priors")
    elif at_chance:
        message = (f"{acc.name} ends at {acc.tail:.3f}, chance level for {f.chance.classes} classes "
                   f"is {f.chance.accuracy:.3f} ({f.chance.how}); {main.name} ends at {fmt(main.tail)}")
    else:
        message = (f"{acc.name} is frozen at {acc.tail:.3f} from epoch "
                   f"{epoch_str(acc.x[len(acc) - len(after_first)])} on "
                   f"(range {np.ptp(after_first):.4f}): the model predicts the same thing for every input")
    return Finding("stuck-at-chance", "underfitting", (float(acc.x[0]), acc.last_epoch), evidence,
                   message, 0.9 if at_chance and frozen else 0.8)


@rule(
    "plateau-high",
    "underfitting",
    max_headroom=Option(0.35, "Accuracy that has covered less than this fraction of the way from "
                        "chance to perfect counts as poor."),
    max_gap=Option(0.1, "...and the training accuracy is no more than this above the validation "
                   "accuracy: a model too weak to fit its training data does as badly on new "
                   "data (a larger gap is overfitting's business).", THIS_VERSION),
)
def plateau_high(f, p):
    """The loss has stopped improving while accuracy is still poor, and validation is just as poor.

    Why: a model that has converged to a poor fit lacks capacity (or is
    over-regularised); training longer will not help, a larger model or
    better features will.
    """
    main = f.main
    headroom = _accuracy_headroom(f)
    if main is None or headroom is None or len(main) < 5 or headroom >= p.max_headroom:
        return None
    if main.still_falling:
        return None  # still improving: still-improving's business
    if f.metric_train is not None and f.metric_val is not None and len(f.metric_val):
        if f.metric_train.tail - f.metric_val.tail > p.max_gap:
            return None
    evidence = {"accuracy_series": f.accuracy.name, "accuracy_final": f.accuracy.tail,
                "accuracy_headroom": headroom, "loss_final": main.tail}
    message = (f"{main.name} has flattened at {fmt(main.tail)} while {f.accuracy.name} is only "
               f"{f.accuracy.tail:.3f} ({headroom:.0%} of the way from chance to perfect)")
    return Finding("plateau-high", "underfitting", (main.x[len(main) * 2 // 3], main.last_epoch),
                   evidence, message, confidence(p.max_headroom / max(headroom, 1e-3), 4.0))


@rule(
    "still-improving",
    "underfitting",
    min_return=Option(0.15, "What another run of the same length would still gain, as a fraction "
                      "of what this run gained. Healthy runs that are still creeping down would "
                      "gain under 10% more; runs stopped too early gain half again or more."),
    max_headroom=Option(0.9, "A classifier already this far from chance toward perfect accuracy "
                        "is not underfitting, however much its loss still falls (a real run at "
                        "98.7% accuracy with a falling loss was judged healthy by reviewers)."),
)
def still_improving(f, p):
    """The loss was still falling when training ended, fast enough that another run of the same length would buy a large part of what this one did.

    Why: the run stopped before the model learned what it can; training
    longer (or with a learning-rate schedule that does not decay to zero
    early) is the cheapest fix there is. When a validation loss is logged it
    is the one judged: if it has converged, more epochs would only widen the
    gap, however much the training loss still falls.

    The decision uses a deliberately conservative projection, half the
    current slope sustained for another run (a decaying curve slows down);
    the fitted decay curve's own projection, which can overshoot for power
    laws, is reported but never decides alone.
    """
    # What more epochs would buy is read from the validation loss when there
    # is one (that is what the user keeps), else from the training loss.
    main = f.val if f.val is not None and len(f.val) >= 5 else f.main
    if main is None or len(main) < 5 or not main.still_falling:
        return None
    if f.train is not None and main is not f.train and len(f.train) >= 5 \
            and not f.train.still_falling:
        return None
    headroom = _accuracy_headroom(f)
    if headroom is not None and headroom >= p.max_headroom:
        return None  # already accurate: more epochs would polish, not rescue
    gained = main.head - main.tail
    length = main.last_epoch - main.x[0] + 1
    conservative = 0.5 * -main.late_slope.slope * length
    fit = main.decay
    fitted = main.tail - float(fit.predict(main.last_epoch + length)) if fit is not None else conservative
    expected = min(conservative, fitted)
    if gained <= 0 or expected < p.min_return * gained:
        return None
    horizon = int(main.last_epoch + length)
    evidence = {"series": main.name, "final": main.tail, "gained": gained,
                "expected_gain": expected, "projected_epochs": horizon,
                "projected": main.tail - expected,
                "late_slope_per_epoch": main.late_slope.slope}
    if fit is not None:
        evidence.update(progress=fit.progress, asymptote=fit.asymptote, fit=fit.kind, fit_r2=fit.r2)
    message = (f"{main.name} was still falling at epoch {epoch_str(main.last_epoch)} "
               f"({main.late_slope.slope:+.3g}/epoch); another {int(length)} epochs would take it "
               f"from {fmt(main.tail)} to about {fmt(main.tail - expected)}, "
               f"{expected / gained:.0%} of what this run gained")
    return Finding("still-improving", "underfitting", (main.x[len(main) * 2 // 3], main.last_epoch),
                   evidence, message, confidence(expected / (p.min_return * gained), 3.0))


@rule(
    "loss-flat",
    "lr_too_low",
    max_bend=Option(2.0, "Ratio of the first third's slope to the last third's. A workable "
                    "learning rate gives a curve that falls fast and then bends (ratio 5-100 "
                    "in the healthy fixtures); one that creeps at the same slow pace throughout "
                    "(ratio near 1) is being held back by its step size."),
    max_progress=Option(0.5, "...and the fitted decay must be less than this far to its asymptote."),
    max_accuracy_gain=Option(0.3, "When an accuracy is logged, it must have gained less than this "
                             "fraction of the way from chance to perfect. Runs held back by a tiny "
                             "learning rate gain 5-20%; real healthy runs with a straight-looking "
                             "loss (short runs) lift accuracy 60% of the way or more."),
)
def loss_flat(f, p):
    """The loss creeps down at the same slow pace from start to end, never bending toward a plateau.

    Why: a loss curve that never bends is step-size limited: each epoch moves
    the weights by about the same small amount. (Not judged when the logged
    learning rate changes during the run: then the step size was not fixed.) A small
    step changes the loss in proportion to its size, so the run's own pace
    says how many times larger the rate must be (see docs/fixes.md).
    """
    main = f.main
    if main is None or len(main) < 12:
        return None  # the first and last thirds (6 points each) must not overlap
    if f.learning_rate is not None and any(rate < 0.25 * f.learning_rate
                                           for _, rate in f.learning_rate_changes):
        return None  # a schedule cut the step size: "never bends" says nothing about it
    early, late = main.early_slope, main.late_slope
    if not (early.falling and late.slope < 0):
        return None
    val = f.val
    headroom = _accuracy_headroom(f)
    if headroom is not None and headroom >= 0.9:
        return None  # already accurate: not held back by its step size
    if (val is not None and val is not main and len(val) >= 12 and not val.still_falling
            and f.chance is not None and headroom is not None and headroom < 0.1):
        return None  # validation flat at chance level: a stuck model, not a slow one
    bend = early.slope / late.slope
    fit = main.decay
    progress = fit.progress if fit is not None else 0.0
    if bend > p.max_bend or progress > p.max_progress:
        return None
    acc = f.accuracy
    if acc is not None and len(acc) >= 3:
        # Gain counts from chance up: climbing from below chance to chance is no progress.
        base = f.chance.accuracy if f.chance is not None else 0.0
        gain = (acc.tail - max(acc.head, base)) / (1.0 - base)
        if gain >= p.max_accuracy_gain:
            return None
    evidence = {"early_slope": early.slope, "late_slope": late.slope, "bend": bend,
                "progress": progress, "start": main.head, "final": main.tail}
    if f.learning_rate is not None:
        evidence["learning_rate"] = f.learning_rate
    message = (f"{main.name} fell by {-early.slope:.3g} per epoch early and still by "
               f"{-late.slope:.3g} per epoch at the end (from {fmt(main.head)} to "
               f"{fmt(main.tail)}): the curve never bends")
    return Finding("loss-flat", "lr_too_low", (float(main.x[0]), main.last_epoch), evidence, message,
                   confidence(p.max_bend / max(bend, 1e-3), 2.0))


@rule(
    "loss-never-moves",
    "lr_too_low",
    max_drop=Option(4.0, "The most the loss may ever get below its first epoch, in noise standard "
                    "deviations, for the curve to count as never having left its starting level. "
                    "A run that learns drops hundreds of sigmas in its first epochs (Keras' "
                    "first-epoch loss averages over the fast initial descent); a run held in "
                    "place stays within a few sigmas of where it began.", THIS_VERSION),
    max_headroom=Option(0.5, "When an accuracy is logged, it must be less than this far from "
                        "chance toward perfect: a model that resumed from trained weights also "
                        "has a loss that stays put, at a good level.", THIS_VERSION),
    max_chance_drop=Option(0.05, "For a classifier whose chance level is known: a loss that starts "
                           "at ln K and never gets more than this fraction of ln K below its first "
                           "epoch has not left its starting level, however smooth its creep "
                           "(PRODUCT.md: 'creeping at most a few percent').", THIS_VERSION),
)
def loss_never_moves(f, p):
    """The loss never leaves its starting level: from the first epoch on it gets no lower than its own noise.

    Why: a model that learns anything moves its loss from the first epoch on.
    One that stays put is taking steps too small to matter (a learning rate
    orders of magnitude too low), or it cannot learn at all (frozen or dead
    layers, inputs that carry no signal). Only the logged learning rate tells
    the two apart; without it the report names both.
    """
    main = f.main
    if main is None or len(main) < 3:
        return None
    if len(main) < 5 and np.ptp(main.y) > 1e-9 * max(1.0, float(np.abs(main.y).max())):
        return None  # too short to know its noise: only an exactly constant loss is judged
    drop = float(main.y[0] - main.y.min())
    chance = f.chance
    # Near ln K the creep must still be going on: a model that fell a little,
    # bent and stopped at chance (a linear model on circles) moved and
    # levelled off, which is underfitting.
    near_chance = (chance is not None and main.y[0] >= (1.0 - p.max_chance_drop) * chance.loss
                   and drop <= p.max_chance_drop * chance.loss and main.late_slope.falling)
    if drop > p.max_drop * main.sigma and not near_chance:
        return None
    headroom = _accuracy_headroom(f)
    if headroom is not None and headroom >= p.max_headroom:
        return None
    evidence = {"first": float(main.y[0]), "lowest": float(main.y.min()), "final": main.tail,
                "drop_sigmas": drop / main.sigma if main.sigma > 0 else 0.0,
                "noise_sigma": main.sigma, "learning_rate": f.learning_rate}
    within = (f"{drop / chance.loss:.1%} of the chance-level loss ln {chance.classes}"
              if near_chance else "within its own noise")
    message = (f"{main.name} never left its starting level: it began at {fmt(main.y[0])} and got "
               f"no lower than {fmt(main.y.min())}, {within}")
    if f.learning_rate is None:
        message += ("; the log has no learning rate, so a rate far too low and a model that "
                    "cannot learn (dead or frozen layers, inputs without signal) look the same")
    return Finding("loss-never-moves", "lr_too_low", (float(main.x[0]), main.last_epoch), evidence,
                   message, 0.7 if f.learning_rate is None else 0.8)


@rule(
    "train-below-val",
    "underfitting",
    min_gap=Option(0.1, "How far the final training accuracy must stay below the validation "
                   "accuracy. Keras measures training accuracy with dropout switched on; "
                   "moderate dropout costs a few points, dropout of 0.7-0.9 or heavy "
                   "augmentation costs 15-50.", THIS_VERSION),
)
def train_below_val(f, p):
    """The training accuracy stays far below the validation accuracy: regularization that acts only in training (dropout, noise, augmentation) is so strong that the model cannot fit its own training batches.

    Why: a model that does worse on the data it trains on than on data it
    never saw is being held back on purpose, and too hard: the training
    signal is mostly noise. Lowering the dropout rate (or the augmentation)
    lets it fit; the validation accuracy usually rises with it.
    """
    train, val = f.metric_train, f.metric_val
    if f.accuracy is None or train is None or val is None or len(train) < 5 or len(val) < 5:
        return None
    gap = val.tail - train.tail
    if gap < p.min_gap:
        return None
    evidence = {"train_accuracy": train.tail, "val_accuracy": val.tail, "gap": gap}
    message = (f"{train.name} ends at {train.tail:.3f}, {gap:.2f} below {val.name} "
               f"({val.tail:.3f}): the model cannot fit its own training batches under its "
               f"train-time regularization")
    return Finding("train-below-val", "underfitting", (float(train.x[0]), train.last_epoch),
                   evidence, message, confidence(gap / p.min_gap, 4.0))
