"""What a picture of a diagnosis shows, before anything is drawn.

A report's figure is a list of panels (loss; the quality metric, when
logged; the learning rate, when logged) holding curves and *marks*: the
best epoch, the shaded stretch where overfitting set in, spikes, the NaN
onset, the chance level, the fitted decay curve and its asymptote, where a
replayed ``EarlyStopping`` would have stopped and which weights it keeps,
learning-rate changes and what a live callback did. Every mark is placed
from the report's own findings and summary, so a picture never shows
something the text does not say.

This module is numpy only. :mod:`diagnose.figure` draws a :class:`Picture`
with matplotlib; :mod:`diagnose.html` draws the sweep's small multiples
from the same marks as plain SVG. Tests check the marks against the
findings once, for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .render import _number
from .report import Report, count
from .run import LEARNING_RATE, Run

# A curve spanning more than this ratio (max/min, all values positive) gets a
# log y-axis: about two decades, where a linear axis flattens all but the
# first epochs into one line at the bottom.
LOG_SCALE_RATIO = 100.0
# Learning-rate changes are marked one by one when they are steps (ReduceLROnPlateau,
# a step decay, the callback): at most this many, on at most a quarter of the logged
# epochs. A schedule that moves every epoch shows on the rate panel itself.
MAX_MARKED_RATE_CHANGES = 12
# A step-logged curve with more points than this is drawn faint, with its
# binned medians (what the rules judged) drawn over it.
MAX_PLAIN_POINTS = 400

LOSS, METRIC, RATE = "loss", "metric", "learning rate"


@dataclass(frozen=True)
class Line:
    """One curve. ``role``: train, val, raw (faint, unbinned points), fit, lr."""

    label: str
    x: np.ndarray
    y: np.ndarray
    role: str


@dataclass(frozen=True)
class Mark:
    """One thing drawn at the epochs its evidence names.

    Attributes:
        kind: what it is (``"overfitting"``, ``"spike"``, ``"nan"``, ``"best"``,
            ``"early_stop"``, ``"kept"``, ``"chance"``, ``"asymptote"``,
            ``"lr_change"``, ``"action"``, ``"diverging"``, ...).
        shape: ``"span"`` (x from ``x[0]`` to ``x[1]``), ``"points"`` (at
            ``x``, ``y``), ``"vline"`` (at ``x[0]``), ``"hline"`` (at ``y[0]``)
            or ``"ticks"`` (at ``x``, on the x axis: values that are not numbers).
        label: the words in the legend.
        rule: the finding it comes from, when one does.
    """

    kind: str
    shape: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    label: str = ""
    rule: str | None = None


@dataclass
class Panel:
    title: str
    ylabel: str
    lines: list[Line] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    log_y: bool = False

    def marks_of(self, kind: str) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind]


@dataclass
class Picture:
    title: str
    panels: list[Panel]
    step_logged: bool = False

    def panel(self, title: str) -> Panel | None:
        return next((p for p in self.panels if p.title == title), None)

    @property
    def marks(self) -> list[Mark]:
        return [m for p in self.panels for m in p.marks]


# Span kinds by the rule that found them; a rule not listed is drawn by its epochs
# (a span for a first and last epoch, a line for one).
_SPAN_KIND = {
    "val-loss-rising": "overfitting", "gap-widening": "overfitting", "val-stalled": "overfitting",
    "loss-diverging": "diverging", "loss-oscillating": "oscillating",
    "accuracy-collapse": "collapse", "plateau-high": "plateau", "loss-flat": "flat",
    "loss-never-moves": "flat", "stuck-at-chance": "at chance", "loss-above-chance": "above chance",
    "still-improving": "still improving", "train-below-val": "train below validation",
}
# Findings whose evidence is the fitted decay curve: the figure draws the fit for these
# (and for a healthy run, whose text says how much of its fitted drop it covered).
_FIT_RULES = ("still-improving", "loss-flat", "plateau-high", "loss-never-moves")
# A fit that explains less of the curve than this is not drawn: it would mislead.
MIN_FIT_R2 = 0.8
# Findings about the metric (accuracy), drawn on its panel.
_METRIC_RULES = ("accuracy-collapse", "train-below-val")


def picture(report: Report) -> Picture:
    """The panels, curves and marks of ``report``'s figure.

    Raises:
        ValueError: the report holds no run (built by hand, or read from
            JSON), or its run has no loss to draw.
    """
    run = report.run
    if run is None:
        raise ValueError(f"{report.source}: this report holds no training run to draw (a report "
                         "read back from JSON or built by hand has only its findings)")
    from .engine import Options
    from .verdict import features_of

    s = report.summary
    if not s.get("loss"):
        raise ValueError(f"{report.source}: no loss series to draw")
    features = features_of(run, Options(loss=s["loss"], monitor=s.get("monitor"),
                                        metric=s.get("metric")))
    verdict = ", ".join(report.conditions) or "not judged"
    pic = Picture(f"{report.source}: {verdict}", [], run.granularity == "step")

    loss = Panel(LOSS, s["loss"])
    pic.panels.append(loss)
    loss_names = _pair(run, features, s["loss"])
    for name in loss_names:
        loss.lines += _curve_lines(run, name, features)
    loss.marks += _bad_values(run, loss_names)

    metric = None
    if features.metric_name:
        metric = Panel(METRIC, features.metric_name.removeprefix("val_"))
        metric_names = _pair(run, features, features.metric_name)
        for name in metric_names:
            metric.lines += _curve_lines(run, name, features)
        metric.marks += _bad_values(run, metric_names)
        if metric.lines or metric.marks:
            pic.panels.append(metric)
        else:
            metric = None

    rate = None
    if run.has(LEARNING_RATE):
        ok = run.logged[LEARNING_RATE] & np.isfinite(run.series[LEARNING_RATE])
        x, y = run.epochs[ok], run.series[LEARNING_RATE][ok]
        if len(x) and np.all(y > 0):
            rate = Panel(RATE, "learning rate", [Line(LEARNING_RATE, x, y, "lr")], log_y=True)
            pic.panels.append(rate)

    # --- the findings, each where its evidence is --------------------------
    for finding in report.findings:
        on = metric if finding.rule in _METRIC_RULES and metric is not None else loss
        on.marks += _finding_marks(finding, run, features, s["loss"])

    # --- the summary: best epoch, the replayed EarlyStopping, chance, the fit
    monitor = s.get("monitor")
    mon_panel = _panel_of(monitor, loss, metric)
    if monitor and s.get("best_epoch") is not None and mon_panel is not None:
        mon_panel.marks.append(Mark("best", "points", (float(s["best_epoch"]),),
                                    (float(s["best_value"]),),
                                    f"best {monitor}: epoch {_number(s['best_epoch'])}"))
        stop = s.get("early_stopping") or {}
        if stop.get("stopped_epoch") is not None:
            mon_panel.marks.append(Mark(
                "early_stop", "vline", (float(stop["stopped_epoch"]),),
                label=f"EarlyStopping(patience={stop['patience']}) stops: epoch "
                      f"{_number(stop['stopped_epoch'])}"))
            kept = stop.get("kept_epoch")
            if kept is not None:
                mon_panel.marks.append(Mark("kept", "points", (float(kept),),
                                            (_value_at(run, monitor, kept),),
                                            f"weights it keeps: epoch {_number(kept)}"))
    chance = features.chance
    if chance is not None:
        loss.marks.append(Mark("chance", "hline", y=(chance.loss,),
                               label=f"chance: ln {chance.classes} = {chance.loss:.3g}"))
        if metric is not None and features.accuracy is not None:
            metric.marks.append(Mark("chance", "hline", y=(chance.accuracy,),
                                     label=f"chance: 1/{chance.classes} = {chance.accuracy:.3g}"))
    _fit_marks(report, features, loss)

    # --- learning-rate changes and what the callback did ---------------------
    changes = features.learning_rate_changes
    if changes and len(changes) <= min(MAX_MARKED_RATE_CHANGES, len(run) / 4):
        # A few changes (ReduceLROnPlateau, a step decay, the callback): each marked where
        # it happened. A schedule that moves every epoch shows on the rate panel itself.
        if rate is not None:
            rate.marks.append(Mark("lr_change", "points", tuple(e for e, _ in changes),
                                   tuple(v for _, v in changes),
                                   f"rate changed ({count(len(changes), 'time')})"))
        # One legend entry for all of them.
        where = ", ".join(_number(e) for e, _ in changes)
        loss.marks += [Mark("lr_change", "vline", (e,), label="" if i else
                            f"lr changed: epoch{'s' if len(changes) > 1 else ''} {where}")
                       for i, (e, _) in enumerate(changes)]
    for action in report.actions:
        loss.marks.append(Mark("action", "vline", (float(action.epoch),),
                               label=f"callback: {action.action.replace('_', ' ')}"))

    for panel in pic.panels:
        panel.marks = _merge_spans(panel.marks)
        panel.log_y = panel.log_y or _wants_log(panel)
    if loss.log_y and any(ln.role == "fit" and not np.all(ln.y > 0) for ln in loss.lines):
        # A fit heading below zero has no place on a log axis: it would fall off the panel.
        loss.lines = [ln for ln in loss.lines if ln.role != "fit"]
        loss.marks = [m for m in loss.marks if m.kind != "asymptote"]
    return pic


def _merge_spans(marks: list[Mark]) -> list[Mark]:
    """Overlapping stretches of one kind (two overfitting rules, say) as one shaded stretch."""
    merged: list[Mark] = []
    for mark in marks:
        twin = next((m for m in merged if m.shape == "span" == mark.shape and m.kind == mark.kind
                     and m.x[0] <= mark.x[1] and mark.x[0] <= m.x[1]), None)
        if twin is None:
            merged.append(mark)
            continue
        x = (min(twin.x[0], mark.x[0]), max(twin.x[1], mark.x[1]))
        where = f"epochs {_number(x[0])}-{_number(x[1])}"
        merged[merged.index(twin)] = Mark(mark.kind, "span", x, label=f"{mark.kind}: {where}",
                                          rule=f"{twin.rule},{mark.rule}")
    return merged


# --- curves ---------------------------------------------------------------

def _pair(run: Run, features, name: str) -> list[str]:
    """A series and its validation (or training) twin, training first, as logged."""
    names = [features.twin(name, "train"), features.twin(name, "val")]
    found = [n for n in names if n and run.has(n)]
    return found or ([name] if run.has(name) else [])


def _curve_lines(run: Run, name: str, features) -> list[Line]:
    ok = run.logged[name] & np.isfinite(run.series[name])
    x, y = run.epochs[ok], run.series[name][ok]
    if not len(x):
        return []  # nothing finite: its NaN/inf ticks say so, a legend entry would not
    role = "val" if name.startswith("val_") else "train"
    if len(x) <= MAX_PLAIN_POINTS or name not in features.run.series:
        return [Line(name, x, y, role)]
    # Thousands of logged points: faint, with the binned medians the rules judged on top.
    binned = features.run
    keep = binned.logged[name] & np.isfinite(binned.series[name])
    if keep.sum() >= len(x):
        return [Line(name, x, y, role)]
    return [Line(f"{name} (every point)", x, y, "raw"),
            Line(name, binned.epochs[keep], binned.series[name][keep], role)]


def _bad_values(run: Run, names: list[str]) -> list[Mark]:
    """NaN and inf values as ticks on the x axis: drawn, never silently dropped."""
    marks = []
    for name in names:
        bad = run.logged[name] & ~np.isfinite(run.series[name])
        if bad.any():
            epochs = tuple(float(e) for e in run.epochs[bad])
            marks.append(Mark("nan", "ticks", epochs,
                              label=f"{name} NaN/inf ({count(len(epochs), 'epoch')})"))
    return marks


def _value_at(run: Run, name: str, epoch: float) -> float:
    i = int(np.argmin(np.abs(run.epochs - epoch)))
    value = run.series[name][i] if name in run.series else math.nan
    return float(value)


def _panel_of(name: str | None, loss: Panel, metric: Panel | None) -> Panel | None:
    if not name:
        return None
    for panel in (loss, metric):
        if panel is not None and any(line.label == name for line in panel.lines):
            return panel
    return None


def _wants_log(panel: Panel) -> bool:
    """A log axis when the drawn curves are all positive and span more than ~2 decades."""
    values = [line.y for line in panel.lines if line.role in ("train", "val", "raw", "lr")]
    if not values:
        return False
    y = np.concatenate(values)
    y = y[np.isfinite(y)]
    return bool(len(y)) and float(y.min()) > 0 and float(y.max()) / float(y.min()) > LOG_SCALE_RATIO


# --- findings ---------------------------------------------------------------

def _finding_marks(finding, run: Run, features, loss_name: str) -> list[Mark]:
    epochs = tuple(float(e) for e in finding.epochs)
    if not epochs:
        return []
    ev = finding.evidence
    rule = finding.rule
    if rule == "loss-nan":
        return [Mark("nan_onset", "vline", epochs[:1], rule=rule,
                     label=f"NaN/inf from epoch {_number(epochs[0])}")]
    if rule == "loss-spikes":
        name = features.main.name if features.main is not None else loss_name
        ys = tuple(_value_at(run, name, e) for e in epochs)
        return [Mark("spike", "points", epochs, ys, f"spikes ({count(len(epochs), 'epoch')})", rule)]
    if rule == "loss-exploded":
        name = features.main.name if features.main is not None else loss_name
        marks = [Mark("explosion", "points", epochs[:1], (_value_at(run, name, epochs[0]),),
                      f"blew up in epoch {_number(epochs[0])}", rule)]
        frozen = _frozen_stretch(run, name) if ev.get("frozen") else None
        if frozen is not None:
            marks.append(Mark("frozen", "span", frozen, label=f"frozen from epoch "
                              f"{_number(frozen[0])}", rule=rule))
        return marks
    kind = _SPAN_KIND.get(rule, rule)
    if len(epochs) >= 2 and epochs[-1] > epochs[0]:
        where = f"epochs {_number(epochs[0])}-{_number(epochs[-1])}"
        return [Mark(kind, "span", (epochs[0], epochs[-1]), label=f"{kind}: {where}", rule=rule)]
    return [Mark(kind, "vline", epochs[:1], label=f"{kind}: epoch {_number(epochs[0])}", rule=rule)]


def _frozen_stretch(run: Run, name: str) -> tuple[float, float] | None:
    """First and last epoch of the identical values that end the curve."""
    ok = run.logged[name] & np.isfinite(run.series[name])
    x, y = run.epochs[ok], run.series[name][ok]
    if len(y) < 2:
        return None
    last = y[-1]
    same = np.abs(y - last) <= 1e-9 + 1e-6 * abs(last)
    i = len(y) - 1
    while i > 0 and same[i - 1]:
        i -= 1
    return (float(x[i]), float(x[-1])) if i < len(y) - 1 else None


def _fit_marks(report: Report, features, loss: Panel) -> None:
    """The fitted decay of the training loss and its asymptote, where the report reasons
    from it (a healthy run's convergence, a run still improving or too slow); projected
    past the last epoch when a fix says to train longer."""
    main = features.main
    fit = main.decay if main is not None else None
    cited = report.healthy or any(f.rule in _FIT_RULES for f in report.findings)
    if fit is None or not cited or fit.r2 < MIN_FIT_R2:
        return
    end = float(main.x[-1])
    longer = next((f for f in report.fixes if f.action == "train_longer"), None)
    target = float((longer.params.get("epochs") if longer else None) or end)
    x = np.linspace(fit.start, max(end, target), 200)  # from where the fit starts, not before
    y = np.asarray(fit.predict(x), float)
    label = f"fitted decay ({fit.kind}, R² {fit.r2:.2f})"
    if target > end:
        label += f", projected to epoch {_number(target)}"
    loss.lines.append(Line(label, x, y, "fit"))
    loss.marks.append(Mark("asymptote", "hline", y=(float(fit.asymptote),),
                           label=f"asymptote {fit.asymptote:.4g}"))
