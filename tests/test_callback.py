"""DiagnoseCallback: the live verdict is the offline one; its actions; it never breaks fit()."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")

from diagnose import diagnose
from diagnose.engine import Analyzer
from diagnose.keras import DiagnoseCallback
from diagnose.keras import optimizer as optimizers
from diagnose.keras.batches import BatchWatch
from diagnose.keras.monitor import Monitor

from .synthetic import decaying, history

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "fixtures").glob("*.json"))


def replay(history_dict: dict, callback: DiagnoseCallback) -> None:
    """Feed a ``history.history`` dict to the callback one epoch at a time, as fit() does.

    A series shorter than ``loss`` was logged every ``validation_freq``-th
    epoch (Keras validates when ``(epoch + 1) % validation_freq == 0``): on
    the other epochs its key is absent from the logs.
    """
    n = max(len(v) for v in history_dict.values())
    for epoch in range(n):
        logs = {}
        for name, values in history_dict.items():
            every = n // len(values) if values else 0
            if every and (epoch + 1) % every == 0 and (epoch + 1) // every <= len(values):
                logs[name] = values[(epoch + 1) // every - 1]
        callback.on_epoch_end(epoch, logs)
    callback.on_train_end()


# --- the live verdict is the offline one ----------------------------------------------

@pytest.mark.parametrize("path", FIXTURES or [pytest.param(None, marks=pytest.mark.skip(
    reason="no fixtures/*.json yet"))], ids=lambda p: p.stem if p else "none")
def test_replaying_a_fixture_gives_the_offline_diagnosis(path):
    recorded = json.loads(path.read_text())
    callback = DiagnoseCallback(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the callback must not have disabled itself
        replay(recorded, callback)
    live, offline = callback.report, diagnose(recorded)
    assert live.conditions == offline.conditions
    assert [f.rule for f in live.findings] == [f.rule for f in offline.findings]
    assert live.actions == ()


def test_verbose_says_each_condition_once_then_the_full_report_when_asked(capsys):
    # Synthetic curves: a validation loss that turns up after epoch 15.
    train = decaying(40, start=2.0, floor=0.1, tau=5, noise=0.005, seed=1)
    val = decaying(40, start=2.1, floor=0.4, tau=5, noise=0.005, seed=2) + 0.02 * np.maximum(
        np.arange(40) - 15, 0)
    replay(history(train, val), DiagnoseCallback(print_report=True))
    out = capsys.readouterr().out
    notices = [line for line in out.splitlines() if "DiagnoseCallback: overfitting" in line]
    assert len(notices) == 1 and notices[0].startswith("Epoch ")
    report = out.split(notices[0])[1]
    assert report.lstrip().startswith("live run  overfitting")  # the report follows the notice
    replay(history(train, val), DiagnoseCallback())  # not asked: the notice alone
    assert [line for line in capsys.readouterr().out.splitlines() if line] == notices


def test_logs_that_are_not_numbers_are_left_out_not_fatal():
    import tensorflow as tf

    callback = DiagnoseCallback(verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch, loss in enumerate(decaying(6)):
            callback.on_epoch_end(epoch, {"loss": tf.constant(loss), "val_loss": None,
                                          "note": "text", "per_class": np.ones(3),
                                          "accuracy": np.float32(0.5)})
    report = callback.report
    assert report.summary["epochs"] == 6 and report.summary["loss"] == "loss"
    assert not callback.disabled


# --- Keras' meaning of monitor / mode / min_delta / start_from_epoch -------------------

def test_monitor_follows_keras_semantics():
    m = Monitor("val_accuracy", mode="auto", min_delta=0.01)
    for epoch, acc in enumerate([0.5, 0.6, 0.605, 0.7, 0.65]):
        m.update(epoch, {"val_accuracy": acc, "accuracy": 0.0})
    assert (m.best, m.best_epoch, m.wait) == (0.7, 3, 1)
    late = Monitor("val_loss", start_from_epoch=2)
    assert late.update(1, {"val_loss": 0.1}) is None and late.best is None
    with pytest.raises(ValueError, match="mode="):
        Monitor("custom_score").update(0, {"custom_score": 1.0})


def test_monitor_falls_back_to_the_training_twin_until_validation_shows_up():
    m = Monitor("val_loss")
    m.update(0, {"loss": 1.0})
    assert m.tracking == "loss"
    m.update(1, {"loss": 0.9, "val_loss": 1.2})  # validation_freq=2: first validation
    assert (m.tracking, m.best, m.best_epoch) == ("val_loss", 1.2, 1)
    assert m.update(2, {"loss": 0.8}) is None  # an epoch without validation counts for nothing
    assert m.wait == 0


# --- batch checks ----------------------------------------------------------------------

def running_means(steps):
    """What Keras logs per batch: the mean of the epoch's step losses so far."""
    return list(np.cumsum(steps) / np.arange(1, len(steps) + 1))


