"""The rules on signals beyond the loss (diagnose/rules/signals.py).

Synthetic curves (drawn here, named ``synthetic_*``) state what each rule must and must
not fire on; real Keras runs from ``python -m trainruns.signals`` (fixtures/signals/,
each as its CSVLogger file and as a Trainer-style step log) show that they do on real
training. A rule never fires on a log without the series it reads.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from diagnose import diagnose
from diagnose.rules import RULES
from diagnose.run import Run

from .synthetic import decaying

SIGNALS = Path(__file__).resolve().parents[1] / "fixtures" / "signals"
GRAD_RULES = ("grad-norm-spikes", "grad-norm-nonfinite", "grad-norm-vanishing")
SCHEDULE_RULES = ("lr-schedule-collapsed", "lr-zero")
NEW_RULES = (*GRAD_RULES, *SCHEDULE_RULES, "loss-oscillation-growing")


def report_of(columns, **attrs):
    n = len(next(iter(columns.values())))
    epochs = attrs.pop("epochs", None)
    return diagnose(Run.from_columns("synthetic", columns, epochs, **attrs))


def rules_of(report):
    return {f.rule for f in report.findings}


def finding(report, rule):
    return next(f for f in report.findings if f.rule == rule)


def assert_well_written(message):
    assert not re.search(r"\b1 epochs\b", message), message
    assert not re.search(r"\d+\.\d+x\b", message), message  # no "3.16228x"
    assert "nan" not in message.lower().replace("nan/inf", ""), message
    for number in re.findall(r"\d[\d.]*", message):  # no 20-digit floats or percentages
        digits = number.replace(".", "").lstrip("0")
        assert len(digits) <= 5, (number, message)


# --- synthetic curves ---------------------------------------------------------------

def synthetic_healthy(n=40, seed=0):
    """A converging run that logs a gradient norm drifting gently and a constant rate."""
    rng = np.random.default_rng(seed)
    loss = decaying(n, start=1.5, floor=0.3, tau=6, noise=0.004, seed=seed)
    val = decaying(n, start=1.6, floor=0.35, tau=6, noise=0.006, seed=seed + 1)
    grad = 1.0 + 0.5 * np.exp(-np.arange(n) / 10) + rng.normal(0, 0.05, n)
    return {"loss": list(loss), "val_loss": list(val), "grad_norm": list(grad),
            "learning_rate": [1e-3] * n}


def test_synthetic_healthy_run_fires_no_signal_rule():
    report = report_of(synthetic_healthy())
    assert report.conditions == ("healthy",)
    assert not rules_of(report) & set(NEW_RULES)
    # The signals are read, not reported as metrics whose direction is unknown.
    assert not any("grad_norm" in line for line in report.limitations)


def synthetic_grad_spike(height=40.0):
    run = synthetic_healthy()
    run["grad_norm"][25] *= height
    return run


def test_grad_norm_spikes_fires_on_a_synthetic_jump_and_says_where_and_how_much():
    report = report_of(synthetic_grad_spike())
    assert "lr_too_high" in report.conditions
    f = finding(report, "grad-norm-spikes")
    assert f.epochs == (26.0,)
    assert f.evidence["largest_ratio"] > 30
    assert "epoch 26" in f.message and "times its level before" in f.message
    assert_well_written(f.message)


def test_grad_norm_spikes_ignores_a_synthetic_drift_of_a_few_times():
    assert "grad-norm-spikes" not in rules_of(report_of(synthetic_grad_spike(height=4.0)))


def test_grad_norm_nonfinite_needs_more_than_one_overflowed_step():
    run = synthetic_healthy()
    run["grad_norm"][20] = math.inf  # what a mixed-precision loss scaler skips
    assert "grad-norm-nonfinite" not in rules_of(report_of(run))
    for i in (20, 24, 28):
        run["grad_norm"][i] = math.inf
    report = report_of(run)
    f = finding(report, "grad-norm-nonfinite")
    assert f.evidence["bad_points"] == 3 and f.evidence["loss_finite_then"]
    assert "while loss was still finite" in f.message
    assert "lr_too_high" in report.conditions


def test_grad_norm_nonfinite_at_the_end_is_enough():
    run = synthetic_healthy()
    run["grad_norm"][-1] = math.nan
    assert "grad-norm-nonfinite" in rules_of(report_of(run))


def synthetic_dead_units(n=40):
    """Gradients vanish while the loss stays near ln 2: units knocked dead."""
    x = np.arange(n)
    loss = 0.69 + 0.02 * np.exp(-x / 3) + np.random.default_rng(1).normal(0, 0.002, n)
    grad = np.where(x < 10, 1.0, 0.01) + np.random.default_rng(2).normal(0, 0.001, n)
    return {"loss": list(loss), "grad_norm": list(np.abs(grad))}


def test_grad_norm_vanishing_fires_when_the_loss_does_not_fall_with_it():
    report = report_of(synthetic_dead_units())
    f = finding(report, "grad-norm-vanishing")
    assert f.condition == "lr_too_high" and "lr_too_high" in report.conditions
    assert f.evidence["fall"] < 0.05 and f.evidence["loss_fall"] > 0.9
    assert_well_written(f.message)


def test_grad_norm_vanishing_stays_quiet_when_the_loss_falls_to_zero_with_it():
    n = 40
    loss = 1.0 * np.exp(-np.arange(n) / 5)  # a training set fitted exactly
    grad = 2.0 * np.exp(-np.arange(n) / 5)
    report = report_of({"loss": list(loss), "grad_norm": list(grad)})
    assert "grad-norm-vanishing" not in rules_of(report)


def synthetic_collapsed_schedule(n=40, collapse=8):
    """A loss falling steadily until an exponential decay takes the rate away at epoch 8."""
    x = np.arange(n, dtype=float)
    lr = np.where(x < collapse - 3, 1e-3, 1e-3 * 0.1 ** (x - collapse + 3))
    lr = np.maximum(lr, 1e-9)
    falling = 1.5 - 0.08 * np.minimum(x, collapse)
    loss = falling + np.random.default_rng(3).normal(0, 0.002, n)
    val = falling + 0.05 + np.random.default_rng(4).normal(0, 0.003, n)
    return {"loss": list(loss), "val_loss": list(val), "learning_rate": list(lr)}


def test_lr_schedule_collapsed_fires_and_its_fix_is_the_schedule_not_the_rate():
    report = report_of(synthetic_collapsed_schedule())
    f = finding(report, "lr-schedule-collapsed")
    assert f.condition == "underfitting" and "underfitting" in report.conditions
    assert f.evidence["position"] < 0.3
    assert "epoch" in f.message and "still falling" in f.message
    assert_well_written(f.message)
    actions = [x.action for x in report.fixes]
    assert actions[0] == "fix_lr_schedule"
    assert "raise_learning_rate" not in actions and "increase_capacity" not in actions
    assert "decay_steps" in report.fixes[0].code


def test_lr_schedule_collapsed_ignores_a_decay_that_ends_with_the_run():
    n = 40
    x = np.arange(n)
    lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * x / (n - 1)))  # cosine to zero at the very end
    run = synthetic_healthy()
    run["learning_rate"] = list(lr)
    assert not rules_of(report_of(run)) & set(SCHEDULE_RULES)


def test_lr_schedule_collapsed_ignores_reduce_on_plateau_after_the_loss_stopped():
    n = 40
    x = np.arange(n)
    run = synthetic_healthy()  # converged by epoch ~15
    lr = 1e-3 * 0.5 ** np.maximum(0, (x - 12) // 3)  # halved every 3 epochs: <2% by epoch 30
    run["learning_rate"] = list(lr)
    assert "lr-schedule-collapsed" not in rules_of(report_of(run))


def test_lr_zero_fires_on_a_rate_of_zero_and_a_frozen_loss():
    n = 30
    loss = [2.2] + [2.05] * (n - 1)
    report = report_of({"loss": loss, "learning_rate": [0.0] * n})
    f = finding(report, "lr-zero")
    assert report.conditions == ("lr_too_low",)
    assert "learning_rate is 0 at every logged epoch" in f.message
    actions = [x.action for x in report.fixes]
    assert "fix_lr_schedule" in actions and "raise_learning_rate" not in actions


def test_lr_zero_stays_quiet_when_the_loss_falls_anyway():
    report = report_of({"loss": list(decaying(30, noise=0.002)), "learning_rate": [0.0] * 30})
    assert "lr-zero" not in rules_of(report)


def synthetic_zigzag(n=40, grow=True, seed=5):
    """A falling loss with an alternating zig-zag, its amplitude growing (or steady)."""
    x = np.arange(n)
    trend = 1.0 + 0.5 * np.exp(-x / 5)
    amplitude = np.linspace(0.01, 0.25, n) if grow else np.full(n, 0.08)
    return {"loss": list(trend + amplitude * (-1.0) ** x
                         + np.random.default_rng(seed).normal(0, 0.002, n))}


def test_loss_oscillation_growing_fires_on_a_synthetic_widening_zigzag():
    report = report_of(synthetic_zigzag())
    f = finding(report, "loss-oscillation-growing")
    assert f.condition == "lr_too_high" and f.evidence["growth"] > 3
    assert "grew" in f.message
    assert_well_written(f.message)


def test_loss_oscillation_growing_leaves_a_steady_zigzag_to_loss_oscillating():
    report = report_of(synthetic_zigzag(grow=False))
    assert "loss-oscillation-growing" not in rules_of(report)


def test_loss_oscillation_growing_needs_eight_points_a_third():
    short = {"loss": synthetic_zigzag()["loss"][:20]}
    assert "loss-oscillation-growing" not in rules_of(report_of(short))


# --- the absence of a series ------------------------------------------------------------

@pytest.mark.parametrize("make, rule", [
    (synthetic_grad_spike, "grad-norm-spikes"),
    (synthetic_dead_units, "grad-norm-vanishing"),
    (synthetic_collapsed_schedule, "lr-schedule-collapsed"),
])
def test_no_series_no_finding(make, rule):
    columns = make()
    assert rule in rules_of(report_of(columns))
    without = {k: v for k, v in columns.items() if k not in ("grad_norm", "learning_rate")}
    assert not rules_of(report_of(without)) & set(GRAD_RULES + SCHEDULE_RULES)


def test_a_grad_norm_that_is_never_finite_fires_only_the_nonfinite_rule():
    run = synthetic_healthy()
    run["grad_norm"] = [math.nan] * len(run["loss"])
    found = rules_of(report_of(run)) & set(GRAD_RULES)
    assert found == {"grad-norm-nonfinite"}


# --- step-logged runs (the engine bins them) ---------------------------------------------

def test_step_logged_collapse_is_found_on_the_binned_run():
    steps = 400
    x = np.arange(1, steps + 1) / 10.0  # 10 logged steps an epoch, 40 epochs
    lr = np.where(x < 6, 2e-4, 2e-4 * 0.01 ** np.minimum(x - 6, 3))
    rng = np.random.default_rng(6)
    loss = 2.0 - 0.2 * np.minimum(x, 8) + rng.normal(0, 0.01, steps)
    report = report_of({"loss": list(loss), "learning_rate": list(lr)}, epochs=list(x),
                       granularity="step")
    f = finding(report, "lr-schedule-collapsed")
    assert not float(f.epochs[0]).is_integer()  # a fractional epoch, as people read it
    assert re.search(r"epoch \d+\.\d\d of", f.message)


def test_step_logged_grad_norm_spikes_survive_only_when_they_last():
    steps = 400
    x = np.arange(1, steps + 1) / 10.0
    loss = 2.0 * np.exp(-x / 8) + 0.3
    grad = np.ones(steps)
    grad[150] = 500.0  # one step: the median of its bin hides it
    report = report_of({"loss": list(loss), "grad_norm": list(grad)}, epochs=list(x),
                       granularity="step")
    assert "grad-norm-spikes" not in rules_of(report)
    grad[150:170] = 500.0  # two epochs of it: not noise
    report = report_of({"loss": list(loss), "grad_norm": list(grad)}, epochs=list(x),
                       granularity="step")
    assert "grad-norm-spikes" in rules_of(report)


# --- real runs (python -m trainruns.signals; fixtures/signals/README.md) -----------------

REAL = {
    # run: (rules that must fire on the CSVLogger file, on the step log)
    "blobs5.mlp.n1500.signals.lr_too_high.diverge_sgd":
        ({"grad-norm-spikes", "grad-norm-nonfinite"}, {"grad-norm-spikes", "grad-norm-nonfinite"}),
    "circles.mlp.n1000.signals.lr_too_high.spikes_adam":
        ({"grad-norm-vanishing"}, {"grad-norm-vanishing"}),
    "breast_cancer.mlp.n569.signals.underfitting.cosine_epochs":
        ({"lr-schedule-collapsed"}, {"lr-schedule-collapsed"}),
    "blobs5.mlp.n1500.signals.underfitting.exp_per_step": (set(), {"lr-schedule-collapsed"}),
    # In the step log the rate is seen decaying within the first epoch: a collapse.
    "digits.mlp.n1797.signals.underfitting.cosine_epochs": ({"lr-zero"}, {"lr-schedule-collapsed"}),
    "blobs5.mlp.n1500.signals.lr_too_high.ramp_adam":
        ({"loss-oscillation-growing"}, {"loss-oscillation-growing"}),
    "moons.mlp.n1000.signals.twin": (set(), set()),
    "moons.mlp.n1000.signals.healthy.warmup_cosine": (set(), set()),
}
LABELS = {  # the outcome labels trainruns gave them
    "blobs5.mlp.n1500.signals.lr_too_high.diverge_sgd": ("lr_too_high",),
    "circles.mlp.n1000.signals.lr_too_high.spikes_adam": ("lr_too_high",),
    "breast_cancer.mlp.n569.signals.underfitting.cosine_epochs": ("underfitting",),
    "blobs5.mlp.n1500.signals.underfitting.exp_per_step": ("underfitting",),
    "digits.mlp.n1797.signals.underfitting.cosine_epochs": ("lr_too_low",),
    "blobs5.mlp.n1500.signals.lr_too_high.ramp_adam": ("lr_too_high",),
    "moons.mlp.n1000.signals.twin": ("healthy",),
    "moons.mlp.n1000.signals.healthy.warmup_cosine": ("healthy",),
}


@pytest.mark.parametrize("run", sorted(REAL))
@pytest.mark.parametrize("view", ["csv", "jsonl"])
def test_real_runs(run, view):
    report = diagnose(SIGNALS / f"{run}.{view}")
    expected = REAL[run][view == "jsonl"]
    fired = rules_of(report) & set(NEW_RULES)
    assert expected <= fired, (fired, expected)
    if not expected:
        assert not fired & set(GRAD_RULES + SCHEDULE_RULES)
    if view == "csv":  # the epoch view: the verdict is the outcome label
        assert report.conditions == LABELS[run]
    for f in report.findings:
        assert_well_written(f.message)


def test_real_run_logs_both_signals_as_the_generator_writes_them():
    report = diagnose(SIGNALS / "moons.mlp.n1000.signals.twin.csv")
    assert report.summary["learning_rate"] == pytest.approx(0.003)
    assert not any("grad_norm" in line for line in report.limitations)


@pytest.mark.parametrize("name", NEW_RULES)
def test_each_new_rule_is_registered_with_documented_thresholds(name):
    rule = RULES[name]
    assert rule.summary and rule.why
    assert all("signals" in o.chosen_on for o in rule.options.values())
