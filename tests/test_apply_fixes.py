"""apply_fixes: a report's automatic fixes applied to a real Keras model and fit()'s arguments."""

from __future__ import annotations

import doctest
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from diagnose import diagnose
from diagnose.keras import Applied, ScaledSchedule, apply_fixes
from diagnose.keras import apply as apply_module
from diagnose.keras import optimizer as optimizers
from diagnose.report import Fix, Report

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RNG = np.random.default_rng(0)
X = RNG.random((64, 4)).astype("float32")
Y = X.sum(axis=1, keepdims=True).astype("float32")


def fix(action: str, automatic: bool = True, **params) -> Fix:
    return Fix(action, params, f"{action} text", f"{action} code", "lr_too_high", automatic)


def report(*fixes: Fix) -> Report:
    return Report("test", ("lr_too_high",), fixes=fixes)


def model(optimizer="sgd") -> keras.Model:
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(1)])
    net.compile(optimizer=optimizer, loss="mse")
    return net


def rate(net: keras.Model) -> float:
    return optimizers.learning_rate(net.optimizer)


STOP = {"monitor": "val_loss", "mode": "min", "patience": 4, "restore_best_weights": True}


# --- the learning rate -----------------------------------------------------------------

def test_a_float_learning_rate_is_multiplied_exactly():
    net = model(keras.optimizers.SGD(0.1))
    _, applied, manual = apply_fixes(report(fix("lower_learning_rate", factor=0.25)), net)
    assert net.optimizer.learning_rate.numpy() == np.float32(0.025)
    assert applied == [Applied(report(fix("lower_learning_rate", factor=0.25)).fixes[0],
                               "Learning rate 0.1 -> 0.025 (x0.25).")]
    assert manual == []

    _, applied, _ = apply_fixes(report(fix("raise_learning_rate", factor=4.0)), net)
    assert net.optimizer.learning_rate.numpy() == np.float32(0.1)
    assert applied[0].change == "Learning rate 0.025 -> 0.1 (x4)."


def test_the_factor_scales_the_models_own_rate_and_says_when_the_log_had_another():
    net = model(keras.optimizers.SGD(0.01))
    _, applied, _ = apply_fixes(report(fix("lower_learning_rate", factor=0.5, **{"from": 0.1})),
                                net)
    assert rate(net) == pytest.approx(0.005)
    assert "the diagnosed run logged 0.1" in applied[0].change


def test_a_schedule_is_scaled_at_every_step_and_scaling_twice_multiplies():
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    net = model(keras.optimizers.Adam(cosine))
    _, applied, _ = apply_fixes(report(fix("lower_learning_rate", factor=0.3)), net)
    scaled = net.optimizer._learning_rate
    assert isinstance(scaled, ScaledSchedule) and scaled.schedule is cosine
    for step in (0, 10, 50, 99, 150):
        assert float(scaled(step)) == pytest.approx(0.3 * float(cosine(step)), rel=1e-6)
    assert applied[0].change == ("Learning-rate schedule CosineDecay scaled by 0.3 "
                                 "(0.1 -> 0.03 at step 0).")

    apply_fixes(report(fix("lower_learning_rate", factor=0.5)), net)
    again = net.optimizer._learning_rate
    assert again.schedule is cosine and again.factor == pytest.approx(0.15)  # not nested


def test_a_scaled_schedule_takes_effect_on_a_model_that_has_already_trained():
    flat = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10**9, decay_rate=0.5)
    net = model(keras.optimizers.SGD(flat))
    start = net.get_weights()

    def one_step() -> float:
        net.set_weights(start)
        net.fit(X[:16], Y[:16], batch_size=16, epochs=1, verbose=0, shuffle=False)
        return float(np.linalg.norm(net.get_weights()[0] - start[0]))

    before = one_step()  # traces the train step with the unscaled schedule
    apply_fixes(report(fix("lower_learning_rate", factor=0.3)), net)
    assert one_step() == pytest.approx(0.3 * before, rel=1e-3)