def test_batch_watch_recovers_a_spike_hidden_in_the_running_mean():
    rng = np.random.default_rng(0)
    steps = 1.0 + 0.05 * rng.standard_normal(200)
    steps[150] = 3.0  # moves the running mean by only ~1%
    watch = BatchWatch()
    watch.begin_epoch(0)
    events = [watch.update(b, {"loss": v}) for b, v in enumerate(running_means(steps))]
    spikes = [e for e in events if e is not None]
    assert [(e.kind, e.batch) for e in spikes] == [("spike", 150)]
    assert spikes[0].value == pytest.approx(3.0, rel=1e-6)


def test_batch_watch_stays_quiet_on_heavy_tailed_healthy_batches():
    rng = np.random.default_rng(1)
    watch = BatchWatch()
    for epoch in range(10):
        watch.begin_epoch(epoch)
        level = 2.0 * math.exp(-epoch / 3) + 0.2
        steps = level * rng.lognormal(0.0, 0.25, 100)
        for b, v in enumerate(running_means(steps)):
            assert watch.update(b, {"loss": v}) is None


def test_batch_checks_in_warn_mode_report_spikes_and_nan_without_a_model():
    rng = np.random.default_rng(2)
    callback = DiagnoseCallback(batch_checks=True, verbose=0)  # no model: it must not need one
    for epoch in range(4):
        callback.on_epoch_begin(epoch)
        steps = (1.0 - 0.1 * epoch) * (1 + 0.05 * rng.standard_normal(100))
        if epoch == 2:
            steps[60] *= 4
        if epoch == 3:
            steps[80:] = np.nan
        for b, v in enumerate(running_means(steps)):
            callback.on_train_batch_end(b, {"loss": v})
        callback.on_epoch_end(epoch, {"loss": float(np.mean(steps))})
    report = callback.on_train_end()
    assert not callback.disabled
    assert any("1 loss spike" in n and "batch 60 of epoch 3" in n for n in report.notes)
    assert callback.first_seen == {"lr_too_high": 4}


# --- real fits --------------------------------------------------------------------------

def mlp(inputs: int, hidden: tuple, outputs: int, optimizer) -> keras.Model:
    layers = [keras.Input((inputs,))] + [keras.layers.Dense(u, activation="relu") for u in hidden]
    model = keras.Sequential(layers + [keras.layers.Dense(
        outputs, activation="sigmoid" if outputs == 1 else "softmax")])
    loss = "binary_crossentropy" if outputs == 1 else "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def fit(model, x, y, callback=None, epochs=20, **kwargs):
    kwargs.setdefault("validation_split", 0.25)
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0,
                     callbacks=[callback] if callback else [], **kwargs)


def test_a_learning_rate_far_too_high_is_stopped(digits):
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, *digits, callback)
    assert len(history.history["loss"]) < 20
    stop = [a for a in callback.report.actions if a.action == "stop_training"]
    assert len(stop) == 1 and "lr_too_high" in stop[0].reason
    assert "lr_too_high" in callback.report.conditions
    assert all(np.isfinite(w).all() for w in model.get_weights())  # the initial weights, restored


