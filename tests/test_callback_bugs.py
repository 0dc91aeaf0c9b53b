"""DiagnoseCallback on real small Keras runs: regressions of issue 9, one section per item.

Every test trains a tiny model on scikit-learn or seeded numpy data for a few
epochs; none uses a drawn curve.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from diagnose.fixes import BLOWUP_RULES
from diagnose.keras import DiagnoseCallback

from .test_callback import digits, fit, mlp, moons  # noqa: F401 - fixtures


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
    model, history = exploded_moons(moons, callback, epochs=16)
    (rewind, *_) = actions(callback, "rewind")
    assert blow_up_rule(rewind.reason) in ("loss-exploded", "loss-above-chance")
    assert rewind.params["to_epoch"] == 0
    assert rewind.params["to"] < rewind.params["from"] / 100  # sized as a blow-up
    assert all(a.epoch < rewind.epoch for a in actions(callback, "lower_learning_rate"))
    assert history.history["loss"][-1] < 0.5  # learning from the rewind on
