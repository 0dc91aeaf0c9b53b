"""The diagnosis drawn on the curves: marks (numpy) and the matplotlib figure.

What a person would check on a fixture run of every condition: the curves
are there, every finding is drawn at the epochs it reports, the best epoch
and the replayed EarlyStopping sit where the summary says, NaN epochs are
marked rather than dropped, the y axis goes logarithmic when a curve spans
more than two decades, and the files written are real PNG/SVG/PDF.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import diagnose
from diagnose.marks import LOG_SCALE_RATIO, picture
from diagnose.run import Run

matplotlib = pytest.importorskip("matplotlib", reason="the plot extra draws figures")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ALL = sorted(FIXTURES.glob("*.csv"))
# One or more fixture runs of each condition and of each kind of mark.
DRAWN = {
    "overfitting": "digits_overfit_noise",
    "spikes": "digits_high_spikes",
    "nan": "digits_high_sgd_nan",
    "nan_midway": "wine_high_sgd_nan",
    "lr_too_low": "cls5_low_1e-6",
    "underfitting_train_longer": "digits_underfit_epochs",
    "healthy": "digits_healthy_sgd",
    "diverging": "cls5_high_adam_diverge",
    "exploded": "moons_high_sgd_collapse",
    "schedule": "iris_overfit_plateau",
}


def report_of(name: str) -> diagnose.Report:
    return diagnose.diagnose(str(FIXTURES / f"{name}.csv"))


def finite(run: Run, name: str) -> tuple[np.ndarray, np.ndarray]:
    ok = run.logged[name] & np.isfinite(run.series[name])
    return run.epochs[ok], run.series[name][ok]


# --- marks: every finding where its evidence is (all 84 fixture runs) -----------

@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_finding_is_marked_at_the_epochs_it_reports(path):
    report = diagnose.diagnose(str(path))
    pic = picture(report)
    for finding in report.findings:
        marks = [m for m in pic.marks if m.rule and finding.rule in m.rule.split(",")]
        assert marks, f"{finding.rule} is not drawn"
        first, last = finding.epochs[0], finding.epochs[-1]
        mark = marks[0]
        if mark.shape == "span":
            # A merged stretch covers every finding merged into it.
            assert mark.x[0] <= first and mark.x[1] >= last, (finding.rule, mark.x, finding.epochs)
        elif mark.shape == "points":
            assert mark.x[0] == first
            if finding.rule == "loss-spikes":
                assert mark.x == tuple(float(e) for e in finding.epochs)
        else:
            assert mark.x[0] == first


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_best_epoch_and_replayed_early_stopping_follow_the_summary(path):
    report = diagnose.diagnose(str(path))
    pic = picture(report)
    s = report.summary
    best = [m for m in pic.marks if m.kind == "best"]
    if s.get("best_epoch") is None:  # nothing finite to be best (NaN from the first epoch)
        assert not best
        return
    assert len(best) == 1
    assert best[0].x == (s["best_epoch"],) and best[0].y == (s["best_value"],)
    stop = s.get("early_stopping") or {}
    stops = [m for m in pic.marks if m.kind == "early_stop"]
    if stop.get("stopped_epoch") is None:
        assert not stops
    else:
        assert stops[0].x == (stop["stopped_epoch"],)
        kept = [m for m in pic.marks if m.kind == "kept"]
        assert kept[0].x == (stop["kept_epoch"],)


def test_curves_are_the_logged_finite_values():
    report = report_of(DRAWN["overfitting"])
    loss = picture(report).panel("loss")
    by_label = {line.label: line for line in loss.lines}
    for name in ("loss", "val_loss"):
        x, y = finite(report.run, name)
        np.testing.assert_array_equal(by_label[name].x, x)
        np.testing.assert_array_equal(by_label[name].y, y)


def test_nan_epochs_are_ticks_on_the_axis_not_dropped():
    report = report_of(DRAWN["nan_midway"])
    run = report.run
    bad = run.epochs[run.logged["loss"] & ~np.isfinite(run.series["loss"])]
    assert len(bad), "the fixture has NaN epochs"
    ticks = [m for m in picture(report).panel("loss").marks if m.kind == "nan"
             and m.label.startswith("loss ")]
    assert ticks[0].x == tuple(float(e) for e in bad)
    onset = [m for m in picture(report).marks if m.kind == "nan_onset"]
    assert onset[0].x == (float(bad[0]),)


def test_chance_level_is_a_line_at_ln_k_and_one_over_k():
    report = report_of(DRAWN["lr_too_low"])  # 6 classes, stuck near chance
    pic = picture(report)
    loss_chance = pic.panel("loss").marks_of("chance")
    metric_chance = pic.panel("metric").marks_of("chance")
    assert loss_chance[0].y[0] == pytest.approx(math.log(6))
    assert metric_chance[0].y[0] == pytest.approx(1 / 6)


def test_train_longer_projects_the_fitted_decay_to_the_epochs_it_advises():
    report = report_of(DRAWN["underfitting_train_longer"])
    longer = next(f for f in report.fixes if f.action == "train_longer")
    fit = [line for line in picture(report).panel("loss").lines if line.role == "fit"]
    assert fit and fit[0].x[-1] == pytest.approx(longer.params["epochs"])
    assert fit[0].x[-1] > report.run.epochs[-1]
    assert picture(report).panel("loss").marks_of("asymptote")


def test_fit_is_not_drawn_where_the_report_does_not_reason_from_it():
    # An overfitting run's text never cites the fitted decay: drawing it would claim more.
    lines = picture(report_of(DRAWN["overfitting"])).panel("loss").lines
    assert not [line for line in lines if line.role == "fit"]


def test_learning_rate_panel_and_its_changes():
    report = report_of(DRAWN["schedule"])  # ReduceLROnPlateau
    pic = picture(report)
    rate = pic.panel("learning rate")
    assert rate is not None and rate.log_y
    changes = rate.marks_of("lr_change")[0]
    x, y = finite(report.run, "learning_rate")
    moved = x[1:][np.abs(np.diff(y)) > 0.01 * y[:-1]]
    assert changes.x == tuple(float(e) for e in moved)
    assert [m.x[0] for m in pic.panel("loss").marks_of("lr_change")] == list(changes.x)


# --- the y scale (synthetic curves, named as such) ---------------------------

@pytest.mark.parametrize("ratio, log", [(1e3, True), (LOG_SCALE_RATIO * 1.5, True),
                                        (LOG_SCALE_RATIO / 1.5, False), (3.0, False)])
def test_log_scale_when_a_curve_spans_more_than_two_decades(ratio, log):
    epochs = np.arange(1, 31)
    loss = ratio ** (-(epochs - 1) / 29.0)  # synthetic: from 1 down to 1/ratio
    run = Run.from_columns("synthetic", {"loss": loss, "val_loss": loss * 1.1})
    assert picture(diagnose.diagnose(run)).panel("loss").log_y is log


def test_negative_losses_never_get_a_log_axis():
    epochs = np.arange(1, 31)
    loss = -np.log(epochs) * 100  # synthetic: a GAN-style loss below zero
    run = Run.from_columns("synthetic", {"loss": loss})
    assert picture(diagnose.diagnose(run)).panel("loss").log_y is False


def test_a_report_without_a_run_says_so():
    report = diagnose.Report("hand-made", ("healthy",))
    with pytest.raises(ValueError, match="no training run to draw"):
        report.plot()


# --- the matplotlib figure ------------------------------------------------------

def artists(fig, gid: str) -> list:
    return [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]


def span_x(patch) -> tuple[float, float]:
    """The x extent of an axvspan (a Rectangle or a Polygon, by matplotlib version)."""
    if hasattr(patch, "get_width"):
        return patch.get_x(), patch.get_x() + patch.get_width()
    xs = patch.get_xy()[:, 0]
    return float(xs.min()), float(xs.max())


@pytest.mark.parametrize("key", sorted(DRAWN))
def test_figure_draws_every_mark_where_the_picture_puts_it(key):
    report = report_of(DRAWN[key])
    pic = picture(report)
    fig = report.plot()
    assert len(fig.axes) == len(pic.panels)
    for panel, ax in zip(pic.panels, fig.axes):
        assert (ax.get_yscale() == "log") is panel.log_y
        drawn = {a.get_gid(): a for a in ax.get_lines()}
        for line in panel.lines:
            artist = drawn[f"line:{line.role}:{line.label}"]
            np.testing.assert_allclose(artist.get_xdata(), line.x)
        for mark in panel.marks:
            found = [a for a in ax.get_children() if a.get_gid() == f"mark:{mark.kind}"]
            if mark.shape == "hline":
                lo, hi = ax.get_ylim()
                if not lo <= mark.y[0] <= hi:
                    continue  # off the curves' scale: left out on purpose
            assert found, f"{key}: {mark.kind} not drawn"
            if mark.shape == "span":
                assert any(span_x(a) == pytest.approx(mark.x) for a in found)
            elif mark.shape in ("points", "ticks"):
                assert any(list(a.get_xdata()) == pytest.approx(list(mark.x)) for a in found)
            elif mark.shape == "vline":
                assert any(a.get_xdata()[0] == pytest.approx(mark.x[0]) for a in found)
    title = fig.texts[0].get_text() if fig.texts else fig._suptitle.get_text()
    assert ", ".join(report.conditions) in title


def test_overfitting_stretch_is_shaded_from_the_best_epoch():
    report = report_of(DRAWN["overfitting"])
    rising = next(f for f in report.findings if f.rule == "val-loss-rising")
    fig = report.plot()
    spans = [span_x(a) for a in artists(fig, "mark:overfitting")]
    assert spans == [pytest.approx((rising.epochs[0], rising.epochs[-1]))]
    best = artists(fig, "mark:best")[0]
    assert best.get_xdata()[0] == report.summary["best_epoch"]


def test_spikes_sit_on_the_training_curve():
    report = report_of(DRAWN["spikes"])
    spikes = artists(report.plot(), "mark:spike")[0]
    x, y = finite(report.run, "loss")
    for e, v in zip(spikes.get_xdata(), spikes.get_ydata()):
        assert v == y[x == e][0]


def test_plot_on_given_axes_and_from_a_path():
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert diagnose.plot(str(FIXTURES / "digits_overfit_noise.csv"), ax=ax) is fig
    assert [line.get_gid() for line in ax.get_lines()][:2] == ["line:train:loss", "line:val:val_loss"]
    assert artists(fig, "mark:overfitting")


def test_step_logged_run_draws_every_point_faint_and_the_binned_medians():
    x = np.linspace(0.01, 10, 2000)
    loss = 2 * np.exp(-x / 3) + 0.1 + np.random.default_rng(0).normal(0, 0.05, len(x))  # synthetic
    run = Run.from_columns("synthetic steps", {"loss": loss}, x, granularity="step")
    lines = picture(diagnose.diagnose(run)).panel("loss").lines
    roles = [line.role for line in lines]
    assert "raw" in roles and "train" in roles
    raw = next(line for line in lines if line.role == "raw")
    binned = next(line for line in lines if line.role == "train")
    assert len(raw.x) == 2000 and len(binned.x) < 100


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_files_are_written_and_readable(tmp_path, suffix):
    from diagnose.figure import save

    target = tmp_path / f"run{suffix}"
    save(report_of(DRAWN["spikes"]), target)
    data = target.read_bytes()
    if suffix == ".png":
        import matplotlib.image

        image = matplotlib.image.imread(target)
        assert image.shape[0] > 300 and image.shape[1] > 600
    elif suffix == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert b'id="mark:spike"' in data
    else:
        assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")


def test_without_matplotlib_plot_says_what_to_install(monkeypatch):
    import builtins

    from diagnose.errors import MissingExtra

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(MissingExtra, match=r"keras-diagnose\[plot\]"):
        report_of(DRAWN["healthy"]).plot()