def test_repair_rewinds_and_lowers_the_learning_rate(digits):
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    callback = DiagnoseCallback(action="act", repair=3, verbose=0)
    history = fit(model, *digits, callback, epochs=12)
    actions = callback.report.actions
    rewinds = [a for a in actions if a.action == "rewind"]
    assert rewinds and rewinds[0].params["to"] < rewinds[0].params["from"] == 20.0
    last_rate = [a.params["to"] for a in actions if "to" in a.params][-1]
    assert float(model.optimizer.learning_rate) == pytest.approx(last_rate, rel=1e-5)
    assert history.history["loss"][-1] < math.log(10)  # learning, from the chance level down


def test_batch_checks_stop_a_nan_inside_the_first_epoch(digits):
    keras.utils.set_random_seed(0)
    model = mlp(64, (64,), 10, keras.optimizers.SGD(20.0))
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    callback = DiagnoseCallback(action="act", batch_checks=True, verbose=0)
    model.fit(*digits, epochs=5, batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[callback, counter])
    (stop,) = [a for a in callback.report.actions if a.action == "stop_training"]
    assert stop.epoch == 1 and "batch" in stop.reason
    assert len(batches) < 900 // 32  # the epoch did not run to its end


def test_an_overfitting_run_stops_and_keeps_its_best_weights(moons):
    x, y = moons
    x_train, y_train, x_val, y_val = x[:60], y[:60], x[500:], y[500:]
    keras.utils.set_random_seed(0)
    model = mlp(2, (256, 256, 256), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, x_train, y_train, callback, epochs=100, validation_split=None,
                  validation_data=(x_val, y_val))
    val = history.history["val_loss"]
    assert len(val) < 100
    assert "overfitting" in callback.report.conditions
    actions = [a.action for a in callback.report.actions]
    assert "stop_training" in actions and actions[-1] == "restore_best_weights"
    assert model.evaluate(x_val, y_val, verbose=0)[0] == pytest.approx(min(val), rel=1e-4)


def test_a_healthy_run_is_never_stopped(moons):
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 1, keras.optimizers.Adam(3e-3))
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, *moons, callback, epochs=20)
    assert len(history.history["loss"]) == 20
    assert "stop_training" not in [a.action for a in callback.report.actions]
    assert "learning_rate" in history.history  # logged, as ReduceLROnPlateau does


def test_a_plateau_that_survives_a_rate_cut_ends_the_run():
    # Seeded numpy task with nothing to learn (labels independent of the inputs):
    # the validation loss plateaus at once, halving the rate brings no new best,
    # and the run is stopped as converged with its best weights kept.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 4)).astype("float32"), rng.integers(0, 2, 400).astype("float32")
    keras.utils.set_random_seed(0)
    model = mlp(4, (4,), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action="act", verbose=0)
    history = fit(model, x, y, callback, epochs=80)
    actions = callback.report.actions
    cuts = [a for a in actions if a.action == "lower_learning_rate"]
    stop = next(a for a in actions if a.action == "stop_training")
    assert cuts and len(history.history["loss"]) < 80
    # One cut without a new best, then the stop: a cut that finds a new best resets the count.
    assert stop.reason.startswith("converged")
    assert f"lowered at epoch {cuts[-1].epoch:g}" in stop.reason


def test_a_monitor_that_is_not_logged_is_said_once_and_the_weights_are_kept(moons):
    keras.utils.set_random_seed(0)
    model = mlp(2, (16,), 1, keras.optimizers.Adam(1e-2))
    callback = DiagnoseCallback(action="act", monitor="val_auc", verbose=0)
    with pytest.warns(UserWarning, match="val_auc is not in the logs") as caught:
        fit(model, *moons, callback, epochs=4)
    assert len(caught) == 1
    assert callback.report.actions == ()  # in particular no reset to the initial weights


# --- faults never reach fit() ---------------------------------------------------------------