def test_a_learning_rate_scheduler_in_callbacks_is_scaled_too():
    net = model(keras.optimizers.SGD(0.1))
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch,
                                                      verbose=1)
    callbacks = [scheduler]
    kwargs, applied, _ = apply_fixes(report(fix("lower_learning_rate", factor=0.1)), net,
                                     callbacks=callbacks)
    new = kwargs["callbacks"][0]
    assert callbacks == [scheduler]
    assert isinstance(new, keras.callbacks.LearningRateScheduler) and new is not scheduler
    assert new.verbose == 1
    assert "LearningRateScheduler in callbacks scaled by 0.1" in applied[0].change
    net.fit(X, Y, epochs=2, verbose=0, **kwargs)
    assert rate(net) == pytest.approx(0.1 * 0.1 * 0.5)  # the schedule's epoch 2, scaled

    # A schedule of the old API, schedule(epoch), is scaled as well.
    old_api = keras.callbacks.LearningRateScheduler(lambda epoch: 0.2)
    kwargs, _, _ = apply_fixes(report(fix("lower_learning_rate", factor=0.5)), net,
                               callbacks=[old_api])
    net.fit(X, Y, epochs=1, verbose=0, **kwargs)
    assert rate(net) == pytest.approx(0.1)


def test_reduce_lr_on_plateau_in_callbacks_is_left_alone():
    net = model(keras.optimizers.SGD(0.1))
    plateau = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
    kwargs, applied, _ = apply_fixes(report(fix("lower_learning_rate", factor=0.5)), net,
                                     callbacks=[plateau])
    assert kwargs["callbacks"] == [plateau] and kwargs["callbacks"][0] is plateau
    assert applied[0].change == "Learning rate 0.1 -> 0.05 (x0.5)."


# --- clipping ----------------------------------------------------------------------------

def test_clipping_takes_effect_on_a_model_that_has_already_trained():
    net = model(keras.optimizers.SGD(0.01))
    net.fit(X, Y, epochs=1, verbose=0)  # the train step is traced without clipping
    start = net.get_weights()

    def largest_step() -> float:
        """Weight change of one step on a batch whose gradient is huge."""
        net.set_weights(start)
        net.fit(X[:16], Y[:16] * 1e4, batch_size=16, epochs=1, verbose=0, shuffle=False)
        return max(float(np.linalg.norm(a - b)) for a, b in zip(net.get_weights(), start))

    unclipped = largest_step()
    _, applied, _ = apply_fixes(report(fix("clip_gradients", clipnorm=1.0)), net)
    clipped = largest_step()
    assert net.optimizer.clipnorm == 1.0
    assert unclipped > 100 * 0.01
    assert clipped <= 0.01 * 1.0 * (1 + 1e-4)  # learning rate x clipnorm, per weight
    assert applied[0].change.startswith("Gradients clipped: clipnorm=1.0 on the optimizer")


def test_the_users_own_clipping_is_kept():
    net = model(keras.optimizers.SGD(0.1, clipvalue=0.5))
    _, applied, _ = apply_fixes(report(fix("clip_gradients", clipnorm=1.0)), net)
    assert net.optimizer.clipnorm is None and net.optimizer.clipvalue == 0.5
    assert applied[0].skipped
    assert applied[0].change == ("Not applied: the optimizer already clips gradients "
                                 "(clipvalue=0.5), and that setting is kept.")


# --- callbacks, epochs, batch size --------------------------------------------------------

