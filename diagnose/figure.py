"""The diagnosis drawn on the training curves, with matplotlib (the ``plot`` extra).

    >>> fig = diagnose.diagnose(history).plot()          # doctest: +SKIP
    >>> fig.savefig("run.png")                           # doctest: +SKIP

What is drawn comes from :func:`diagnose.marks.picture`; this module only
decides how it looks. The figure is built with ``matplotlib.figure.Figure``,
never through pyplot: no GUI backend, no global figure list that a sweep of a
thousand runs would fill, safe from threads. Jupyter shows a returned Figure
inline.

Colours are the Okabe-Ito palette (distinct for the common forms of colour
blindness), and every curve and mark also differs by line style, marker or
hatching, so a grey print reads as well as the screen.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import MissingExtra
from .marks import Mark, Panel, Picture, picture
from .report import Report

INK = "#222222"
ORANGE, SKY, GREEN, BLUE, VERMILLION, PURPLE, GREY = (
    "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#777777")

# How each curve role is drawn.
LINE_STYLE = {
    "train": {"color": BLUE, "linestyle": "-", "linewidth": 1.8},
    "val": {"color": ORANGE, "linestyle": "-", "linewidth": 1.8, "marker": "o", "markersize": 3},
    "raw": {"color": GREY, "linestyle": "-", "linewidth": 0.6, "alpha": 0.45},
    "fit": {"color": GREEN, "linestyle": "--", "linewidth": 1.4},
    "lr": {"color": INK, "linestyle": "-", "linewidth": 1.4, "drawstyle": "steps-post"},
}
# Shaded stretches: colour and hatch by kind (problems of stability purple,
# overfitting vermillion, too little progress grey).
SPAN_STYLE = {
    "overfitting": (VERMILLION, "//"),
    "diverging": (PURPLE, "\\\\"), "oscillating": (PURPLE, "xx"), "frozen": (PURPLE, ".."),
    "collapse": (PURPLE, "\\\\"), "above chance": (PURPLE, "\\\\"),
}
DEFAULT_SPAN = (GREY, "..")
# Points: marker and colour by kind.
POINT_STYLE = {
    "best": {"marker": "*", "color": INK, "markersize": 13, "zorder": 6},
    "kept": {"marker": "o", "markerfacecolor": "none", "markeredgecolor": INK, "markersize": 11,
             "markeredgewidth": 1.4, "zorder": 6},
    "spike": {"marker": "^", "color": VERMILLION, "markersize": 8, "zorder": 5},
    "explosion": {"marker": "X", "color": VERMILLION, "markersize": 10, "zorder": 5},
    "lr_change": {"marker": "v", "color": SKY, "markersize": 7, "zorder": 5},
}
VLINE_STYLE = {
    "nan_onset": {"color": VERMILLION, "linestyle": "-", "linewidth": 1.6},
    "early_stop": {"color": INK, "linestyle": "--", "linewidth": 1.2},
    "lr_change": {"color": SKY, "linestyle": ":", "linewidth": 1.2},
    "action": {"color": PURPLE, "linestyle": "-.", "linewidth": 1.2},
}
HLINE_STYLE = {
    "chance": {"color": GREY, "linestyle": "-.", "linewidth": 1.2},
    "asymptote": {"color": GREEN, "linestyle": ":", "linewidth": 1.2},
}
# Panel heights: the loss panel leads.
HEIGHTS = {"loss": 3.0, "metric": 1.6, "learning rate": 1.1}
WIDTH = 8.0


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("plot", "drawing a figure needs matplotlib") from None
    return matplotlib, Figure


def has_matplotlib() -> bool:
    """True when matplotlib can be imported (only ever asked where a picture is wanted)."""
    try:
        _matplotlib()
    except MissingExtra:
        return False
    return True


def plot(source: Any, ax: Any = None, **options: Any):
    """Draw a run's curves with its diagnosis.

    Args:
        source: a :class:`~diagnose.report.Report` from :func:`diagnose.diagnose`,
            or anything :func:`diagnose.diagnose` takes (a ``History``, a log path).
        ax: a matplotlib ``Axes`` to draw the loss panel on (with every
            finding), or a sequence of Axes, one per panel (loss, then the
            metric and the learning rate when logged; extra panels are
            skipped). Default: a new figure with all the panels.
        **options: what :func:`diagnose.diagnose` takes, when ``source`` is not a report.

    Returns:
        The ``matplotlib.figure.Figure`` drawn on.

    Raises:
        diagnose.errors.MissingExtra: matplotlib is not installed.
        ValueError: the report holds no run to draw.
    """
    _matplotlib()
    if isinstance(source, Report):
        if options:
            raise TypeError(f"plot() takes no diagnose options with a report; got "
                            f"{', '.join(sorted(options))}")
        report = source
    else:
        from .api import diagnose

        report = diagnose(source, **options)
    pic = picture(report)
    if ax is None:
        fig, axes = new_figure(pic)
    else:
        axes = list(ax) if isinstance(ax, Sequence) or hasattr(ax, "__array__") else [ax]
        axes = list(np.ravel(np.asarray(axes, dtype=object)))
        fig = axes[0].figure
    for panel, axis in zip(pic.panels, axes):
        draw_panel(axis, panel, pic)
    if not pic.step_logged:
        from matplotlib.ticker import MaxNLocator

        axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
    if ax is None:
        fig.suptitle(_short(pic.title, 90), fontsize=11, color=INK)
        axes[-1].set_xlabel("step (in epochs)" if pic.step_logged else "epoch")
    return fig


def new_figure(pic: Picture):
    """An empty figure with one row per panel, sharing the epoch axis."""
    _, Figure = _matplotlib()
    heights = [HEIGHTS.get(p.title, 1.5) for p in pic.panels]
    fig = Figure(figsize=(WIDTH, sum(heights) + 0.9), layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    return fig, list(axes)


def draw_panel(ax, panel: Panel, pic: Picture) -> None:
    """One panel: its curves, then its marks, a legend and a y scale that fits."""
    for line in panel.lines:
        style = dict(LINE_STYLE[line.role])
        if line.role == "val" and len(line.x) > 60:
            style.pop("marker")  # a marker per point hides a long curve
        ax.plot(line.x, line.y, label=_short(line.label, 60), gid=f"line:{line.role}:{line.label}",
                **style)
    if panel.log_y:
        ax.set_yscale("log")
    _limit_y(ax, panel)
    for mark in panel.marks:
        _draw_mark(ax, mark, panel)
    ax.set_ylabel(_short(panel.ylabel, 30), color=INK)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(colors=INK, labelsize=8)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, borderaxespad=0.0)


def _limit_y(ax, panel: Panel) -> None:
    """Keep the y axis on the curves: a fit projected far out, or one value of 1e30 on a
    linear axis, must not squash the rest (those points stay drawn, the axis says so)."""
    # The fit counts: projected past the last epoch, it is what the fix is about.
    values = [ln.y[np.isfinite(ln.y)] for ln in panel.lines]
    values = [v for v in values if len(v)]
    if not values:
        # Nothing finite to draw: say so where the curve would be.
        ax.set_yticks([])
        ax.text(0.5, 0.55, f"no finite {panel.ylabel} value to draw", transform=ax.transAxes,
                ha="center", va="center", color=VERMILLION, fontsize=10)
        return
    y = np.concatenate(values)
    if panel.log_y:
        y = y[y > 0]
        if len(y):
            lo, hi = float(y.min()), float(y.max())
            ax.set_ylim(lo / 1.5, hi * 1.5)
        return
    lo, hi = float(y.min()), float(y.max())
    # A flat curve is shown flat, not as noise magnified to fill the panel: at least a
    # tenth of [0, 1] for a fraction (accuracy), 2% of its level for anything else.
    least = 0.1 if 0.0 <= lo and hi <= 1.0 else 0.02 * max(abs(lo), abs(hi))
    if hi - lo < least:
        middle = (hi + lo) / 2
        lo, hi = middle - least / 2, middle + least / 2
    pad = 0.06 * (hi - lo) if hi > lo else 1.0
    ax.set_ylim(lo - pad, hi + pad)


def _draw_mark(ax, mark: Mark, panel: Panel) -> None:
    gid = f"mark:{mark.kind}"
    label = _short(mark.label, 60) if mark.label else None
    if mark.shape == "span":
        colour, hatch = SPAN_STYLE.get(mark.kind, DEFAULT_SPAN)
        # A pale face, and over it the hatch in a stronger tone: the hatch tells the kinds
        # apart in grey print. Two artists, because a translucent face fades the hatch with
        # it (the SVG backend fills the whole pattern with the face's opacity).
        from matplotlib.colors import to_rgba

        ax.axvspan(mark.x[0], mark.x[1], facecolor=to_rgba(colour, 0.10), edgecolor="none",
                   linewidth=0, gid=gid, zorder=0)
        ax.axvspan(mark.x[0], mark.x[1], facecolor="none", hatch=hatch, label=label,
                   edgecolor=to_rgba(colour, 0.45), linewidth=0, gid=f"{gid}:hatch", zorder=0)
    elif mark.shape == "vline":
        ax.axvline(mark.x[0], label=label, gid=gid, zorder=3,
                   **VLINE_STYLE.get(mark.kind, {"color": GREY, "linestyle": ":"}))
    elif mark.shape == "hline":
        y = mark.y[0]
        if not math.isfinite(y) or (panel.log_y and y <= 0):
            return  # an asymptote at or below zero has no place on a log axis
        lo, hi = ax.get_ylim()
        if not lo <= y <= hi:
            return  # off the curves' scale: the legend would name a line nobody sees
        ax.axhline(y, label=label, gid=gid, zorder=2,
                   **HLINE_STYLE.get(mark.kind, {"color": GREY, "linestyle": "-."}))
    elif mark.shape == "points":
        style = POINT_STYLE.get(mark.kind, {"marker": "D", "color": INK})
        ax.plot(mark.x, mark.y, linestyle="none", label=label, gid=gid, **style)
    elif mark.shape == "ticks":
        # NaN/inf has no height: a cross on the x axis itself at each such epoch (a
        # validation series a little above the training one, so both show).
        height = 0.06 if mark.label.startswith("val_") else 0.0
        ax.plot(mark.x, np.full(len(mark.x), height), linestyle="none",
                marker="+" if height else "x", color=VERMILLION, markersize=8, markeredgewidth=2,
                clip_on=False, label=label, gid=gid, transform=ax.get_xaxis_transform(), zorder=7)


def _short(text: str, limit: int) -> str:
    """Long source paths keep their end (the file name), long labels their start."""
    if len(text) <= limit:
        return text
    return "..." + text[-(limit - 3):] if "/" in text[:limit] else text[:limit - 3] + "..."


def save(report: Report, path) -> None:
    """Write ``report``'s figure to ``path``; PNG, SVG or PDF by its extension."""
    with quiet_glyphs():
        fig = plot(report)
        fig.savefig(path, dpi=110)


@contextlib.contextmanager
def quiet_glyphs():
    """A file name in a script the font lacks (CJK, say) costs a box in the title, not a
    warning per glyph on the user's terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        yield