def test_an_engine_error_is_one_warning_and_training_is_untouched(moons, monkeypatch):
    def weights_after(callbacks):
        keras.utils.set_random_seed(0)
        model = mlp(2, (16,), 1, keras.optimizers.Adam(1e-2))
        model.fit(*moons, epochs=4, batch_size=64, verbose=0, validation_split=0.25,
                  callbacks=callbacks)
        return model.get_weights()

    reference = weights_after([])

    def broken(self):
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(Analyzer, "report", broken)
    callback = DiagnoseCallback(action="act", batch_checks=True, verbose=1)
    with pytest.warns(RuntimeWarning, match="injected") as caught:
        weights = weights_after([callback])
    assert len([w for w in caught if "DiagnoseCallback" in str(w.message)]) == 1
    assert callback.disabled and isinstance(callback.error, ZeroDivisionError)
    for got, want in zip(weights, reference):
        np.testing.assert_array_equal(got, want)


def test_an_error_while_acting_disables_the_callback_not_the_run(moons, monkeypatch):
    def broken(optimizer, value):
        raise RuntimeError("cannot assign")

    monkeypatch.setattr(optimizers, "set_learning_rate", broken)
    keras.utils.set_random_seed(0)
    model = mlp(2, (16,), 1, keras.optimizers.Adam(0.05))  # noisy: a plateau within 12 epochs
    callback = DiagnoseCallback(action="act", patience=1, verbose=0)
    with pytest.warns(RuntimeWarning, match="cannot assign"):
        history = fit(model, *moons, callback, epochs=12)
    assert len(history.history["loss"]) == 12 and callback.disabled


def test_a_learning_rate_schedule_is_left_alone_and_said_once(moons):
    keras.utils.set_random_seed(0)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=20, decay_rate=0.9)
    model = mlp(2, (32,), 1, keras.optimizers.Adam(schedule))
    callback = DiagnoseCallback(action="act", patience=1, verbose=0)
    with pytest.warns(UserWarning, match="schedule") as caught:
        fit(model, *moons, callback, epochs=12)
    assert len([w for w in caught if "schedule" in str(w.message)]) == 1
    assert not callback.disabled
    assert any("schedule" in note for note in callback.report.notes)
    assert "lower_learning_rate" not in [a.action for a in callback.report.actions]


def test_warn_mode_and_arguments_are_checked_at_construction():
    with pytest.raises(ValueError, match="action"):
        DiagnoseCallback(action="fix")
    with pytest.raises(ValueError, match="restore_best_weights"):
        DiagnoseCallback(restore_best_weights=True)
    with pytest.raises(ValueError, match="mode"):
        DiagnoseCallback(mode="down")
    with pytest.raises(ValueError, match='verbose must be "auto", 0 or 1, got -1'):
        DiagnoseCallback(verbose=-1)
    assert DiagnoseCallback(action="act").restore_best_weights is True
    assert DiagnoseCallback().async_safe and not DiagnoseCallback(batch_checks=True).async_safe


# --- processes ---------------------------------------------------------------------------------

def run_python(code: str, timeout: int = 120,
               backend: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT, check=False)


def test_importing_diagnose_does_not_import_keras():
    done = run_python("""
        import sys, diagnose
        heavy = [m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules]
        assert not heavy, heavy
    """)
    assert done.returncode == 0, done.stderr