def test_early_stopping_is_added_or_replaces_the_one_there():
    informative = {"stopped_epoch": 27.0, "best_epoch": 24.0, "best_value": 0.28,
                   "saved_epochs": 123}
    stop = fix("early_stopping", **STOP, **informative)
    kwargs, applied, _ = apply_fixes(report(stop), model())
    (added,) = kwargs["callbacks"]
    assert isinstance(added, keras.callbacks.EarlyStopping)
    assert (added.monitor, added.mode, added.patience, added.restore_best_weights) == (
        "val_loss", "min", 4, True)
    assert applied[0].change == ('Added EarlyStopping(monitor="val_loss", mode="min", '
                                 'patience=4, restore_best_weights=True) to callbacks.')

    mine = keras.callbacks.EarlyStopping(patience=10)
    other = keras.callbacks.TerminateOnNaN()
    kwargs, applied, _ = apply_fixes(report(stop), model(), callbacks=[mine, other])
    assert len(kwargs["callbacks"]) == 2 and kwargs["callbacks"][1] is other
    assert kwargs["callbacks"][0] is not mine and kwargs["callbacks"][0].patience == 4
    assert applied[0].change.startswith("Replaced the EarlyStopping in callbacks (patience 10) by")


def test_train_longer_raises_the_epochs_and_adds_its_early_stopping():
    longer = fix("train_longer", epochs=40, projected=0.3, early_stopping=STOP)
    kwargs, applied, _ = apply_fixes(report(longer), model(), epochs=10)
    assert kwargs["epochs"] == 40
    (stop,) = kwargs["callbacks"]
    assert isinstance(stop, keras.callbacks.EarlyStopping) and stop.patience == 4
    assert applied[0].change.startswith("Epochs 10 -> 40 and added EarlyStopping(")

    kwargs, applied, _ = apply_fixes(report(longer), model())
    assert kwargs["epochs"] == 40 and "Epochs 1 (Keras' default) -> 40" in applied[0].change


def test_train_longer_never_lowers_the_epochs_nor_adds_a_second_early_stopping():
    longer = fix("train_longer", epochs=40, projected=0.3, early_stopping=STOP)
    mine = keras.callbacks.EarlyStopping(patience=7)
    kwargs, applied, _ = apply_fixes(report(longer), model(), epochs=100)
    assert kwargs["epochs"] == 100 and len(kwargs["callbacks"]) == 1
    assert "epochs=100 already reaches the 40 it asks for" in applied[0].change

    kwargs, applied, _ = apply_fixes(report(longer), model(), epochs=100, callbacks=[mine])
    assert kwargs == {"epochs": 100, "callbacks": [mine]}
    assert applied[0].skipped
    assert applied[0].change == ("Not applied: epochs=100 already reaches the 40 it asks for and "
                                 "the EarlyStopping already in callbacks (patience 7) is kept.")


def test_reduce_lr_on_plateau_and_batch_size():
    plateau = fix("reduce_lr_on_plateau", monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5)
    kwargs, applied, _ = apply_fixes(report(plateau, fix("batch_size", batch_size=64)), model(),
                                     batch_size=128)
    (added,) = kwargs["callbacks"]
    assert isinstance(added, keras.callbacks.ReduceLROnPlateau)
    assert (added.monitor, added.factor, added.patience, added.min_lr) == ("val_loss", 0.5, 3, 1e-5)
    assert kwargs["batch_size"] == 64
    assert [a.change for a in applied] == [
        ('Added ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-05) '
         'to callbacks.'),
        "batch_size 128 -> 64."]

    # Over a schedule, ReduceLROnPlateau would raise TypeError at the first plateau.
    scheduled = model(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(0.1, 100)))
    kwargs, applied, _ = apply_fixes(report(plateau), scheduled)
    assert "callbacks" not in kwargs and applied[0].skipped
    assert "learning rate is a schedule (CosineDecay)" in applied[0].change


def test_the_first_fix_to_set_something_wins():
    net = model(keras.optimizers.SGD(0.1))
    lower, higher = fix("lower_learning_rate", factor=0.5), fix("raise_learning_rate", factor=3.0)
    longer = fix("train_longer", epochs=40, projected=0.3, early_stopping=STOP)
    stop = fix("early_stopping", **{**STOP, "patience": 9})
    kwargs, applied, _ = apply_fixes(report(lower, longer, higher, stop), net, epochs=5)
    assert rate(net) == pytest.approx(0.05)
    assert [a.skipped for a in applied] == [False, False, True, True]
    assert applied[2].change == ("Not applied: the learning rate was already set by the "
                                 "lower_learning_rate fix.")
    assert applied[3].change == ("Not applied: early stopping was already set by the "
                                 "train_longer fix.")
    assert [c.patience for c in kwargs["callbacks"]] == [4]


