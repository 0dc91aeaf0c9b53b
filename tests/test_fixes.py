"""Fixes are sized to the run: EarlyStopping replay matches Keras, LR changes use the logged rate."""

from __future__ import annotations

import numpy as np
import pytest

from diagnose import diagnose
from diagnose.features import Curve
from diagnose.fixes import noise_patience, replay_early_stopping
from diagnose.run import Run

from .synthetic import decaying, history


def _curve(values, direction="min"):
    run = Run.from_columns("synthetic", {"val_loss": list(values)})
    return Curve(run, "val_loss", direction)


@pytest.mark.parametrize("patience", [1, 2, 3, 5])
def test_replay_matches_keras_early_stopping(patience):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(patience)
    values = list(1.0 + 0.1 * rng.standard_normal(30) + np.linspace(0, 0.5, 30) ** 2)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                            restore_best_weights=True)
    stopper.set_model(model)
    stopper.on_train_begin()
    keras_stop = None
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if getattr(model, "stop_training", False):
            keras_stop = epoch + 1  # 1-based, as the replay reports it
            break
    replay = replay_early_stopping(_curve(values), patience)
    assert replay.stopped_epoch == keras_stop
    assert replay.best_epoch == stopper.best_epoch + 1


def test_noise_patience_outlasts_the_longest_wait_before_the_best():
    # New bests at epochs 1, 2, 6 (a 3-epoch wait), 7; then it rises.
    values = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.7, 0.9, 1.0, 1.1]
    assert noise_patience(_curve(values)) == 4


def test_noise_patience_is_at_least_three():
    assert noise_patience(_curve([1.0, 0.5, 0.4, 0.6, 0.8])) == 3


def test_overfitting_fix_is_an_exact_early_stopping_call_with_its_savings():
    x = np.arange(60.0)
    train = decaying(60, noise=0.005, seed=1)
    val = decaying(60, floor=0.5, noise=0.005, seed=2) + 0.02 * np.maximum(x - 20, 0)
    report = diagnose(Run.from_columns("synthetic", history(train, val)))
    assert report.conditions == ("overfitting",)
    stop = next(f for f in report.fixes if f.action == "early_stopping")
    assert stop.code.startswith('keras.callbacks.EarlyStopping(monitor="val_loss"')
    assert f"patience={stop.params['patience']}" in stop.code
    assert stop.params["saved_epochs"] > 20
    assert stop.params["stopped_epoch"] < 35
    assert str(stop.params["saved_epochs"]) in stop.text


def test_learning_rate_fix_uses_the_logged_rate():
    train = decaying(30, noise=0.002, seed=3)
    train[20:] = np.nan  # blew up
    lr = [0.1] * 30
    report = diagnose(Run.from_columns("synthetic", {"loss": list(train), "learning_rate": lr}))
    assert "lr_too_high" in report.conditions
    fix = next(f for f in report.fixes if f.action == "lower_learning_rate")
    assert fix.params["from"] == 0.1
    assert 0.01 <= fix.params["to"] <= 0.035
    assert "from 0.1 to 0.01-0.032" in fix.text


def test_learning_rate_fix_without_a_logged_rate_uses_factors_or_the_given_rate():
    train = decaying(30, noise=0.002, seed=3)
    train[20:] = np.nan
    run = Run.from_columns("synthetic", {"loss": list(train)})
    assert next(f for f in diagnose(run).fixes if f.action == "lower_learning_rate").params.get("from") is None
    given = diagnose(run, learning_rate=0.5)
    assert next(f for f in given.fixes if f.action == "lower_learning_rate").params["from"] == 0.5


def test_saved_epochs_count_epochs_not_validations():
    # Synthetic: validation every 3rd epoch (validation_freq=3), best at epoch 9,
    # rising after it; 60 epochs in all.
    n = 60
    x = np.arange(1, n + 1, dtype=float)
    train = 2.0 * np.exp(-x / 5.0) + 0.05
    val = [None] * n
    for i in range(2, n, 3):
        val[i] = 0.5 + 0.01 * (x[i] - 9.0) ** 2 / 9.0
    report = diagnose({"loss": list(train), "val_loss": val})
    stop = next(f for f in report.fixes if f.action == "early_stopping")
    assert stop.params["stopped_epoch"] is not None
    assert stop.params["saved_epochs"] == int(n - stop.params["stopped_epoch"])


def test_a_long_run_judged_in_bins_speaks_in_epochs():
    # Synthetic: 200,000 epochs, judged on bins; the report counts real epochs.
    n = 200_000
    x = np.arange(n, dtype=float)
    loss = 0.1 + 2.0 * np.exp(-x / 20_000) + np.random.default_rng(0).normal(0, 0.01, n)
    report = diagnose({"loss": list(loss)})
    assert report.summary["epochs"] == n
    assert float(report.summary["best_epoch"]).is_integer()
    stop = next(f for f in report.fixes if f.action == "early_stopping")
    assert stop.params["patience"] >= 20  # Keras epochs, not bins
