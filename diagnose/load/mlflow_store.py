"""MLflow tracking stores: every run's metric histories, read through MLflow's own client.

    >>> from diagnose.load.mlflow_store import runs
    >>> for item in runs("sqlite:///mlflow.db", experiment="digits"):   # doctest: +SKIP
    ...     print(item if isinstance(item, LogError) else diagnose(item))

``uri`` is what follows ``mlflow:`` on the command line: a file store
(``./mlruns``, ``file:./mlruns``), a database (``sqlite:///mlflow.db``,
``postgresql://...``) or a tracking server (``http://127.0.0.1:5000``).
MLflow is imported on first use (it takes about two seconds): the
``mlflow`` extra (``mlflow-skinny``) reads file stores and servers, the
``mlflow-sql`` extra adds SQLAlchemy and Alembic for database stores.

What ``mlflow.tensorflow.autolog()`` writes, and how it is read (checked with
MLflow 3.17 and Keras 3):

- By default one value per epoch of every key of Keras' epoch ``logs``
  (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, and
  ``learning_rate`` when a callback such as ``ReduceLROnPlateau`` puts it
  there; Keras 2 wrote ``lr``) at ``step`` = Keras' 0-based epoch index. A
  step is read as a 0-based epoch, so step ``s`` is epoch ``s + 1``, as
  Keras prints it and as CSVLogger's ``epoch`` column is read; plain
  ``mlflow.log_metric(key, value, step=epoch)`` is read the same way.
- ``validation_<key>`` after every validation pass, all at step 0 (no step
  is given): copies of ``val_<key>``, left out when those exist.
- With ``EarlyStopping``: ``stopped_epoch`` and ``restored_epoch`` (one
  value each), and, under ``restore_best_weights``, every key logged once
  more at step ``stopped_epoch + 1`` with the best epoch's values: an epoch
  that never ran, left out.
- ``log_every_epoch=False, log_every_n_steps=n``: training keys every ``n``
  optimizer steps (``step`` = the optimizer's iteration count), no ``val_``
  keys, and ``validation_<key>`` at step 0 after each epoch. Such a run is
  recognised by a step at or past the ``epochs`` param autolog records; it
  is read as a step-logged run whose x axis is the step divided by the steps
  per epoch (the ``steps_per_epoch`` param, else estimated from the epochs
  that ran), and its ``validation_<key>`` values become ``val_<key>`` at the
  end of each epoch.
- Params: ``fit()``'s arguments (``epochs``, ``batch_size``, ...) and the
  optimizer's config as ``opt_<name>``. Without a ``learning_rate`` metric,
  a ``learning_rate``, ``lr`` or ``opt_learning_rate`` param that is a number
  becomes a constant ``learning_rate`` series (noted), so that the fixes can
  size a new rate from it, as a KerasTuner trial's hyperparameter does.

A key logged several times at one step (``log_metric`` without ``step``
logs at step 0) is read in logging order, the k-th value as epoch k. MLflow's
system metrics (``system/...``) are not training curves and are left out.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sqlite3
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from ..errors import InternalError, LogError, MissingExtra
from ..run import LEARNING_RATE, VAL_PREFIX, Run
from .common import sparse_run

FORMAT = "mlflow"

# Extras: reading a file store or a server needs only mlflow-skinny; a database
# store needs SQLAlchemy and Alembic too (mlflow-skinny has neither).
EXTRA, SQL_EXTRA = "mlflow", "mlflow-sql"
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
# The tables every MLflow tracking database has (checked before MLflow opens
# a sqlite file, because MLflow would create them in any database it is given).
_TABLES = frozenset({"experiments", "runs", "metrics", "params"})

# Set while MLflow reads, unless the user set them: MLflow >= 3.17 refuses a file
# store without MLFLOW_ALLOW_FILE_STORE, and its HTTP client retries a refused
# connection 7 times with a backoff (four minutes) before it gives up.
_FILE_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true"}
_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}

# Keys autolog logs that are not curves.
_EARLY_STOPPING = ("stopped_epoch", "restored_epoch")
_SYSTEM = "system/"
# Params that hold the learning rate when no learning_rate metric was logged: by hand,
# or the optimizer's config as autolog records it (a schedule's config is no number).
_RATE_PARAMS = (LEARNING_RATE, "lr", "opt_learning_rate")
# Keys that count, logged beside the curves by hand.
_COUNTERS = ("epoch", "step", "global_step")
# MLflow's database stores +-inf as +-DBL_MAX.
_DBL_MAX = sys.float_info.max
_MAX_PARAM_CHARS = 300
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")


def runs(uri: str, experiment: str | None = None,
         run_id: str | None = None) -> Iterator[Run | LogError]:
    """The runs of an MLflow tracking store, one :class:`Run` each.

    Args:
        uri: the tracking URI (``./mlruns``, ``file:./mlruns``,
            ``sqlite:///mlflow.db``, ``http://127.0.0.1:5000``); empty means
            ``$MLFLOW_TRACKING_URI``.
        experiment: only this experiment (its name, or its id); all active
            experiments by default.
        run_id: only this run.

    Returns:
        An iterator over the runs, experiment by experiment (by id), each
        experiment's runs by start time. Each item is a :class:`Run` (format
        ``"mlflow"``, source ``<experiment>/<run name>``, with the first 8
        characters of the run id added in brackets when names repeat;
        ``params`` = the run's params, numbers where they parse, plus
        ``run_name``), or, for a run that cannot be diagnosed (no metrics,
        or its histories could not be fetched), a :class:`LogError` in its
        place, so that one bad run does not stop the others. Metric
        histories are fetched as the iterator advances.

    Raises:
        MissingExtra: MLflow is not installed (or, for a database store,
            SQLAlchemy); the message names the extra to install.
        LogError: the store cannot be read as a whole: no such file, folder or
            database, not an MLflow store, no server answering, no such
            experiment or run id, no runs. The message names the URI. Raised
            by this call, before any run is read.
    """
    name = f"mlflow:{uri}"
    uri = (uri or os.environ.get("MLFLOW_TRACKING_URI", "")).strip()
    if not uri:
        raise LogError(name, "no tracking URI given (mlflow:./mlruns, mlflow:sqlite:///mlflow.db, "
                       "mlflow:http://host:5000), and MLFLOW_TRACKING_URI is not set")
    scheme = _scheme(uri)
    client_class = _client_class(scheme, name)
    tracking_uri, env = _check(uri, scheme, name)
    with _environment(env):
        client = _call(name, lambda: client_class(tracking_uri=tracking_uri))
        infos = _call(name, lambda: _select(client, name, experiment, run_id))
    return _iterate(client, env, infos)


# --- the store ----------------------------------------------------------------

def _scheme(uri: str) -> str:
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    return "" if len(scheme) == 1 else scheme  # a Windows drive letter: a path


def _client_class(scheme: str, name: str):
    """MLflow's client class (importing MLflow takes about two seconds), or the extra to install.

    A database store needs SQLAlchemy and Alembic beside MLflow (mlflow-skinny has neither).
    """
    import importlib.util

    sql = scheme.split("+")[0] in _SQL_SCHEMES
    extra = SQL_EXTRA if sql else EXTRA
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MissingExtra(extra, f"reading MLflow runs ({name}) needs MLflow") from None
    if sql and not all(importlib.util.find_spec(m) for m in ("sqlalchemy", "alembic")):
        raise MissingExtra(extra, f"reading an MLflow database store ({name}) needs "
                           "SQLAlchemy and Alembic, which mlflow-skinny lacks")
    return MlflowClient


def _check(uri: str, scheme: str, name: str) -> tuple[str, dict[str, str]]:
    """The URI to give MLflow and the environment to read it under; local stores checked.

    A file store or a sqlite file is checked here, because MLflow would
    create one where none is (and its tables in any sqlite file it is given).
    """
    if scheme in ("", "file"):
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(uri).path) if scheme else uri)
        _check_file_store(path, name)
        return path.resolve().as_uri(), _FILE_ENV
    if scheme.startswith("sqlite"):
        _check_sqlite(uri, name)
    if scheme in ("http", "https"):
        return uri, _HTTP_ENV
    return uri, {}


def _check_file_store(path: Path, name: str) -> None:
    try:
        if not path.exists():
            raise LogError(name, f"no such folder: {path}")
        if not path.is_dir():
            raise LogError(name, f"{path} is not a folder: an MLflow file store is one "
                           "(./mlruns); a database needs its scheme (sqlite:///mlflow.db)")
        if not any((sub / "meta.yaml").is_file() for sub in path.iterdir() if sub.is_dir()):
            raise LogError(name, f"{path} is not an MLflow file store: no experiment folder "
                           "with a meta.yaml in it")
    except OSError as exc:
        raise LogError(name, f"cannot be read ({exc.strerror or exc})") from None


def _check_sqlite(uri: str, name: str) -> None:
    """A sqlite URI names an existing MLflow database (MLflow would create one)."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("///"):
        raise LogError(name, "an in-memory or remote sqlite database holds no runs: give a "
                       "file, sqlite:///relative.db or sqlite:////absolute/path.db")
    path = Path(urllib.parse.unquote(rest[3:].split("?", 1)[0]))
    if not path.is_file():
        raise LogError(name, f"no such database file: {path}")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise LogError(name, f"{path} cannot be read as a sqlite database ({exc})") from None
    if not _TABLES <= tables:
        raise LogError(name, f"{path} is not an MLflow tracking database (no "
                       f"{', '.join(sorted(_TABLES - tables))} table)")


