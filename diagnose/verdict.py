"""From features and findings to a verdict: which conditions, which fixes, what could not be judged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .features import Features
from .fixes import (early_stopping_fix, epochs_per_point, fixes_for, noise_patience, still_best_fix,
                    replay_early_stopping)
from .metrics import metric_names
from .report import PROBLEMS, Finding, Report, count
from .rules import RULES
from .run import Run, bin_long_run, bin_steps

# Fewer finite points than this and no curve shape can be told from noise:
# the report says so instead of guessing (a NaN is still reported).
MIN_POINTS = 3
# Step-logged runs longer than this are judged on this many bins (see bin_steps).
STEP_BINS = 40
# Epoch-logged runs longer than this are judged on this many bins of consecutive
# epochs (see bin_long_run): far more than any rule needs, at a bounded cost.
MAX_JUDGED_EPOCHS = 10_000
# Overfitting needs a validation curve with a best epoch and a few epochs after it.
MIN_VAL_POINTS = 5

# When two conditions are found from the same evidence, the more specific
# explanation wins: (loser, winner rules that overrule it).
_OVERRULED = {
    # A curve that never bends is step-size limited; "train longer" would be
    # the wrong cure. But a classifier stuck at chance is underfitting first.
    "still-improving": ("loss-flat", "val-loss-rising", "gap-widening", "loss-nan", "loss-diverging",
                        "loss-exploded", "val-stalled", "loss-never-moves"),
    "loss-flat": ("loss-nan", "loss-diverging", "loss-spikes", "loss-oscillating",
                  "val-loss-rising", "gap-widening", "loss-exploded"),
    # A model at chance whose loss (and validation loss) still creeps down
    # steadily is being held back by its step size, not by its capacity.
    "plateau-high": ("stuck-at-chance", "loss-nan", "loss-diverging", "loss-flat", "loss-exploded",
                     "loss-never-moves", "loss-above-chance"),
    # A model that never left its starting level is flat, not one that learned
    # and levelled off; one knocked back to chance by unstable steps ("accuracy
    # collapsing to chance") has a learning-rate problem, not a capacity one
    # (PRODUCT.md, both).
    "stuck-at-chance": ("loss-nan", "loss-diverging", "loss-flat", "loss-exploded",
                        "loss-never-moves", "loss-above-chance", "loss-spikes",
                        "loss-oscillating", "accuracy-collapse"),
    "loss-never-moves": ("loss-nan", "loss-diverging", "loss-spikes", "loss-oscillating",
                         "loss-exploded", "loss-above-chance"),
    # A model at chance has learned nothing it could overfit.
    "gap-widening": ("stuck-at-chance",),
    "val-loss-rising": ("stuck-at-chance",),
    "val-stalled": ("stuck-at-chance",),
    # Unstable steps also knock the training accuracy below validation's, and
    # a model that never moved has a bigger problem than its dropout.
    "train-below-val": ("loss-nan", "loss-diverging", "loss-spikes", "loss-oscillating",
                        "loss-exploded", "loss-above-chance", "accuracy-collapse",
                        "loss-never-moves", "loss-flat"),
    # A rate of zero, or one a schedule took away, freezes the loss: the frozen
    # loss is then no sign of a blow-up or of a noisy plateau (rules/signals.py).
    "loss-exploded": ("lr-zero", "lr-schedule-collapsed"),
    "loss-oscillating": ("lr-zero", "lr-schedule-collapsed"),
}


def judge(run: Run, options) -> Report:
    """The report of ``run``, which it keeps (as judged, before any binning) for drawing.

    Its ``warnings`` (diagnose.warnings) say what is wrong with the log rather
    than the training; they never change the verdict.
    """
    from .warnings import check

    features = features_of(run, options)
    return replace(conclude(features, options), run=run, warnings=check(run, features))


def features_of(run: Run, options) -> Features:
    """The curve features of ``run`` (step-logged and very long runs binned first).

    Separate from :func:`conclude` so that a calibration can judge the same
    features under many rule thresholds: the features do not depend on them.
    """
    if run.granularity == "step" and len(run) > STEP_BINS:
        run = bin_steps(run, STEP_BINS)
    else:
        run = bin_long_run(run, MAX_JUDGED_EPOCHS)
    return Features(run, loss=options.loss, monitor=options.monitor, metric=options.metric,
                    learning_rate=options.learning_rate, optimizer=options.optimizer)


def conclude(features: Features, options) -> Report:
    """Rules, verdict and fixes for one run's features."""
    # A diverged run can log losses near 1e308; squaring them overflows to
    # inf, which the rules handle as "huge". That is expected, not a warning.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _conclude(features, options)