def test_an_alternative_is_applied_only_when_what_it_replaces_was_not():
    lower = fix("lower_learning_rate", factor=0.1)
    clip = fix("clip_gradients", clipnorm=1.0, alternative_to="lower_learning_rate")
    net = model(keras.optimizers.SGD(0.1))
    _, applied, _ = apply_fixes(report(lower, clip), net)
    assert [a.skipped for a in applied] == [False, True]
    assert applied[1].change == ("Not applied: it is the alternative to the lower_learning_rate "
                                 "fix, which was applied.")
    assert not _inner_clipnorm(net)
    alone = model(keras.optimizers.SGD(0.1))
    _, applied, _ = apply_fixes(report(clip), alone)
    assert not applied[0].skipped and _inner_clipnorm(alone) == 1.0


def _inner_clipnorm(net: keras.Model):
    return net.optimizer.clipnorm


def test_fixes_that_are_not_automatic_are_returned_in_report_order():
    regularize = fix("add_regularization", automatic=False, dropout=0.2, l2=1e-4)
    newer = fix("warmup", epochs=3, start_factor=0.1)  # automatic, but unknown to this version
    lower = fix("lower_learning_rate", factor=0.5)
    capacity = fix("increase_capacity", automatic=False, width_factor=2)
    kwargs, applied, manual = apply_fixes(report(regularize, newer, lower, capacity), model(),
                                          epochs=3)
    assert manual == [regularize, newer, capacity]
    assert [a.fix for a in applied] == [lower]
    assert kwargs == {"epochs": 3}


def test_the_callers_arguments_are_not_changed():
    mine = keras.callbacks.EarlyStopping(patience=10)
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr)
    callbacks = [mine, scheduler]
    fit_kwargs = {"epochs": 5, "callbacks": callbacks, "batch_size": 16}
    fixes = report(fix("lower_learning_rate", factor=0.5), fix("early_stopping", **STOP),
                   fix("train_longer", epochs=40, projected=0.3, early_stopping=STOP),
                   fix("batch_size", batch_size=64))
    kwargs, _, _ = apply_fixes(fixes, model(), **fit_kwargs)
    assert fit_kwargs == {"epochs": 5, "callbacks": [mine, scheduler], "batch_size": 16}
    assert fit_kwargs["callbacks"] is callbacks and callbacks[0] is mine and mine.patience == 10
    assert kwargs["callbacks"] is not callbacks
    assert (kwargs["epochs"], kwargs["batch_size"]) == (40, 64)


def test_a_report_read_back_from_json_works_and_an_old_one_applies_nothing():
    fixes = report(fix("lower_learning_rate", factor=0.5), fix("early_stopping", **STOP),
                   fix("add_regularization", automatic=False, dropout=0.2))
    as_json = json.loads(fixes.to_json())
    net = model(keras.optimizers.SGD(0.1))
    kwargs, applied, manual = apply_fixes(as_json, net)
    assert rate(net) == pytest.approx(0.05)
    assert [a.fix.action for a in applied] == ["lower_learning_rate", "early_stopping"]
    assert manual == [fixes.fixes[2]]
    assert isinstance(kwargs["callbacks"][0], keras.callbacks.EarlyStopping)

    for entry in as_json["fixes"]:
        del entry["automatic"]  # JSON written before the field existed
    kwargs, applied, manual = apply_fixes(as_json, net)
    assert (kwargs, applied) == ({}, [])
    assert [f.action for f in manual] == ["lower_learning_rate", "early_stopping",
                                          "add_regularization"]
    assert rate(net) == pytest.approx(0.05)


# --- errors ------------------------------------------------------------------------------

