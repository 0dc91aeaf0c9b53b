"""Fixes are sized to the run: EarlyStopping replay matches Keras, LR changes use the logged rate."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnose import diagnose
from diagnose.engine import Options
from diagnose.features import Curve
from diagnose.fixes import (BLOWUP_RULES, LOWER_BLOWUP, LOWER_UNSTABLE, RAISE_MAX, RAISE_MIN,
                            RAISE_PACE, noise_patience, raise_factor, range_test_fix,
                            replay_early_stopping)
from diagnose.load.keras_csv import parse
from diagnose.run import Run
from diagnose.verdict import features_of

from .synthetic import decaying, history

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORPUS = FIXTURES / "corpus" / "runs.jsonl.gz"


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
    fix = report.fixes[0]
    assert fix.action == "lower_learning_rate" and fix.automatic
    assert fix.params["from"] == 0.1
    assert fix.params["factor"] == pytest.approx(LOWER_BLOWUP, rel=0.05)  # NaN: a blow-up
    assert fix.params["to"] == pytest.approx(0.1 * fix.params["factor"], rel=0.05)
    assert f"from 0.1 to {fix.params['to']:g} (try " in fix.text
    assert f"optimizer.learning_rate = {fix.params['to']:g}" in fix.code


def _synthetic_creep(pace: float, n: int = 40, start: float = 2.3, noise: float = 0.0, seed: int = 0):
    """Synthetic: a straight creep losing ``pace`` of its start level per epoch."""
    rng = np.random.default_rng(seed)
    y = start * (1 - pace * np.arange(n)) + noise * start * rng.normal(size=n)
    return Run.from_columns("synthetic", {"loss": list(y)})


@pytest.mark.parametrize("pace", [1e-4, 5e-4, 2e-3, 5e-3])
def test_raise_factor_scales_the_run_to_a_workable_pace(pace):
    f = features_of(_synthetic_creep(pace), Options())
    factor, measured = raise_factor(f)
    # pace is per starting level (the median of the first three epochs)
    assert measured == pytest.approx(pace, rel=0.01)
    assert factor == pytest.approx(min(max(RAISE_PACE / pace, RAISE_MIN), RAISE_MAX), rel=0.01)


def test_a_rate_further_off_gets_a_larger_raise_on_real_runs():
    """Real corpus runs: in every group, the run trained at 1/1000 of the healthy Adam rate
    (flat) is told to raise it more than its twin variant at 1/100 (a creep)."""
    factors: dict = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["fault"] in ("lr_too_low/flat_adam_1e-3x", "lr_too_low/creep_adam"):
                report = diagnose(parse(row["csv"], row["run"]))
                if report.conditions == ("lr_too_low",):
                    group = row["run"].rsplit(".", 3)[0]
                    factors.setdefault(group, {})[row["fault"]] = report.fixes[0].params["factor"]
    pairs = [v for v in factors.values() if len(v) == 2]
    assert len(pairs) >= 15
    flat = np.array([v["lr_too_low/flat_adam_1e-3x"] for v in pairs])
    creep = np.array([v["lr_too_low/creep_adam"] for v in pairs])
    assert (flat >= creep).all()
    assert ((flat > creep) | (creep == RAISE_MAX)).all()  # equal only at the cap


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-5, 0.05), st.floats(1.01, 20), st.integers(0, 10_000))
def test_a_slower_creep_never_gets_a_smaller_raise(pace, slower, seed):
    fast = raise_factor(features_of(_synthetic_creep(pace, noise=1e-5, seed=seed), Options()))[0]
    slow = raise_factor(features_of(_synthetic_creep(pace / slower, noise=1e-5, seed=seed),
                                    Options()))[0]
    assert RAISE_MIN <= fast <= RAISE_MAX and RAISE_MIN <= slow <= RAISE_MAX
    assert slow >= fast * (1 - 1e-6) or slow == RAISE_MAX


LR_ACTIONS = {"lower_learning_rate", "raise_learning_rate"}
AUTOMATIC = {"lower_learning_rate", "raise_learning_rate", "clip_gradients", "early_stopping",
             "train_longer"}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.csv")), ids=lambda p: p.stem)
def test_real_reports_size_the_rate_by_what_the_run_shows(path):
    """Real fixture runs: one rate change at most, sized by the rule that fired."""
    report = diagnose(path)
    changes = [f for f in report.fixes if f.action in LR_ACTIONS]
    assert len(changes) <= 1
    for fix in report.fixes:
        assert fix.automatic == (fix.action in AUTOMATIC), fix.action
    if "lr_too_high" in report.conditions:
        assert changes and changes[0].action == "lower_learning_rate"
        blew_up = any(x.rule in BLOWUP_RULES for x in report.findings)
        size = LOWER_BLOWUP if blew_up else LOWER_UNSTABLE
        assert changes[0].params["factor"] == pytest.approx(size, rel=0.05)
    if "lr_too_low" in report.conditions:
        assert changes and changes[0].action == "raise_learning_rate"
        assert RAISE_MIN <= changes[0].params["factor"] <= RAISE_MAX


def test_the_range_test_snippet_runs_and_finds_a_rate():
    """The pasted code works: on a real (small) Keras model it picks a finite rate."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(1000, 8)).astype("float32")
    y_train = (x_train[:, 0] + x_train[:, 1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(1e-6), loss="binary_crossentropy")
    scope = {"keras": keras, "model": model, "x_train": x_train, "y_train": y_train}
    exec(range_test_fix("lr_too_low").code, scope)
    losses, rates = scope["losses"], scope["rates"]
    best = rates[int(np.argmin(losses))]
    assert 1e-5 < best < 10 and min(losses) < 0.5 * losses[0]


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


def test_code_snippets_build_the_runs_own_optimizer_when_it_is_known():
    # Real runs: SGD blew up to NaN (lr_too_high); a rate of 1e-6 never moved (lr_too_low).
    for name, action in (("digits_high_sgd_nan", "clip_gradients"),
                         ("cls5_low_1e-6", "lr_range_test")):
        path = FIXTURES / f"{name}.json"
        today = next(f for f in diagnose(path).fixes if f.action == action).code
        assert "keras.optimizers.Adam(" in today  # a log does not say which optimizer ran
        named = next(f for f in diagnose(path, optimizer="SGD").fixes if f.action == action).code
        assert "keras.optimizers.SGD(" in named and "Adam" not in named
    with pytest.raises(ValueError, match="optimizer must be a class name"):
        Options(optimizer="keras.optimizers.SGD")
    with pytest.raises(TypeError, match="optimizer must be a class name"):
        Options(optimizer=3)


def test_the_patience_text_says_why_it_is_what_it_is():
    """Synthetic: a validation loss that improves every epoch until its best never waited,
    so a patience of 3 is the floor, not a measured stretch; one that waited 5 epochs is."""
    x = np.arange(40.0)
    train = 2.0 * np.exp(-x / 6) + 0.05
    steady = np.r_[2.0 * np.exp(-x[:20] / 5) + 0.3, 0.3 + 0.02 * np.arange(1, 21)]
    stop = next(f for f in diagnose(history(train, steady)).fixes if f.action == "early_stopping")
    assert stop.params["patience"] == 3 and "the least that outlasts a noisy epoch" in stop.text
    waited = steady.copy()
    waited[5:10] = waited[4] + 0.01  # five epochs without a new best, then improving again
    stop = next(f for f in diagnose(history(train, waited)).fixes if f.action == "early_stopping")
    assert stop.params["patience"] == 6
    assert "the longest stretch without a new best before epoch 21 was 5 epochs" in stop.text
    assert " 1 epochs" not in stop.text


def test_a_logged_rate_of_zero_gives_factors_not_a_rate_of_zero():
    # Synthetic: a flat loss logged with a learning rate of 0 (a warm-up that never began).
    import numpy as np

    from diagnose.run import Run

    n = 30
    loss = 2.3 - 0.001 * np.arange(n)
    run = Run.from_columns("synthetic", {"loss": loss, "learning_rate": [0.0] * n})
    report = diagnose(run)
    assert report.fixes
    for fix in report.fixes:
        assert "from 0 to 0" not in fix.text and "learning_rate = 0 " not in fix.code
        assert "no learning-rate column" not in fix.text  # it has one, holding 0