def _conclude(features: Features, options) -> Report:
    run = features.run
    limitations = list(features.notes)
    unknown = [m.name for m in metric_names(run.names) if m.direction is None]
    if unknown:
        limitations.append(f"direction unknown for {', '.join(unknown)}: not used")
    main = features.main
    if main is None:
        limitations.append("no loss series found (looked for 'loss' and names containing 'loss')")
        return Report(run.source, (), limitations=tuple(limitations), notes=run.notes,
                      summary=_summary(run, features))
    if features.val is None:
        limitations.append("no validation data: overfitting cannot be judged")
    elif len(features.val) == 0:
        limitations.append(f"{features.val.name} has no finite value: overfitting cannot be judged")
    elif len(features.val) < MIN_VAL_POINTS:
        limitations.append(f"only {count(len(features.val), 'validation point')}: overfitting "
                           f"cannot be judged")

    findings = _run_rules(features, options)
    too_short = len(main) < MIN_POINTS
    if too_short:
        limitations.append(f"only {count(len(main), f'finite {main.name} value')}: too few "
                           f"epochs to judge the curve" if len(main) else
                           f"no finite {main.name} value: no curve to judge")
        findings = [x for x in findings if x.rule == "loss-nan"]

    findings = _resolve(findings)
    conditions = tuple(c for c in PROBLEMS if any(x.condition == c for x in findings))
    if not conditions and not too_short:
        conditions = ("healthy",)
    findings.sort(key=lambda x: (-x.confidence, PROBLEMS.index(x.condition)
                                 if x.condition in PROBLEMS else 99))
    fixes = fixes_for(features, conditions, tuple(findings))
    if conditions == ("healthy",):
        more = still_best_fix(features)
        guard = early_stopping_fix(features, "healthy")
        fixes += [fix for fix in (more, guard) if fix is not None]
    return Report(run.source, conditions, tuple(findings), tuple(fixes), tuple(limitations),
                  run.notes, _summary(run, features))


def _run_rules(features: Features, options) -> list[Finding]:
    selected = RULES if options.select is None else {n: RULES[n] for n in options.select if n in RULES}
    unknown = [n for n in (*(options.select or ()), *options.ignore, *options.rules) if n not in RULES]
    if unknown:
        raise ValueError(f"unknown rule(s): {', '.join(unknown)} (known: {', '.join(RULES)})")
    findings = []
    for name, r in selected.items():
        if name in options.ignore:
            continue
        found = r.check(features, r.params(options.rules.get(name)))
        if found is not None:
            findings.append(found)
    return findings


def _resolve(findings: list[Finding]) -> list[Finding]:
    fired = {x.rule for x in findings}
    return [x for x in findings if not fired.intersection(_OVERRULED.get(x.rule, ()))]


def _summary(run: Run, f: Features) -> dict:
    summary: dict = {"epochs": len(run) * epochs_per_point(f), "granularity": run.granularity,
                     "learning_rate": f.learning_rate, "loss": f.loss_name}
    if f.metric_name:
        summary["metric"] = f.metric_name
    if run.params:
        summary["params"] = dict(run.params)
    if f.learning_rate_changes:  # a schedule, ReduceLROnPlateau or the live callback set it
        summary["learning_rate_end"] = f.learning_rate_changes[-1][1]
    main, monitor = f.main, f.monitor
    if main is not None and len(main):
        summary.update(loss_start=float(main.y[0]), loss_end=float(main.y[-1]))
        fit = main.decay
        if fit is not None:
            summary["converged_fraction"] = fit.progress
    if monitor is not None and len(monitor):
        summary.update(monitor=monitor.name, best_epoch=monitor.best_epoch,
                       best_value=monitor.best, final_value=monitor.last)
        if len(monitor) >= 4:
            replay = replay_early_stopping(monitor, noise_patience(monitor))
            summary["early_stopping"] = {"patience": replay.patience * epochs_per_point(f),
                                         "stopped_epoch": replay.stopped_epoch,
                                         "kept_epoch": replay.best_epoch,
                                         "saved_epochs": replay.saved_epochs}
    return summary

