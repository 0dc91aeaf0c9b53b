"""Reading MLflow tracking stores (diagnose/load/mlflow_store.py) from real stores.

One subprocess writes them (so that autolog's patching of ``fit`` and
MLflow's global tracking URI stay out of this process): a file store and a
sqlite store, each with ``mlflow.tensorflow.autolog()`` on a tiny Keras model
(epoch-level, with EarlyStopping, and in sqlite also every few steps) and runs
logged by hand with ``mlflow.log_metric``. A real ``mlflow server`` starts on
127.0.0.1 meanwhile, and the same hand-logged runs are logged to it over HTTP.
The whole module takes about 40 seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlflow", reason="the mlflow package (test extra) is not installed")
pytest.importorskip("sklearn", reason="scikit-learn (test extra) is not installed")
pytest.importorskip("tensorflow", reason="autolog needs TensorFlow (test extra)")

from diagnose.errors import LogError
from diagnose.load.mlflow_store import runs

# SQLAlchemy's deprecation warnings about MLflow's own queries are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:mlflow")

REPO = Path(__file__).resolve().parents[1]
SERVER_TIMEOUT = 60.0  # seconds for `mlflow server` to answer /health (5-11 s here)

# Hand-logged: (loss, lr) per step 0-5; val_loss at steps 1, 3, 5 only.
LOSS = [1.0, 0.8, math.nan, math.inf, 0.5, 0.4]
VAL_LOSS = {1: 0.9, 3: 0.7, 5: 0.6}
NO_STEPS = [0.9, 0.5, 0.7, 0.6]  # logged without a step: read in logging order

WRITER = r'''
import json, math, os, sys, time, urllib.request
out, server, server_started = sys.argv[1], sys.argv[2], float(sys.argv[3])
LOSS, VAL_LOSS, NO_STEPS = json.loads(sys.argv[4])
import keras, mlflow, numpy as np
from sklearn.datasets import make_moons

x, y = make_moons(240, noise=0.3, random_state=0)
x, y = x.astype("float32"), y.astype("float32")
expected = {}


def model(rate=0.01):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
    m.compile(keras.optimizers.Adam(rate), "binary_crossentropy", metrics=["accuracy"])
    return m


def autolog_runs(uri, tag, batch_level):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("keras")
    mlflow.tensorflow.autolog(log_models=False, log_datasets=False, checkpoint=False, silent=True)
    with mlflow.start_run(run_name="autolog"):
        h = model().fit(x, y, validation_split=0.25, epochs=4, batch_size=32, verbose=0)
    expected[tag + "/autolog"] = h.history
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=0.02, patience=0,
                                         restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0)
    with mlflow.start_run(run_name="early"):
        h = model().fit(x, y, validation_split=0.25, epochs=40, batch_size=32, verbose=0,
                        callbacks=[stop, plateau])
    expected[tag + "/early"] = {**h.history, "stopped_epoch": stop.stopped_epoch}
    if batch_level:
        mlflow.tensorflow.autolog(log_models=False, log_datasets=False, checkpoint=False,
                                  silent=True, log_every_epoch=False, log_every_n_steps=2)
        with mlflow.start_run(run_name="batch") as run:
            h = model().fit(x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0)
        steps = [m.step for m in mlflow.tracking.MlflowClient().get_metric_history(
            run.info.run_id, "loss")]
        expected[tag + "/batch"] = {**h.history, "steps": steps}
    mlflow.tensorflow.autolog(disable=True)


def manual_runs(uri, tag):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("manual")
    with mlflow.start_run(run_name="logged") as run:
        mlflow.log_params({"lr": 0.01, "units": 64, "activation": "relu", "dropout": "0.5"})
        for step, loss in enumerate(LOSS):
            mlflow.log_metric("loss", loss, step=step)
            mlflow.log_metric("lr", 0.01, step=step)
            if str(step) in VAL_LOSS:
                mlflow.log_metric("val_loss", VAL_LOSS[str(step)], step=step)
            if step < 3:
                mlflow.log_metric("system/cpu_utilization_percentage", 50.0, step=step)
        mlflow.log_metric("test_accuracy", 0.8)
    expected[tag + "/logged_id"] = run.info.run_id
    with mlflow.start_run(run_name="nosteps"):
        for value in NO_STEPS:
            mlflow.log_metric("loss", value)
            time.sleep(0.005)  # a database store orders values by time (ms), then by value
    with mlflow.start_run(run_name="empty"):
        mlflow.log_param("units", 8)
    for _ in range(2):
        with mlflow.start_run(run_name="twin"):
            mlflow.log_metric("loss", 1.0, step=0)
            mlflow.log_metric("loss", 0.5, step=1)


file_store = os.path.join(out, "filestore")  # ./mlruns holds the database's artifacts
database = "sqlite:///" + os.path.join(out, "mlflow.db")
autolog_runs(file_store, "file", False)
autolog_runs(database, "sqlite", True)
manual_runs(file_store, "file")
manual_runs(database, "sqlite")
mlflow.set_tracking_uri(file_store)
mlflow.create_experiment("hollow")
mlflow.tracking.MlflowClient(os.path.join(out, "empty_mlruns")).search_experiments()

expected["server"] = None
if server:
    while time.time() - server_started < float(os.environ["SERVER_TIMEOUT"]):
        try:
            urllib.request.urlopen(server + "/health", timeout=2).read()
            break
        except Exception:
            time.sleep(0.2)
    else:
        expected["server"] = "did not answer /health within %s s" % os.environ["SERVER_TIMEOUT"]
    if expected["server"] is None:
        manual_runs(server, "server")
with open(os.path.join(out, "expected.json"), "w") as fh:
    json.dump(expected, fh, allow_nan=True)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(tmp: Path):
    """A real `mlflow server` on 127.0.0.1 with a fresh sqlite backend, or why not."""
    port = _free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
               "--default-artifact-root", (tmp / "server_artifacts").as_uri()]
    if importlib.util.find_spec("gunicorn"):
        # The Flask app under gunicorn answers in 5-11 s here; uvicorn's in 18-28 s.
        command += ["--gunicorn-opts", "--timeout 60 --graceful-timeout 2"]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=tmp)
    except OSError as exc:
        log.close()
        return None, f"mlflow server could not start: {exc}", None
    return process, f"http://127.0.0.1:{port}", log


def _stop_server(process, log) -> None:
    if process is None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # gunicorn's workers too
        process.wait(timeout=3)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    finally:
        log.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The stores' URIs and what was logged (histories, run ids), written by a subprocess."""
    tmp = tmp_path_factory.mktemp("mlflow")
    started = time.time()
    process, server, log = _start_server(tmp) if os.name == "posix" else (None, "", None)
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "3", "SERVER_TIMEOUT": str(SERVER_TIMEOUT),
           "PYTHONWARNINGS": "ignore"}
    env.pop("MLFLOW_TRACKING_URI", None)
    try:
        values = json.dumps([LOSS, VAL_LOSS, NO_STEPS])
        url = server if process is not None else ""
        done = subprocess.run([sys.executable, "-c", WRITER, str(tmp), url, str(started), values],
                              cwd=tmp, env=env, capture_output=True, text=True, timeout=240,
                              check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        expected = json.loads((tmp / "expected.json").read_text())
        if process is None:
            expected["server"] = server or "mlflow server needs a POSIX system here"
        elif process.poll() is not None and expected["server"] is None:
            expected["server"] = f"mlflow server exited with {process.returncode}"
        if expected["server"] is not None and log is not None:
            log.flush()
            tail = (tmp / "server.log").read_text(errors="replace").strip().splitlines()[-3:]
            expected["server"] += f" (log: {' | '.join(tail)[-300:]})"
        yield {"file": str(tmp / "filestore"), "sqlite": f"sqlite:///{tmp / 'mlflow.db'}",
               "server": server, "expected": expected, "tmp": tmp}
    finally:
        _stop_server(process, log)


def _read(uri, **kwargs) -> dict:
    """source -> Run (or LogError) for every item the store yields."""
    return {item.source: item for item in runs(uri, **kwargs)}


def _check_history(run, history: dict, epochs: int) -> None:
    np.testing.assert_array_equal(run.epochs, np.arange(1, epochs + 1))
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(run.series[name], history[name][:epochs], rtol=1e-7,
                                   err_msg=name)


# --- autolog ------------------------------------------------------------------

@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_autolog_epochs_are_the_history(stores, store):
    """Autolog's per-epoch keys at steps 0..n-1 are epochs 1..n, values as History had them;
    its validation_* copies are left out; params are numbers; the run is diagnosable."""
    import diagnose

    found = _read(stores[store], experiment="keras")
    run = found["keras/autolog"]
    history = stores["expected"][f"{store}/autolog"]
    _check_history(run, history, 4)
    assert run.names == ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_allclose(run.series["learning_rate"], 0.01, rtol=1e-7)
    assert any("param 'opt_learning_rate'" in note for note in run.notes)
    assert run.format == "mlflow" and run.granularity == "epoch"
    assert any("validation_loss" in note for note in run.notes)
    assert run.params["run_name"] == "autolog"
    assert run.params["epochs"] == 4 and run.params["batch_size"] == 32
    assert run.params["validation_split"] == 0.25
    assert run.params["opt_learning_rate"] == pytest.approx(0.01)
    assert run.params["shuffle"] == "True"
    assert run.params["opt_name"] == "adam"  # not adam_2: Keras numbers each optimizer
    report = diagnose.diagnose(run)
    assert report.summary["params"]["run_name"] == "autolog"


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_autolog_early_stopping_drops_the_epoch_that_never_ran(stores, store):
    """With restore_best_weights autolog logs the best epoch again after the last one."""
    run = _read(stores[store], experiment="keras")["keras/early"]
    history = stores["expected"][f"{store}/early"]
    ran = len(history["loss"])
    assert 0 < history["stopped_epoch"] < 39, "EarlyStopping should have stopped this run"
    _check_history(run, history, ran)
    np.testing.assert_allclose(run.series["learning_rate"], history["learning_rate"], rtol=1e-7)
    assert any(f"stopped training after epoch {ran}" in note for note in run.notes)


def test_autolog_every_n_steps_is_a_step_run(stores):
    """log_every_n_steps: steps are optimizer iterations; validation_* ends each epoch."""
    run = _read(stores["sqlite"], experiment="keras")["keras/batch"]
    expected = stores["expected"]["sqlite/batch"]
    assert run.granularity == "step"
    assert int(run.logged["loss"].sum()) == len(expected["steps"]) > 3
    np.testing.assert_allclose(run.epochs[run.logged["val_loss"]], [1, 2, 3])
    np.testing.assert_allclose(run.series["val_loss"][run.logged["val_loss"]],
                               expected["val_loss"], rtol=1e-7)
    assert run.epochs[-1] == pytest.approx(3.0)
    assert run.epochs[run.logged["loss"]][0] < 1.0


# --- log_metric -----------------------------------------------------------------

def _check_manual(found: dict) -> None:
    run = found["manual/logged"]
    np.testing.assert_array_equal(run.epochs, np.arange(1, 7))
    assert run.names == ["learning_rate", "loss", "val_loss"]  # system/ and test_ left out
    loss = run.series["loss"]
    np.testing.assert_array_equal(loss[[0, 1, 4, 5]], [1.0, 0.8, 0.5, 0.4])
    assert np.isnan(loss[2]) and np.isnan(loss[3]) and run.logged["loss"].all()
    np.testing.assert_array_equal(run.infinite["loss"], [0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(run.logged["val_loss"], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(run.series["val_loss"][1::2], [0.9, 0.7, 0.6])
    np.testing.assert_array_equal(run.series["learning_rate"], [0.01] * 6)
    assert run.params == {"lr": 0.01, "units": 64, "activation": "relu", "dropout": 0.5,
                          "run_name": "logged"}
    notes = " ".join(run.notes)
    assert "system metrics" in notes and "test_accuracy" in notes and "lr -> learning_rate" in notes

    nosteps = found["manual/nosteps"]
    np.testing.assert_array_equal(nosteps.epochs, [1, 2, 3, 4])
    np.testing.assert_array_equal(nosteps.series["loss"], NO_STEPS)
    assert any("logging order" in note for note in nosteps.notes)

    empty = found["manual/empty"]
    assert isinstance(empty, LogError) and "no training metrics" in str(empty)
    twins = sorted(source for source in found if source.startswith("manual/twin"))
    assert len(twins) == 2 and all(len(t) == len("manual/twin (12345678)") for t in twins)


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_log_metric_runs(stores, store):
    """Steps are 0-based epochs; NaN and inf kept; a bad run is a LogError among the runs."""
    items = list(runs(stores[store], experiment="manual"))
    assert len(items) == 5
    empty = [i for i, item in enumerate(items) if isinstance(item, LogError)]
    assert len(empty) == 1 and empty[0] < len(items) - 1  # the runs after it are still read
    _check_manual({item.source: item for item in items})


def test_server_over_http(stores):
    """The same runs, logged to a real `mlflow server` and read back over HTTP."""
    if stores["expected"]["server"] is not None:
        pytest.skip(f"no local MLflow server: {stores['expected']['server']}")
    found = _read(stores["server"])
    assert not any(source.startswith("keras/") for source in found)
    _check_manual(found)
    one = _read(stores["server"], run_id=stores["expected"]["server/logged_id"])
    assert list(one) == ["manual/logged"]


# --- choosing and refusing ---------------------------------------------------------

@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_experiment_and_run_id(stores, store):
    uri = stores[store]
    everything = _read(uri)
    assert {"keras/autolog", "keras/early", "manual/logged"} <= set(everything)
    run_id = stores["expected"][f"{store}/logged_id"]
    assert list(_read(uri, run_id=run_id)) == ["manual/logged"]
    assert list(_read(uri, experiment="manual", run_id=run_id)) == ["manual/logged"]
    with pytest.raises(LogError, match=r"not in experiment 'keras'"):
        runs(uri, experiment="keras", run_id=run_id)
    with pytest.raises(LogError, match=r"^mlflow:.*: no experiment named 'nope'$"):
        runs(uri, experiment="nope")
    with pytest.raises(LogError, match=r"^mlflow:.*: no run with id '0123abcd'$"):
        runs(uri, run_id="0123abcd")


def test_empty_stores_and_experiments(stores):
    tmp = stores["tmp"]
    with pytest.raises(LogError, match=r"experiment 'hollow' holds no runs"):
        runs(stores["file"], experiment="hollow")
    with pytest.raises(LogError, match=r"the store holds no runs"):
        runs(str(tmp / "empty_mlruns"))


def test_file_store_variable_is_only_set_while_mlflow_reads(stores, monkeypatch):
    """MLflow >= 3.17 refuses a file store without MLFLOW_ALLOW_FILE_STORE; the loader sets
    it while MLflow reads and never leaves it set for the caller's code, between runs too."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    for uri in (stores["file"], "file:" + stores["file"], Path(stores["file"]).as_uri()):
        count = 0
        for item in runs(uri, experiment="manual"):
            assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
            count += 1
        assert count == 5
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ


@pytest.mark.parametrize("uri, problem", [
    ("{tmp}/nowhere", "no such folder"),
    ("file:{tmp}/nowhere", "no such folder"),
    ("{tmp}/mlflow.db", "is not a folder"),
    ("{tmp}/mlruns", "not an MLflow file store"),  # the sqlite store's artifacts
    ("sqlite:///{tmp}/nowhere.db", "no such database file"),
    ("sqlite://", "in-memory"),
    ("", "no tracking URI given"),
])
def test_bad_uris_are_one_line(stores, uri, problem, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = uri.format(tmp=stores["tmp"])
    with pytest.raises(LogError) as caught:
        runs(uri)
    message = str(caught.value)
    assert message.startswith(f"mlflow:{uri}: ") and problem in message and "\n" not in message
    assert not Path(stores["tmp"] / "nowhere.db").exists()  # MLflow would have created it


def test_not_a_store_is_refused_untouched(tmp_path):
    """A folder that is not an MLflow store, a sqlite file of other tables: nothing is created."""
    (tmp_path / "logs").mkdir()
    with pytest.raises(LogError, match="not an MLflow file store"):
        runs(str(tmp_path / "logs"))
    assert list((tmp_path / "logs").iterdir()) == []
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE points (x REAL)")
    con.close()
    with pytest.raises(LogError, match="not an MLflow tracking database"):
        runs(f"sqlite:///{other}")
    with sqlite3.connect(other) as con:
        tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master")]
    con.close()
    assert tables == ["points"]


def test_no_server_answers_fast():
    """Nobody listens: one line, in seconds (MLflow's own retries would take four minutes)."""
    uri = f"http://127.0.0.1:{_free_port()}"
    start = time.time()
    with pytest.raises(LogError, match=r"^mlflow:http://127\.0\.0\.1:\d+: no MLflow tracking "
                                       r"server answers there \(connection refused\)$"):
        runs(uri)
    assert time.time() - start < 20


@pytest.mark.parametrize("uri, hidden, extra", [
    ("./mlruns", "mlflow", "mlflow"),
    ("http://127.0.0.1:5000", "mlflow", "mlflow"),
    ("sqlite:///mlflow.db", "mlflow", "mlflow-sql"),
    ("sqlite:///mlflow.db", "sqlalchemy", "mlflow-sql"),
])
def test_without_the_extra_one_line_says_what_to_install(uri, hidden, extra):
    code = (f"import sys; sys.modules[{hidden!r}] = None\n"
            "from diagnose.errors import MissingExtra\n"
            "from diagnose.load.mlflow_store import runs\n"
            f"try:\n    runs({uri!r})\n"
            "except MissingExtra as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].endswith(f"install it with pip install 'keras-diagnose[{extra}]'")
    assert f"mlflow:{uri}" in lines[0]
