"""Each rule fires on the synthetic shape it describes, and stays quiet on a healthy curve."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diagnose import diagnose
from diagnose.run import Run

from .synthetic import decaying, history


def report_of(columns):
    return diagnose(Run.from_columns("synthetic", columns))


def rules_of(columns):
    return {f.rule for f in report_of(columns).findings}


def healthy_run(n=40, seed=0):
    train = decaying(n, start=2.0, floor=0.2, tau=6, noise=0.005, seed=seed)
    val = decaying(n, start=2.1, floor=0.3, tau=6, noise=0.008, seed=seed + 1)
    return history(train, val)


def test_a_healthy_run_is_healthy_and_says_how_it_converged():
    report = report_of(healthy_run())
    assert report.conditions == ("healthy",)
    assert report.findings == ()
    assert report.summary["converged_fraction"] > 0.95
    assert any(f.action == "early_stopping" for f in report.fixes)


def test_loss_nan_names_the_onset_epoch():
    h = healthy_run()
    h["loss"][25:] = [math.nan] * 15
    finding = next(f for f in report_of(h).findings if f.rule == "loss-nan")
    assert finding.condition == "lr_too_high"
    assert finding.epochs == (26.0,)
    assert "epoch 26" in finding.message


def test_nan_from_the_first_epoch_points_at_the_data_after_the_rate():
    report = report_of({"loss": [math.nan] * 10})
    assert "lr_too_high" in report.conditions
    # The one-line automatic change first, then the check a person makes.
    assert [f.action for f in report.fixes[:2]] == ["lower_learning_rate", "check_inputs"]


def test_loss_diverging():
    x = np.arange(40.0)
    train = decaying(40, tau=4, noise=0.005) + 0.08 * np.maximum(x - 15, 0)
    assert "loss-diverging" in rules_of(history(train))


def test_loss_spikes():
    train = decaying(40, tau=6, noise=0.005)
    train[[15, 28]] += 1.2
    assert "loss-spikes" in rules_of(history(train))


def test_loss_oscillating():
    train = decaying(40, tau=6, noise=0.001) + 0.4 * (-1.0) ** np.arange(40)
    assert "loss-oscillating" in rules_of(history(train))


def test_val_loss_rising_reports_best_epoch_and_rise():
    x = np.arange(50.0)
    h = history(decaying(50, noise=0.005), decaying(50, floor=0.5, noise=0.005) + 0.02 * np.maximum(x - 15, 0))
    finding = next(f for f in report_of(h).findings if f.rule == "val-loss-rising")
    assert 14 <= finding.evidence["best_epoch"] <= 19
    assert finding.evidence["rise"] > 0.1
    assert finding.condition == "overfitting"


def test_gap_widening_without_a_rise():
    x = np.arange(60.0)
    train = 2.0 - 0.025 * x + np.random.default_rng(0).normal(0, 0.003, 60)
    val = np.where(x < 25, 2.05 - 0.025 * x, 2.05 - 0.025 * 25) + np.random.default_rng(1).normal(0, 0.003, 60)
    assert "gap-widening" in rules_of(history(train, val))


def test_a_ten_class_model_flat_at_chance_from_the_first_epoch_is_flat():
    # PRODUCT.md: a curve that never leaves its starting level (loss at ln K,
    # accuracy at chance from the first epoch) is lr_too_low, and without a
    # learning-rate column the finding names the other possible cause too.
    n = 20
    rng = np.random.default_rng(0)
    loss = math.log(10) + rng.normal(0, 0.002, n)
    acc = 0.1 + rng.normal(0, 0.004, n)
    report = report_of(history(loss, loss + 0.01, accuracy=acc, val_accuracy=acc))
    assert report.conditions == ("lr_too_low",)
    finding = report.findings[0]
    assert finding.rule == "loss-never-moves"
    assert "cannot learn" in finding.message


def test_stuck_at_chance_after_moving_is_underfitting():
    # The model moved (its loss fell from far above ln K) and then sat at chance.
    n = 20
    rng = np.random.default_rng(0)
    loss = math.log(10) + 2.0 * np.exp(-np.arange(n) / 1.5) + rng.normal(0, 0.002, n)
    acc = 0.1 + rng.normal(0, 0.004, n)
    report = report_of(history(loss, loss + 0.01, accuracy=acc, val_accuracy=acc))
    assert report.conditions == ("underfitting",)
    assert report.findings[0].rule == "stuck-at-chance"


def test_an_exactly_constant_loss_is_never_healthy():
    report = report_of({"loss": [0.6931] * 4})
    assert report.conditions == ("lr_too_low",)


def test_a_short_run_whose_loss_rises_every_epoch_is_unstable():
    report = report_of({"loss": [0.52, 0.61, 0.74, 0.90]})
    assert report.conditions == ("lr_too_high",)
    assert "rose at every epoch" in report.findings[0].message


def test_still_improving_projects_the_gain_of_more_epochs():
    h = history(decaying(12, tau=30, noise=0.001), decaying(12, start=2.1, floor=0.3, tau=30, noise=0.001))
    report = report_of(h)
    assert "underfitting" in report.conditions or "lr_too_low" in report.conditions
    if "underfitting" in report.conditions:
        fix = next(f for f in report.fixes if f.action == "train_longer")
        assert fix.params["epochs"] > 12 and fix.params["projected"] < h["val_loss"][-1]


def test_loss_flat_for_a_straight_creeping_line():
    x = np.arange(30.0)
    train = 2.0 - 0.002 * x + np.random.default_rng(0).normal(0, 0.0005, 30)
    report = report_of({"loss": list(train), "learning_rate": [1e-6] * 30})
    assert report.conditions == ("lr_too_low",)
    fix = next(f for f in report.fixes if f.action == "raise_learning_rate")
    assert fix.params["from"] == 1e-6 and fix.params["to"] > 1e-6


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_short_runs_are_not_judged(n):
    report = report_of(history(np.linspace(1, 0.5, n), np.linspace(1, 0.6, n)) if n else {"loss": []})
    assert report.conditions == ()
    assert any("too few" in x or "no loss" in x for x in report.limitations)


def test_no_validation_data_is_said_not_guessed():
    report = report_of(history(decaying(30, noise=0.005)))
    assert any("no validation data" in x for x in report.limitations)


def test_unknown_metric_direction_is_reported_not_guessed():
    h = healthy_run()
    h["wibble"] = list(np.linspace(0, 1, 40))
    assert any("wibble" in x for x in report_of(h).limitations)


def test_select_and_ignore_rules():
    h = healthy_run()
    h["loss"][30:] = [math.nan] * 10
    assert report_of(h).conditions == ("lr_too_high",)
    run = Run.from_columns("synthetic", h)
    assert "loss-nan" not in {f.rule for f in diagnose(run, ignore=("loss-nan",)).findings}
    with pytest.raises(ValueError, match="unknown rule"):
        diagnose(run, select=("no-such-rule",))


def test_rule_options_change_thresholds():
    x = np.arange(50.0)
    h = history(decaying(50, noise=0.005), decaying(50, floor=0.5, noise=0.005) + 0.02 * np.maximum(x - 15, 0))
    run = Run.from_columns("synthetic", h)
    assert "overfitting" in diagnose(run).conditions
    strict = diagnose(run, rules={"val-loss-rising": {"min_rise": 5.0, "min_trending_rise": 5.0},
                                  "gap-widening": {"min_widening": 5.0}})
    assert "overfitting" not in strict.conditions


def test_an_accuracy_that_is_never_finite_is_ignored_not_a_crash():
    # Found by hypothesis in CI: the only accuracy series is logged, but only as NaN.
    h = healthy_run()
    h["accuracy"] = [math.nan] * 40
    assert report_of(h).conditions == ("healthy",)


def test_a_classifier_that_collapses_to_chance_after_a_blown_up_first_epoch_is_lr_too_high():
    # Synthetic: a binary model whose first epoch blew up (loss 3 x ln 2), then
    # sat at chance with its validation loss exactly at ln 2.
    n = 30
    rng = np.random.default_rng(3)
    loss = np.r_[2.1, 0.84 + 0.003 * np.arange(n - 1) + rng.normal(0, 0.004, n - 1)]
    val = math.log(2) + 0.002 * np.arange(n) / n + rng.normal(0, 0.001, n)
    acc = 0.55 + rng.normal(0, 0.01, n)
    report = report_of(history(loss, val, accuracy=acc, val_accuracy=acc))
    assert "lr_too_high" in report.conditions
    assert "loss-above-chance" in {f.rule for f in report.findings}


def test_a_weight_penalty_that_inflates_the_first_epochs_is_not_a_blow_up():
    # Synthetic: heavy L2: the loss decays smoothly from 10 x ln K to ln K.
    n = 30
    loss = math.log(10) + 20.0 * np.exp(-np.arange(n) / 4.0)
    acc = 0.12 + 0.01 * np.random.default_rng(0).normal(size=n)
    report = report_of(history(loss, loss + 0.01, accuracy=acc, val_accuracy=acc))
    assert "loss-above-chance" not in {f.rule for f in report.findings}
    assert "lr_too_high" not in report.conditions


def test_training_accuracy_that_falls_back_with_a_bouncing_loss_is_lr_too_high():
    # Synthetic: accuracy climbs to 0.85, then the steps throw it back to ~0.55.
    n = 30
    rng = np.random.default_rng(1)
    acc = np.r_[np.linspace(0.6, 0.85, 5), 0.55 + rng.normal(0, 0.03, n - 5)]
    loss = np.r_[np.linspace(1.0, 0.45, 5), 0.66 + rng.normal(0, 0.05, n - 5)]
    report = report_of({"loss": list(loss), "accuracy": list(acc)})
    assert "accuracy-collapse" in {f.rule for f in report.findings}
    assert "lr_too_high" in report.conditions


def test_accuracy_eroded_by_a_weight_penalty_under_a_smooth_loss_is_not_a_collapse():
    n = 30
    acc = np.r_[np.linspace(0.2, 0.75, 6), np.linspace(0.75, 0.3, n - 6)]
    loss = 2.3 + 20.0 * np.exp(-np.arange(n) / 4.0)
    report = report_of({"loss": list(loss), "accuracy": list(acc)})
    assert "accuracy-collapse" not in {f.rule for f in report.findings}


def test_a_classifier_memorising_its_training_set_overfits_without_a_big_rise():
    # Synthetic: validation loss flat from epoch 10 while the training loss
    # keeps falling toward zero (accuracy 1.0 vs 0.97 on validation).
    n = 60
    x = np.arange(n, dtype=float)
    rng = np.random.default_rng(2)
    train = 1.5 * np.exp(-x / 2.0) + 0.0002 + 0.01 * np.exp(-x / 12.0)
    val = np.maximum(0.105, 0.7 * np.exp(-x / 2.5)) + 0.00004 * np.maximum(x - 20, 0) \
        + rng.normal(0, 0.0005, n)
    acc = np.minimum(1.0, 0.6 + 0.1 * x)
    report = report_of(history(train, val, accuracy=acc, val_accuracy=np.minimum(0.97, acc)))
    assert "val-stalled" in {f.rule for f in report.findings}
    assert report.conditions == ("overfitting",)


def test_a_healthy_classifier_whose_validation_follows_is_not_stalled():
    h = healthy_run()
    n = len(h["loss"])
    h["accuracy"] = list(np.linspace(0.5, 0.95, n))
    assert "val-stalled" not in rules_of(h)


def test_a_classifier_creeping_a_few_percent_below_ln_k_is_flat():
    # Synthetic: binary model at lr 1e-3 SGD: 0.693 -> 0.677 in a smooth creep.
    n = 20
    loss = math.log(2) - 0.0008 * np.arange(n)
    acc = np.full(n, 0.607)
    report = report_of({"loss": list(loss), "accuracy": list(acc)})
    assert report.conditions == ("lr_too_low",)
    still = next(f for f in report.findings if f.rule == "loss-never-moves")
    assert "of the chance-level loss" in still.message


def test_a_model_that_fell_bent_and_stopped_at_chance_is_underfitting():
    # Synthetic: a linear model on circles: 0.7085 -> 0.6939 in two epochs, then flat.
    loss = [0.7085, 0.6958, 0.69386] + [0.69388 + 1e-6 * i for i in range(27)]
    acc = [0.495, 0.486, 0.462] + [0.466] * 27
    report = report_of({"loss": loss, "accuracy": acc})
    assert report.conditions == ("underfitting",)


def test_training_accuracy_far_below_validation_is_too_much_regularization():
    # Synthetic: dropout 0.9: training accuracy (dropout on) 0.43, validation 0.96.
    n = 30
    x = np.arange(n, dtype=float)
    train = 1.3 + 1.1 * np.exp(-x / 5.0)
    val = 0.38 + 1.8 * np.exp(-x / 6.0)
    acc = 0.43 - 0.3 * np.exp(-x / 5.0)
    val_acc = 0.96 - 0.5 * np.exp(-x / 4.0)
    report = report_of(history(train, val, accuracy=acc, val_accuracy=val_acc))
    assert report.conditions == ("underfitting",)
    assert report.findings[0].rule == "train-below-val"
    assert any(f.action == "reduce_regularization" for f in report.fixes)
