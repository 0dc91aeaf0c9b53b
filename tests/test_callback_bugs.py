"""DiagnoseCallback on real small Keras runs: regressions of issue 9, one section per item.

Every test trains a tiny model on scikit-learn or seeded numpy data for a few
epochs; none uses a drawn curve.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from diagnose import diagnose
from diagnose.fixes import BLOWUP_RULES
from diagnose.keras import DiagnoseCallback
from diagnose.keras import optimizer as optimizers
from diagnose.load import load

from .test_callback import fit, mlp


def actions(callback, name: str) -> list:
    return [a for a in callback.report.actions if a.action == name]


def finite(model) -> bool:
    return all(np.isfinite(w).all() for w in model.get_weights())


# --- 1. repair=N with NaN in the first epoch -----------------------------------------------

@pytest.mark.parametrize("optimizer", [
    pytest.param(lambda: keras.optimizers.Adam(1e6), id="adam"),
    pytest.param(lambda: keras.optimizers.SGD(100.0, momentum=0.9), id="sgd-momentum"),
])
def test_repair_rewinds_a_nan_in_the_first_epoch(digits, optimizer):
    x, y = digits
    keras.utils.set_random_seed(0)
    model = mlp(64, (64, 64, 64), 10, optimizer())
    callback = DiagnoseCallback(action="act", repair=2, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an internal error would disable it
        history = fit(model, x[:600], y[:600], callback, epochs=6)
    assert not callback.disabled, callback.error
    rewinds = actions(callback, "rewind")
    assert rewinds and rewinds[0].epoch == 1 and rewinds[0].params["to_epoch"] == 0
    assert not np.isfinite(history.history["loss"][0])
    # Repaired (learning from epoch 2 on), or stopped once the repairs ran out: never NaN
    # weights left behind.
    assert finite(model)
    if len(rewinds) == 2:
        assert actions(callback, "stop_training")


def test_repair_rewinds_a_nan_in_the_first_epoch_under_mixed_precision(digits):
    x, y = digits
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = mlp(64, (64, 64), 10, keras.optimizers.Adam(1e3))  # a LossScaleOptimizer
        callback = DiagnoseCallback(action="act", repair=2, verbose=0)
        fit(model, x[:600], y[:600], callback, epochs=4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert not callback.disabled, callback.error
    assert actions(callback, "rewind")[0].epoch == 1
    assert finite(model)
    assert optimizers.class_name(model.optimizer) == "Adam"  # the one the loss scaler wraps


# --- 2. batch checks restore the initial weights they promise -------------------------------

def test_a_nan_batch_stop_restores_the_initial_weights(digits):
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    initial = model.get_weights()
    callback = DiagnoseCallback(action="act", batch_checks=True, verbose=0)
    fit(model, *digits, callback, epochs=5)
    (stop,) = actions(callback, "stop_training")
    assert stop.params == {"restore_best_weights": True, "best_epoch": 0}
    (restore,) = actions(callback, "restore_best_weights")
    assert restore.params == {"epoch": 0}
    for got, want in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(got, want)


# --- 3. a loss that explodes and then freezes is a blow-up -----------------------------------

def exploded_moons(moons, callback, epochs=12):
    """SGD lr=10 on moons: the first epoch explodes, the ReLUs die, the loss freezes."""
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.SGD(10.0))
    return model, fit(model, *moons, callback, epochs=epochs)


def blow_up_rule(reason: str) -> str:
    """The rule an action on a blow-up names: 'lr_too_high (loss-exploded): ...'."""
    assert reason.startswith("lr_too_high (")
    rule = reason[len("lr_too_high ("):].split(")")[0]
    assert rule in BLOWUP_RULES
    return rule


def test_a_loss_that_exploded_and_froze_is_stopped_not_nursed(moons):
    callback = DiagnoseCallback(action="act", verbose=0)
    _, history = exploded_moons(moons, callback)
    assert len(history.history["loss"]) < 12
    (stop,) = actions(callback, "stop_training")
    assert blow_up_rule(stop.reason) in ("loss-exploded", "loss-above-chance")
    # The rules call the frozen loss "healthy" until the freeze is long enough to see
    # (epoch 7 here); a plateau cut before that is the plateau rule, none after.
    assert all(a.epoch < stop.epoch for a in actions(callback, "lower_learning_rate"))


def test_a_loss_that_exploded_and_froze_is_rewound_with_repair(moons):
    callback = DiagnoseCallback(action="act", repair=3, verbose=0)
    _, history = exploded_moons(moons, callback, epochs=16)
    (rewind, *_) = actions(callback, "rewind")
    assert blow_up_rule(rewind.reason) in ("loss-exploded", "loss-above-chance")
    assert rewind.params["to_epoch"] == 0
    assert rewind.params["to"] < rewind.params["from"] / 100  # sized as a blow-up
    assert all(a.epoch < rewind.epoch for a in actions(callback, "lower_learning_rate"))
    assert history.history["loss"][-1] < 0.5  # learning from the rewind on


# --- 4. the live verdict is diagnose(history) on the same epochs -----------------------------

def assert_live_is_offline(callback, history):
    offline = diagnose(history.history)
    assert callback.report.conditions == offline.conditions
    assert {f.rule for f in callback.report.findings} == {f.rule for f in offline.findings}


def test_a_deep_tanh_network_with_a_rate_far_too_high_gets_the_offline_verdict():
    # Issue 9's "SGD lr=5 tanh network whose loss sits about 100x the chance level". The
    # engine calls it underfitting (plateau-high) offline too, and the live verdict must
    # say what the engine says; the engine's call is reported, not changed, here.
    from sklearn.datasets import make_classification

    x, y = make_classification(1500, 20, n_informative=10, n_classes=5, random_state=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((20,))]
                             + [keras.layers.Dense(128, activation="tanh") for _ in range(3)]
                             + [keras.layers.Dense(5, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(5.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, x.astype("float32"), y, callback, epochs=12)
    assert np.median(history.history["loss"]) > 10 * np.log(5)  # far above chance
    assert_live_is_offline(callback, history)


def test_a_logistic_regression_stuck_at_chance_gets_the_offline_verdict():
    # Issue 9's "logistic regression stuck at chance, reported by act mode as overfitting".
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=0)
    keras.utils.set_random_seed(0)
    model = mlp(2, (), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, x.astype("float32"), y.astype("float32"), callback, epochs=20)
    assert max(history.history["val_accuracy"]) < 0.7  # a line cannot separate circles
    assert_live_is_offline(callback, history)


# --- 5. notices come when the engine first gives the condition -------------------------------

def visible_epoch(history: dict, condition: str) -> int | None:
    """Issue 9's visible epoch: the first epoch e from which diagnose(history[:e]) gives the
    condition at every epoch to the end (None when the whole run does not end with it)."""
    run = load(history)
    seen = [condition in diagnose(run.head(e)).conditions for e in range(1, len(run) + 1)]
    if not seen[-1]:
        return None
    first = len(seen)
    while first > 1 and seen[first - 2]:
        first -= 1
    return first


def assert_noticed_in_time(callback, history) -> dict:
    """Every condition of the final verdict was noticed at most 1 epoch after it was visible."""
    lateness = {}
    for condition in callback.report.conditions:
        if condition == "healthy":
            continue
        visible = visible_epoch(history.history, condition)
        lateness[condition] = callback.first_seen[condition] - visible
        assert lateness[condition] <= 1, (condition, visible, callback.first_seen)
    assert lateness
    return lateness


def five_classes():
    from sklearn.datasets import make_classification

    x, y = make_classification(1500, 20, n_informative=10, n_classes=5, random_state=0)
    return x.astype("float32"), y


def test_adam_at_a_rate_far_too_high_is_noticed_when_it_shows():
    # Issue 9's "Adam lr=0.5": on a 5-class problem the accuracy collapses to chance.
    keras.utils.set_random_seed(0)
    model = mlp(20, (64,), 5, keras.optimizers.Adam(0.5))
    callback = DiagnoseCallback(verbose=0)
    history = fit(model, *five_classes(), callback, epochs=12)
    assert "lr_too_high" in assert_noticed_in_time(callback, history)


@pytest.mark.parametrize("action", ["warn", "act"])
def test_a_diverging_loss_is_noticed_and_stopped_when_it_shows(moons, action):
    # SGD lr=2 with momentum 0.9: the loss climbs from the first epochs on.
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.SGD(2.0, momentum=0.9))
    callback = DiagnoseCallback(action=action, verbose=0)
    history = fit(model, *moons, callback, epochs=12)
    assert "lr_too_high" in assert_noticed_in_time(callback, history)
    if action == "act":  # acted on at the notice
        (stop,) = actions(callback, "stop_training")
        assert stop.epoch == callback.first_seen["lr_too_high"]


@pytest.mark.parametrize("action", ["warn", "act"])
def test_overfitting_with_validation_every_third_epoch_is_noticed_when_it_shows(moons, action):
    x, y = moons
    keras.utils.set_random_seed(0)
    model = mlp(2, (256, 256, 256), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action=action, verbose=0)
    history = model.fit(x[:60], y[:60], validation_data=(x[500:], y[500:]), validation_freq=3,
                        epochs=30, batch_size=16, verbose=0, callbacks=[callback])
    assert "overfitting" in assert_noticed_in_time(callback, history)


# --- 6. validation_freq: messages speak in epochs --------------------------------------------

def test_with_validation_every_third_epoch_the_callback_counts_epochs(moons):
    x, y = moons
    keras.utils.set_random_seed(0)
    model = mlp(2, (256, 256, 256), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action="act", verbose=0)
    model.fit(x[:60], y[:60], validation_data=(x[500:], y[500:]), validation_freq=3,
              epochs=30, batch_size=16, verbose=0, callbacks=[callback])
    (cut,) = actions(callback, "lower_learning_rate")
    waited, best = map(int, re.search(r"not improved for (\d+) epochs \(best \S+ at epoch (\d+)\)",
                                      cut.reason).groups())
    assert waited == cut.epoch - best and waited >= 9  # patience 3 counts validations: 9 epochs
    # Four validations cannot show overfitting: the reason says so instead of "no overfitting".
    assert "overfitting cannot be judged" in cut.reason
    stop = next(f for f in callback.report.fixes if f.action == "early_stopping")
    if stop.params["stopped_epoch"] is not None:
        assert stop.params["saved_epochs"] == 15 - stop.params["stopped_epoch"]  # in epochs


# --- 8. the report speaks to a callback user -------------------------------------------------

def significant_digits(text: str) -> int:
    """The most significant digits of any number in the text (1.249e+33: 4; 3.33333: 6)."""
    most = 0
    for number in re.findall(r"\d[\d.]*", text):
        digits = number.replace(".", "").lstrip("0").rstrip("0") if "." in number else number
        most = max(most, len(digits.lstrip("0")))
    return most


def test_the_report_gives_rates_and_the_runs_optimizer_not_cli_flags(moons):
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.SGD(2.0, momentum=0.9))
    callback = DiagnoseCallback(verbose=0)  # warn: the rate is logged all the same
    fit(model, *moons, callback, epochs=6)
    text = str(callback.report)
    lower = next(f for f in callback.report.fixes if f.action == "lower_learning_rate")
    assert lower.params["from"] == 2.0 and "from 2 to" in lower.text and "--lr" not in text
    clip = next(f for f in callback.report.fixes if f.action == "clip_gradients")
    assert clip.code.startswith("optimizer = keras.optimizers.SGD(")


def test_a_loss_of_1e33_is_written_in_four_digits(digits):
    x, y = digits
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(5.0, momentum=0.9))
    callback = DiagnoseCallback(verbose=0)
    history = fit(model, x[:600], y[:600], callback, epochs=3)
    assert max(history.history["loss"]) > 1e20
    text = str(callback.report)
    assert significant_digits(text) <= 5, text


def test_after_a_repair_the_report_does_not_say_nan_from_the_first_epoch_on(digits):
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    callback = DiagnoseCallback(action="act", repair=2, verbose=0)
    history = fit(model, *digits, callback, epochs=6)
    assert np.isnan(history.history["loss"][0]) and np.isfinite(history.history["loss"][1:]).all()
    nan = next(f for f in callback.report.findings if f.rule == "loss-nan")
    assert "from the first epoch on" not in nan.message
    assert "finite again from epoch 2" in nan.message
    assert f"lr 20 -> {actions(callback, 'rewind')[0].params['to']:g}" in str(callback.report)


def noisy_act_run(moons, fit_verbose: int, **kwargs):
    """SGD at 2 with momentum on moons: a notice and actions within 8 epochs."""
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.SGD(2.0, momentum=0.9))
    callback = DiagnoseCallback(action="act", **kwargs)
    model.fit(*moons, epochs=8, batch_size=32, validation_split=0.25, verbose=fit_verbose,
              callbacks=[callback])
    return callback


def test_the_callback_follows_fits_verbosity(moons, capsys):
    callback = noisy_act_run(moons, fit_verbose=0)
    assert callback.report.actions and capsys.readouterr().out == ""  # nothing at verbose=0
    callback = noisy_act_run(moons, fit_verbose=2)
    ours = [line for line in capsys.readouterr().out.splitlines() if "DiagnoseCallback" in line]
    assert ours and all(line.startswith("Epoch ") for line in ours)
    assert len(ours) == len(callback.first_seen) + len(callback.report.actions)  # a line each
    assert "(live)" not in capsys.readouterr().out  # the full report only when asked


def test_the_full_report_is_printed_when_asked(moons, capsys):
    callback = noisy_act_run(moons, fit_verbose=0, print_report=True)
    out = capsys.readouterr().out
    assert out.strip() == str(callback.report).strip()


def test_a_run_without_validation_is_not_said_to_have_one(moons):
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.Adam(3e-3))
    callback = DiagnoseCallback(verbose=0)
    fit(model, *moons, callback, epochs=10, validation_split=None)
    text = str(callback.report)
    assert "val_" not in text and "follows" not in text
    assert "no validation data" in " ".join(callback.report.limitations)


# --- 9. a LearningRateScheduler owns the rate, wherever it stands in the list -----------------

@pytest.mark.parametrize("scheduler_first", [True, False],
                         ids=["scheduler-first", "callback-first"])
def test_a_learning_rate_scheduler_keeps_the_rate_in_either_order(scheduler_first):
    # Seeded numpy data with nothing to learn: the validation loss plateaus at once, and a
    # step schedule leaves the rate as it is for the first 10 epochs.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 4)).astype("float32"), rng.integers(0, 2, 400).astype("float32")
    keras.utils.set_random_seed(0)
    model = mlp(4, (4,), 1, keras.optimizers.Adam(1e-2))
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 1e-2 * 0.5 ** (epoch // 10))
    callback = DiagnoseCallback(action="act", patience=1, verbose=0)
    order = [schedule, callback] if scheduler_first else [callback, schedule]
    with pytest.warns(UserWarning, match="another callback sets the learning rate"):
        model.fit(x, y, epochs=8, batch_size=32, validation_split=0.25, verbose=0, callbacks=order)
    assert not actions(callback, "lower_learning_rate") and not actions(callback, "rewind")
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