@contextlib.contextmanager
def _environment(env: Mapping[str, str]):
    """``env`` set while MLflow reads (a value the user set wins), and restored after.

    Never held across a ``yield`` to the caller: the caller's code runs with
    its own environment. MLflow's own warnings are held back meanwhile (a
    file store with a malformed experiment folder logs a traceback per read):
    what goes wrong reaches the caller as a LogError.
    """
    before = {key: os.environ.get(key) for key in env}
    for key, value in env.items():
        if before[key] is None or key == "MLFLOW_ALLOW_FILE_STORE":
            os.environ[key] = value
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _call(name: str, read, where: str | None = None):
    """``read()``, with whatever MLflow raises (its own errors, SQL, HTTP, OS) as a LogError."""
    try:
        return read()
    except LogError:
        raise
    except Exception as exc:  # MLflow's backends raise many kinds
        raise LogError(name, _problem(exc), where) from exc


def _problem(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "Max retries exceeded" in text or "Failed to establish a new connection" in text:
        reason = "connection refused" if "refused" in text else "no answer"
        return f"no MLflow tracking server answers there ({reason})"
    if len(text) > 300:
        text = text[:297] + "..."
    return f"cannot be read ({type(exc).__name__}: {text})"


def _select(client, name: str, experiment: str | None, run_id: str | None) -> list:
    """The runs to read, with each run's source: [(source, mlflow Run)]."""
    from mlflow.entities import ViewType

    experiments = _experiments(client, name, experiment)
    names = {e.experiment_id: e.name for e in experiments}
    if run_id is not None:
        try:
            found = client.get_run(run_id)
        except Exception:  # noqa: BLE001 - each backend says "not found" its own way
            raise LogError(name, f"no run with id {run_id!r}") from None
        if found.info.lifecycle_stage == "deleted":
            raise LogError(name, f"run {run_id} is deleted")
        if found.info.experiment_id not in names:
            if experiment is not None:
                raise LogError(name, f"run {run_id} is not in experiment {experiment!r}")
            names[found.info.experiment_id] = client.get_experiment(found.info.experiment_id).name
        chosen = [found]
    else:
        chosen, token = [], None
        ids = sorted(names, key=_id_order)
        while ids:
            page = client.search_runs(ids, run_view_type=ViewType.ACTIVE_ONLY,
                                      max_results=1000, page_token=token)
            chosen += page
            token = page.token
            if not token:
                break
        if not chosen:
            where = f"experiment {experiment!r}" if experiment is not None else "the store"
            raise LogError(name, f"{where} holds no runs")
        chosen.sort(key=lambda r: (_id_order(r.info.experiment_id), r.info.start_time or 0,
                                   r.info.run_id))
    labels = [f"{names[r.info.experiment_id]}/{r.info.run_name or r.info.run_id[:8]}"
              for r in chosen]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [(f"{label} ({r.info.run_id[:8]})" if label in repeated else label, r)
            for label, r in zip(labels, chosen)]


def _experiments(client, name: str, experiment: str | None) -> list:
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None and experiment.isdigit():
            with contextlib.suppress(Exception):
                found = client.get_experiment(experiment)
        if found is None or found.lifecycle_stage == "deleted":
            raise LogError(name, f"no experiment named {experiment!r}")
        return [found]
    found, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        found += page
        token = page.token
        if not token:
            break
    if not found:
        raise LogError(name, "holds no experiments")
    return found


def _id_order(experiment_id: str):
    return (0, int(experiment_id), "") if experiment_id.isdigit() else (1, 0, experiment_id)


def _iterate(client, env, infos) -> Iterator[Run | LogError]:
    for source, mlflow_run in infos:
        run_id, keys = mlflow_run.info.run_id, list(mlflow_run.data.metrics)
        try:
            with _environment(env):
                histories = _call(source, lambda run_id=run_id, keys=keys: {
                    key: client.get_metric_history(run_id, key) for key in keys}, f"run {run_id}")
            item = _to_run(source, mlflow_run, histories)
        except LogError as exc:
            item = exc
        except Exception as exc:  # noqa: BLE001 - a bug of ours: this run's error only
            item = InternalError(source, f"internal error while reading it "
                                 f"({type(exc).__name__}: {str(exc)[:200]}); please report")
            item.__cause__ = exc
        yield item


# --- one run ------------------------------------------------------------------

def _to_run(source: str, mlflow_run, histories: Mapping[str, list]) -> Run:
    """One MLflow run's metric histories as a Run (see the module docstring)."""
    info = mlflow_run.info
    params = _params(mlflow_run.data.params, info.run_name)
    notes: list[str] = []
    if info.status not in ("FINISHED", None):
        notes.append(f"the MLflow run's status is {info.status}")
    # [(step, value)] per key, in logging order (by timestamp; the store's order breaks ties).
    points = {key: [(int(m.step), float(m.value)) for m in
                    sorted(history, key=lambda m: m.timestamp or 0)]
              for key, history in histories.items() if history}
    system = sorted(k for k in points if k.startswith(_SYSTEM))
    for key in system:
        del points[key]
    if system:
        notes.append(f"MLflow system metrics left out ({len(system)}: {system[0]}, ...)")
    for key in _COUNTERS:
        if points.pop(key, None) is not None:
            notes.append(f"the '{key}' metric is a counter, not a curve: left out")
    _drop_restored_epoch(points, notes)
    if not points:
        raise LogError(source, f"no training metrics logged (run {info.run_id})")
    infinite = _restore_infinity(points)
    if infinite:
        notes.append(f"{_DBL_MAX:.4g} read as infinity (MLflow's database stores infinity "
                     f"so): {', '.join(infinite[:5])}")

    # A key logged repeatedly at one step is in logging order; all others by step.
    repeated = {k for k, p in points.items() if len(p) > 1 and len({s for s, _ in p}) == 1}
    stepped = {k: p for k, p in points.items() if k not in repeated}
    steps_per_epoch = _batch_level(stepped, params, points, repeated)
    columns: dict[str, dict[float, float]] = {}
    names = _keras_names(points, notes)
    duplicated = []
    for key, target in names.items():
        series = points[key]
        if key in repeated:
            freq = _positive(params.get("validation_freq")) if steps_per_epoch else None
            columns[target] = {float(k * (freq or 1)): v for k, (_, v) in enumerate(series, 1)}
            if not steps_per_epoch:
                notes.append(f"'{key}' was logged {len(series)} times at step {series[0][0]}: "
                             f"read in logging order as epochs 1-{len(series)}")
            continue
        column: dict[float, float] = {}
        for step, value in series:
            x = step / steps_per_epoch if steps_per_epoch else step + 1.0
            if x in column:
                duplicated.append(key)
            column[x] = value  # the later value wins
        columns[target] = column
    if duplicated:
        notes.append(f"steps logged more than once ({', '.join(sorted(set(duplicated))[:5])}): "
                     "the later value kept")
    longest = max(len(c) for c in columns.values())
    once = sorted(k for k, c in columns.items() if len(c) == 1 and longest >= 3)
    for key in once:
        del columns[key]
    if once:
        notes.append(f"logged once, not a curve: {', '.join(once[:5])} left out")
    rate = next(((n, params[n]) for n in _RATE_PARAMS if _positive(params.get(n))), None)
    if rate is not None and LEARNING_RATE not in columns:
        xs = sorted({x for column in columns.values() for x in column})
        columns[LEARNING_RATE] = dict.fromkeys(xs, float(rate[1]))
        notes.append(f"learning_rate {rate[1]:g} taken from the run's param '{rate[0]}' "
                     "(constant: a schedule would not show)")
    granularity = "epoch"
    if steps_per_epoch:
        granularity = "step"
        notes.append(f"autolog logged every few optimizer steps (log_every_n_steps): x axis is "
                     f"the step / {steps_per_epoch:.4g} steps per epoch")
    run = sparse_run(source, columns, format=FORMAT, notes=notes, granularity=granularity)
    return replace(run, params=params)


def _drop_restored_epoch(points: dict[str, list], notes: list[str]) -> None:
    """Autolog's EarlyStopping bookkeeping: not curves, and an epoch that never ran."""
    stopped = points.pop("stopped_epoch", None)
    restored = points.pop("restored_epoch", None)
    if stopped is None:
        return
    last = int(stopped[-1][1])
    if restored is None:
        notes.append(f"EarlyStopping stopped training after epoch {last + 1}")
        return
    fake = last + 1
    for key in list(points):
        points[key] = [(s, v) for s, v in points[key] if s != fake]
        if not points[key]:
            del points[key]
    notes.append(f"EarlyStopping stopped training after epoch {last + 1} and restored epoch "
                 f"{int(restored[-1][1]) + 1}; the restored values that autolog logs again "
                 f"at step {fake} were left out")


def _restore_infinity(points: dict[str, list]) -> list[str]:
    found = []
    for key, series in points.items():
        if any(abs(v) == _DBL_MAX for _, v in series):
            points[key] = [(s, math.copysign(math.inf, v) if abs(v) == _DBL_MAX else v)
                           for s, v in series]
            found.append(key)
    return found


def _batch_level(stepped: Mapping[str, list], params: Mapping[str, object],
                 points: Mapping[str, list], repeated: set[str]) -> float | None:
    """Steps per epoch when autolog logged every n optimizer steps; None for epoch steps.

    Autolog records ``epochs``; an epoch-level run's steps are epoch indexes
    below it, a step-level run's steps are optimizer iterations, which reach it.
    """
    epochs = _positive(params.get("epochs"))
    if not epochs or not stepped:
        return None
    last = max(s for p in stepped.values() for s, _ in p)
    if last < epochs:
        return None
    given = _positive(params.get("steps_per_epoch"))
    if given:
        return float(given)
    validations = [len(points[k]) for k in repeated if k.startswith("validation_")]
    freq = _positive(params.get("validation_freq")) or 1
    ran = max(validations) * freq if validations else epochs - (_positive(params.get(
        "initial_epoch")) or 0)
    return last / ran if ran > 0 else None


def _keras_names(points: Mapping[str, list], notes: list[str]) -> dict[str, str]:
    """MLflow key -> Keras name; a key whose Keras name is taken by another is left out."""
    from .lightning import keras_name

    wanted = {key: LEARNING_RATE if key == "lr" else keras_name(key) for key in points}
    names: dict[str, str] = {}
    # Keys already in Keras' spelling first: they win a name over a renamed twin.
    for key in sorted(points, key=lambda k: (wanted[k] != k, k)):
        if wanted[key] not in names.values():
            names[key] = wanted[key]
    left = sorted(set(points) - set(names))
    if left:
        copies = [k for k in left if k.startswith("validation_")]
        if copies:
            notes.append(f"autolog's {', '.join(copies[:3])} (logged after each validation "
                         f"pass) repeat {VAL_PREFIX}*: left out")
        others = [k for k in left if k not in copies]
        if others:
            notes.append(f"{', '.join(others[:3])} left out: the same name as another key "
                         f"in Keras' spelling")
    renamed = [f"{k} -> {v}" for k, v in names.items() if k != v]
    if renamed:
        notes.append(f"read in Keras' spelling: {', '.join(renamed[:4])}")
    return names


def _params(raw: Mapping[str, str], run_name: str | None) -> dict[str, object]:
    """The run's params, numbers where they parse, plus ``run_name``.

    Autolog's ``opt_name`` is the optimizer object's name, which Keras numbers
    per instance (``adam_3``): the number is dropped, so that runs with the
    same optimizer do not differ by it in a sweep.
    """
    params: dict[str, object] = {}
    for key, text in sorted(raw.items()):
        params[key] = _param(text)
    name = params.get("opt_name")
    if isinstance(name, str):  # Keras numbers its optimizers: adam, adam_1, adam_2...
        params["opt_name"] = re.sub(r"_\d+$", "", name)
    if run_name and "run_name" not in params:
        params["run_name"] = run_name
    return params


def _param(text: str) -> object:
    text = str(text)
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        value = int(stripped)
        return value if abs(value) < 2**53 else float(value)
    if _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number):
            return number
    return text if len(text) <= _MAX_PARAM_CHARS else text[:_MAX_PARAM_CHARS - 3] + "..."


def _positive(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and value > 0 else None