def test_an_uncompiled_model_is_a_clear_error():
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="mine")
    with pytest.raises(ValueError, match=r"^compile the model before apply_fixes: the "
                                         r"lower_learning_rate fix .* 'mine' has none"):
        apply_fixes(report(fix("lower_learning_rate", factor=0.5)), net)
    # Callbacks alone need no optimizer.
    kwargs, _, _ = apply_fixes(report(fix("early_stopping", **STOP)), net)
    assert len(kwargs["callbacks"]) == 1


@pytest.mark.parametrize("bad, message", [
    (fix("clip_gradients", clipnorm=-1.0),
     r"fix 2 \(clip_gradients\): clipnorm must be a positive number, got -1.0"),
    (fix("early_stopping", monitor="val_loss", mode="min", patience=3),
     r"fix 2 \(early_stopping\): params has no 'restore_best_weights'"),
    (fix("train_longer", epochs=2.5), r"epochs must be a whole number >= 1, got 2.5"),
    (fix("reduce_lr_on_plateau", monitor="val_loss", factor=2.0, patience=3, min_lr=0.0),
     r"factor must be a number between 0 and 1, got 2.0"),
])
def test_bad_params_are_a_clear_error_before_anything_changes(bad, message):
    net = model(keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match=message):
        apply_fixes(report(fix("lower_learning_rate", factor=0.5), bad), net)
    assert rate(net) == pytest.approx(0.1)


def test_what_is_not_a_report_or_a_model_is_a_clear_error():
    with pytest.raises(TypeError, match="report must be a diagnose Report or its to_dict"):
        apply_fixes("report.json", model())
    with pytest.raises(ValueError, match="no 'fixes' list"):
        apply_fixes({"source": "x"}, model())
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        apply_fixes(report(), "model")
    with pytest.raises(TypeError, match="callbacks must be a list"):
        apply_fixes(report(), model(), callbacks=keras.callbacks.TerminateOnNaN())


# --- saving, end to end --------------------------------------------------------------------

def test_a_model_with_a_scaled_schedule_saves_and_loads(tmp_path):
    cosine = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    net = model(keras.optimizers.Adam(cosine))
    apply_fixes(report(fix("lower_learning_rate", factor=0.3)), net)
    net.fit(X, Y, epochs=1, verbose=0)
    net.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, ScaledSchedule) and schedule.factor == pytest.approx(0.3)
    assert isinstance(schedule.schedule, keras.optimizers.schedules.CosineDecay)
    assert int(loaded.optimizer.iterations.numpy()) == int(net.optimizer.iterations.numpy())
    assert rate(loaded) == pytest.approx(rate(net))
    for a, b in zip(loaded.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name, condition", [("iris_high_adam", "lr_too_high"),
                                             ("digits_overfit_subset", "overfitting")])
def test_a_diagnosed_fixture_run_applies_and_trains(name, condition):
    diagnosed = diagnose(str(FIXTURES / f"{name}.csv"))
    assert condition in diagnosed.conditions
    net = model(keras.optimizers.Adam(0.01))
    kwargs, applied, manual = apply_fixes(diagnosed, net, epochs=2)
    # Only an alternative to an applied fix is skipped (clipping, once the rate is lowered).
    assert applied and all(a.skipped == ("alternative_to" in a.fix.params) for a in applied)
    assert [a.fix for a in applied] + manual == sorted(
        diagnosed.fixes, key=lambda f: not (f.automatic and f.action in apply_module._ACTIONS))
    by_action = {a.fix.action: a.fix.params for a in applied}
    if condition == "lr_too_high":
        assert rate(net) == pytest.approx(0.01 * by_action["lower_learning_rate"]["factor"])
        assert not net.optimizer.clipnorm  # the alternative to the rate cut
    else:
        (stop,) = kwargs["callbacks"]
        assert stop.patience == by_action["early_stopping"]["patience"]
    history = net.fit(X, Y, validation_split=0.25, verbose=0, **kwargs)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()


def test_the_docstring_examples_hold():
    results = doctest.testmod(apply_module)
    assert results.attempted >= 2 and results.failed == 0