def test_mirrored_strategy_on_two_cpu_replicas():
    done = run_python("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        two = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two)
        import keras, numpy as np
        from diagnose.keras import DiagnoseCallback

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        keras.utils.set_random_seed(0)
        x = np.random.rand(512, 8).astype("float32")
        y = (x.sum(axis=1) > 4).astype("float32")
        with strategy.scope():
            model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                      keras.layers.Dense(1, activation="sigmoid")])
            # A rate far too high: plateaus, so the callback sets the rate and restores weights.
            model.compile(optimizer=keras.optimizers.Adam(1.0), loss="binary_crossentropy")
        callback = DiagnoseCallback(action="act", repair=1, patience=1, verbose=1,
                                    print_report=True)
        history = model.fit(x, y, validation_split=0.25, epochs=8, batch_size=64,
                            callbacks=[callback], verbose=0)
        assert not callback.disabled, callback.error
        report = callback.report
        assert report.summary["epochs"] == len(history.history["loss"])
        for action in report.actions:
            if action.action == "restore_best_weights":
                kept = history.history["val_loss"][action.params["epoch"] - 1]
                now = model.evaluate(x[384:], y[384:], verbose=0, batch_size=64)
                assert abs(now - kept) <= 1e-4 * kept, (now, kept)
        print("REPORT", report.to_json(indent=None))
    """)
    assert done.returncode == 0, done.stderr[-3000:]
    printed, report = done.stdout.split("REPORT ", 1)
    report = json.loads(report)
    assert report["source"] == "sequential (live)" and report["actions"]
    assert printed.count("sequential (live)") == 1  # the final report, printed once


JAX_RUN = """
    try:
        import jax  # noqa: F401
    except Exception as exc:  # not installed, or no wheel for this platform
        print(f"NO JAX: {type(exc).__name__}: {exc}")
        raise SystemExit(0)
    import json
    import keras, numpy as np
    from sklearn.datasets import load_digits, make_moons
    from diagnose import diagnose
    from diagnose.keras import DiagnoseCallback

    assert keras.backend.backend() == "jax"

    def mlp(inputs, hidden, outputs, optimizer):
        model = keras.Sequential([keras.Input((inputs,))]
                                 + [keras.layers.Dense(u, activation="relu") for u in hidden]
                                 + [keras.layers.Dense(outputs, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        return model

    # warn: an overfitting run (60 training rows), the live verdict is the offline one
    x, y = make_moons(n_samples=1000, noise=0.3, random_state=0)
    x = x.astype("float32")
    keras.utils.set_random_seed(0)
    model = mlp(2, (256, 256, 256), 2, keras.optimizers.Adam(1e-2))
    warn = DiagnoseCallback(verbose=0)
    history = model.fit(x[:60], y[:60], validation_data=(x[500:], y[500:]), epochs=30,
                        batch_size=16, verbose=0, callbacks=[warn])
    assert not warn.disabled, warn.error
    assert warn.report.conditions == diagnose(history.history).conditions
    assert "overfitting" in warn.first_seen and warn.report.actions == ()

    # act: SGD at 2 with momentum diverges: rewound (weights and the optimizer's state) at a
    # lower rate, it learns
    keras.utils.set_random_seed(0)
    model = mlp(2, (32, 32), 2, keras.optimizers.SGD(2.0, momentum=0.9))
    act = DiagnoseCallback(action="act", repair=1, verbose=0)
    history = model.fit(x, y, validation_split=0.25, epochs=10, batch_size=32, verbose=0,
                        callbacks=[act])
    assert not act.disabled, act.error
    rewind = act.report.actions[0]
    assert rewind.action == "rewind" and rewind.params["to"] < 2.0 / 100
    assert float(model.optimizer.learning_rate.numpy()) == np.float32(rewind.params["to"])
    assert history.history["loss"][-1] < 0.5

    # act: nothing to learn (seeded numpy): the run is stopped and the weights of the best
    # epoch restored
    rng = np.random.default_rng(0)
    noise, coins = rng.normal(size=(400, 4)).astype("float32"), rng.integers(0, 2, 400)
    keras.utils.set_random_seed(0)
    model = mlp(4, (4,), 2, keras.optimizers.Adam(1e-2))
    act = DiagnoseCallback(action="act", verbose=0)
    history = model.fit(noise, coins, validation_split=0.25, epochs=40, batch_size=32,
                        verbose=0, callbacks=[act])
    assert not act.disabled, act.error
    done = [a.action for a in act.report.actions]
    assert done[-2:] == ["stop_training", "restore_best_weights"], done
    kept = history.history["val_loss"][act.report.actions[-1].params["epoch"] - 1]
    now = model.evaluate(noise[300:], coins[300:], verbose=0)  # validation_split's rows
    assert abs(now - kept) <= 1e-4 * kept, (now, kept)
    print("JAX OK", json.dumps(done))
"""


def test_warn_and_act_under_the_jax_backend():
    done = run_python(JAX_RUN, timeout=300, backend="jax")
    if done.stdout.startswith("NO JAX"):
        pytest.skip(f"the JAX backend cannot be tested here: {done.stdout.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "JAX OK" in done.stdout
