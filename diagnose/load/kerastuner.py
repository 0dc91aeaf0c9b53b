"""KerasTuner trials: ``<project>/trial_*/trial.json``, one run per trial.

A KerasTuner project folder (``directory/project_name``) holds ``oracle.json``
and ``<tuner_id>.json`` (the search's own state) and one ``trial_<id>/``
folder per trial with ``trial.json``: the trial's id, its hyperparameters,
its status and its metrics, as
``metrics.metrics.<name>.observations[i] = {"value": [v, ...], "step": s}``.
``value`` holds one number per execution (``executions_per_trial``); the run
uses their mean, as KerasTuner does. Names are Keras' log keys (``loss``,
``val_loss``, ``accuracy``...).

What the observations are depends on who reported them:

- **Every epoch** (a tuner that reports each epoch to the oracle, the
  override KerasTuner's maintainers point to for per-epoch history, and what
  KerasTuner 1.0's plain ``Tuner`` did): one observation per epoch,
  ``step`` = the Keras epoch, 0-based. A Hyperband trial that continues another (``tuner/trial_id``)
  starts at ``step`` = ``tuner/initial_epoch``, so its epochs here start at
  ``initial_epoch + 1``: the epochs of the model it continues.
- **The best epoch only** (the built-in ``RandomSearch``, ``Hyperband``,
  ``BayesianOptimization``, ``GridSearch``): one observation per metric, the
  metrics of the trial's best epoch, with ``step`` = that epoch's index
  within the trial's own ``fit()``, i.e. counted from
  ``tuner/initial_epoch``, as KerasTuner 1.4 writes it (older releases
  wrote step 0, which cannot be told from a best first epoch). The run is
  that one point, at its epoch, with a note that trial.json holds no curve.

``Run.params`` holds the trial's hyperparameter values (numbers, text,
true/false); Hyperband's bookkeeping values (``tuner/epochs``,
``tuner/initial_epoch``, ``tuner/bracket``, ``tuner/round``,
``tuner/trial_id``) are said in a note instead, so that a sweep does not read
them as settings. A hyperparameter named ``learning_rate`` or ``lr`` also
becomes the run's constant ``learning_rate`` series (noted) when the metrics
do not log one, so the fixes can size a new rate from it. A trial that is not
``COMPLETED`` is diagnosed from what it recorded, with a note saying its
status; a trial that recorded no metric at all is refused with its status and
the last line of its error message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import LogError
from ..run import LEARNING_RATE, Run
from .common import (
    MAX_BYTES,
    choose_segment,
    display_name,
    parse_json,
    read_text,
    rename_learning_rate,
    sparse_run,
)

FORMAT = "kerastuner_trial"

TRIAL_FILE, TRIAL_DIR = "trial.json", "trial_"
# Hyperband's bookkeeping among the hyperparameter values: not settings.
TUNER_PREFIX = "tuner/"
COMPLETED = "COMPLETED"
RATE_NAMES = (LEARNING_RATE, "lr")
# A trial.json decides how many hyperparameters there are and how long their
# names and text values are: the run keeps this many, this long.
MAX_PARAMS, MAX_NAME_CHARS, MAX_TEXT_CHARS = 64, 100, 100

_KEY = r'"{}"\s*:'
_HYPERPARAMETERS = re.compile(_KEY.format("hyperparameters"))
# KerasTuner writes trial_id first; a copy rewritten with sorted keys starts with best_step.
_TRIAL = re.compile(_KEY.format("(trial_id|best_step)"))
_ORACLE = re.compile(_KEY.format("ongoing_trials"))


def sniff(path: Path, head: str) -> bool:
    """A JSON object with a ``hyperparameters`` key and a ``trial_id`` (KerasTuner writes
    both first) or ``best_step`` key, or KerasTuner's ``oracle.json`` (refused by
    :func:`load` with a pointer to the project folder)."""
    if not head.lstrip("\ufeff \t\r\n").startswith("{"):
        return False
    return bool(_HYPERPARAMETERS.search(head) and (_TRIAL.search(head) or _ORACLE.search(head)))


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read one KerasTuner ``trial.json`` (see the module docstring).

    ``segment`` can only be 0 or -1: a trial is one run.

    Raises:
        LogError: not JSON, not a trial object, a key of the wrong type, an
            observation that is not numbers at a step, or no metric recorded;
            the message names the file and the key.
    """
    file = display_name(path)
    choose_segment(segment, 1, file)
    try:
        state = parse_json(read_text(path, data, max_bytes), file)
    except json.JSONDecodeError as exc:
        raise LogError(file, f"invalid JSON ({exc.msg})",
                       f"line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(state, dict):
        raise LogError(file, f"expected a KerasTuner trial (a JSON object), got "
                       f"{_kind(state)}")
    if "ongoing_trials" in state and "trial_id" not in state:
        raise LogError(file, "KerasTuner's oracle state, not a trial: give the project folder "
                       "to diagnose every trial_*/trial.json in it")
    _trial_id(state.get("trial_id"), file)
    status = _status(state.get("status"), file)
    values = _hyperparameter_values(state.get("hyperparameters"), file)
    notes: list[str] = []
    if status != COMPLETED:
        notes.append(_status_note(status, state.get("message")))
    columns, executions = _observations(state.get("metrics"), file, status, state.get("message"))
    tuner = {k[len(TUNER_PREFIX):]: v for k, v in values.items()
             if isinstance(k, str) and k.startswith(TUNER_PREFIX)}
    columns = _place(columns, tuner, notes)
    if executions > 1:
        notes.append(f"{executions} executions per trial: each value is the mean of the "
                     "executions', as KerasTuner averages them")
    names = rename_learning_rate(list(columns), notes)
    columns = {new: columns[old] for old, new in zip(list(columns), names) if new is not None}
    params = _params(values, notes)
    if tuner:
        notes.append(_hyperband_note(tuner))
    rate = next((params[n] for n in RATE_NAMES if _is_rate(params.get(n))), None)
    if rate is not None and LEARNING_RATE not in columns:
        xs = sorted({x for column in columns.values() for x in column})
        columns[LEARNING_RATE] = dict.fromkeys(xs, float(rate))
        notes.append(f"learning_rate {rate:g} taken from the trial's hyperparameters "
                     "(constant: a schedule would not show)")
    run = sparse_run(_source(path), columns, offset=1.0, format=FORMAT, notes=notes)
    return dataclasses.replace(run, params=params)


def _source(path: Path) -> str:
    """``<project>/trial_<id>`` (the trial's folder) for ``.../trial_<id>/trial.json``."""
    if path.name == TRIAL_FILE and path.parent.name.startswith(TRIAL_DIR):
        return display_name(path.parent)
    return display_name(path)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    return "null" if value is None else f"{type(value).__name__} {_short(value)}"


def _short(value: Any, chars: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= chars else text[:chars - 3] + "..."


def _trial_id(value: Any, file: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LogError(file, f"expected the trial's id (text), got {_kind(value)}",
                       "key 'trial_id'")
    return str(value)


def _status(value: Any, file: str) -> str:
    if value is None:
        return COMPLETED  # KerasTuner always writes one; a hand-made trial may not
    if not isinstance(value, str):
        raise LogError(file, f"expected a status such as 'COMPLETED', got {_kind(value)}",
                       "key 'status'")
    return value.strip().upper()[:40] or COMPLETED


def _status_note(status: str, message: Any) -> str:
    why = {
        "RUNNING": "it had not finished when trial.json was written (a search still "
                   "running, or one that was stopped)",
        "IDLE": "it had not started",
        "STOPPED": "the tuner stopped it early",
        "INVALID": "it raised an error",
        "FAILED": "it raised an error",
    }.get(status, "not a status KerasTuner writes")
    line = _last_line(message)
    return f"trial status {status}: {why}" + (f" ({line})" if line else "") + \
        "; judged on what it recorded"


def _last_line(message: Any) -> str:
    """The last line of a trial's error message (a traceback ends with the exception)."""
    if not isinstance(message, str):
        return ""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return _short(lines[-1], 150).strip("'\"") if lines else ""


def _hyperparameter_values(value: Any, file: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LogError(file, f"expected an object, got {_kind(value)}", "key 'hyperparameters'")
    values = value.get("values", {})
    if not isinstance(values, dict):
        raise LogError(file, f"expected an object of name: value, got {_kind(values)}",
                       "key 'hyperparameters.values'")
    return values


def _observations(metrics: Any, file: str, status: str,
                  message: Any) -> tuple[dict[str, dict[float, float]], int]:
    """name -> {step: mean of the executions' values}, and the most executions at a step."""
    where = "key 'metrics.metrics'"
    inner = metrics.get("metrics") if isinstance(metrics, dict) else None
    if metrics is not None and not isinstance(inner, dict):
        got = _kind(metrics) if not isinstance(metrics, dict) else _kind(inner)
        raise LogError(file, f"expected an object of metric histories, got {got}", where)
    columns: dict[str, dict[float, float]] = {}
    executions = 1
    for name, history in (inner or {}).items():
        at = f"key 'metrics.metrics.{name[:60]}'"
        if not isinstance(history, dict) or not isinstance(history.get("observations"), list):
            raise LogError(file, "expected {'observations': [...]}, got "
                           f"{_kind(history)}", at)
        sums: dict[float, list[float]] = {}
        for i, observation in enumerate(history["observations"]):
            where_i = f"{at}, observation {i}"
            if not isinstance(observation, dict):
                raise LogError(file, "expected {'value': [...], 'step': n}, got "
                               f"{_kind(observation)}", where_i)
            step = _step(observation.get("step", 0), file, where_i)
            for value in _values(observation.get("value"), file, where_i):
                sums.setdefault(step, []).append(value)
        if sums:
            executions = max(executions, *(len(v) for v in sums.values()))
            columns[name] = {step: math.fsum(v) / len(v) if all(map(math.isfinite, v))
                             else _mean_with_blowups(v) for step, v in sums.items()}
    if not columns:
        why = f"status {status}" + (f": {_last_line(message)}" if _last_line(message) else "")
        raise LogError(file, f"the trial recorded no metric values ({why})", where)
    return columns, executions


def _mean_with_blowups(values: list[float]) -> float:
    """NaN if any execution logged NaN; else the infinity they share; else NaN (+inf and -inf)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    signs = {math.copysign(1.0, v) for v in values if math.isinf(v)}
    return math.inf * signs.pop() if len(signs) == 1 else math.nan


def _step(value: Any, file: str, where: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0 or value > 1e9):
        raise LogError(file, f"'step' must be an epoch number >= 0, got {_short(value)}", where)
    return float(value)


def _values(value: Any, file: str, where: str) -> list[float]:
    """An observation's values, one per execution; ``null`` items are not logged."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise LogError(file, f"'value' must hold numbers, got {_short(item)}", where)
        out.append(float(item))
    return out


def _place(columns: dict[str, dict[float, float]], tuner: Mapping[str, Any],
           notes: list[str]) -> dict[str, dict[float, float]]:
    """Steps as 0-based epochs of the model: per-epoch steps already are; a lone best-epoch
    step counts from the fit's ``initial_epoch`` (see the module docstring)."""
    if any(len(column) > 1 for column in columns.values()):
        return columns
    steps = {step for column in columns.values() for step in column}
    if len(steps) != 1:
        return columns  # each metric one observation, at different steps: as written
    step = steps.pop()
    first, last = _whole(tuner.get("initial_epoch")), _whole(tuner.get("epochs"))
    if first and last is not None and step < last - first:
        step += first  # the best epoch's index within fit(initial_epoch=first, epochs=last)
    trained = None if last is None else last - (first or 0)
    if trained != 1:
        notes.append(f"trial.json holds one epoch's metrics (epoch {step + 1:g}, the best), not "
                     "the curve: KerasTuner's built-in tuners keep no per-epoch history; report "
                     "every epoch from Tuner.on_epoch_end, or pass keras.callbacks.TensorBoard "
                     "to search() and diagnose its folder")
    return {name: dict.fromkeys([step], *column.values()) for name, column in columns.items()}


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value) if math.isfinite(value) and value >= 0 and value == int(value) else None


def _hyperband_note(tuner: Mapping[str, Any]) -> str:
    parts = []
    if "bracket" in tuner or "round" in tuner:
        parts.append(f"Hyperband bracket {_short(tuner.get('bracket', '?'), 12)}, round "
                     f"{_short(tuner.get('round', '?'), 12)}")
    first, last = _whole(tuner.get("initial_epoch")), _whole(tuner.get("epochs"))
    if last is not None:
        parts.append(f"epochs {(first or 0) + 1}-{last}" if last > (first or 0) + 1
                     else f"epoch {last}")
    parent = tuner.get("trial_id")
    if isinstance(parent, (str, int)) and not isinstance(parent, bool):
        parts.append(f"continues the model of trial {str(parent)[:40]}")
    return "; ".join(parts) or "Hyperband's tuner/* values read as bookkeeping, not settings"


def _params(values: Mapping[Any, Any], notes: list[str]) -> dict[str, object]:
    """The hyperparameter values that are settings: numbers, text, true/false."""
    params: dict[str, object] = {}
    skipped = []
    for name, value in values.items():
        if not isinstance(name, str) or name.startswith(TUNER_PREFIX):
            continue
        if len(name) > MAX_NAME_CHARS or len(params) >= MAX_PARAMS:
            skipped.append(name)
            continue
        if isinstance(value, (bool, int, float)):
            params[name] = value
        elif isinstance(value, str):
            params[name] = value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS - 3] + "..."
        elif value is not None:
            skipped.append(name)
    if skipped:
        shown = ", ".join(repr(_short(n, 40)) for n in skipped[:4])
        more = f" and {len(skipped) - 4} more" if len(skipped) > 4 else ""
        notes.append(f"hyperparameters not kept as settings (not a number or text, a name over "
                     f"{MAX_NAME_CHARS} characters, or past {MAX_PARAMS}): {shown}{more}")
    return params


def _is_rate(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value) and value > 0)
