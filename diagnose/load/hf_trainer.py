"""Hugging Face ``Trainer`` state files (``trainer_state.json``).

``log_history`` is a list of entries: training entries every
``logging_steps`` (``loss``, ``learning_rate``, ``grad_norm``, a fractional
``epoch``, ``step``), evaluation entries (``eval_loss``, ``eval_wer``, ...,
plus timing keys) and one final summary (``train_runtime``, and a
``train_loss`` that is the mean over all of training, not a curve point).
The run keeps Keras names (``eval_loss`` -> ``val_loss``), uses the
fractional epoch as its x axis, and is marked step-logged: such curves are
far noisier than Keras' per-epoch averages, and the engine judges them so.

A key whose value in some entry is a list, a dict or true/false (per-class
``eval_thresholds``, a confusion matrix, a flag) is not a curve: that key is
skipped, in every entry, with a note; the other keys are read.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from ..errors import LogError
from ..run import VAL_PREFIX, Run
from .common import MAX_BYTES, display_name, parse_json, read_text, sparse_run, went_back

FORMAT = "hf_trainer"

# Keys that are bookkeeping, not curves.
_SKIP = frozenset({"epoch", "step", "total_flos", "eval_runtime", "eval_samples_per_second",
                   "eval_steps_per_second", "train_runtime", "train_samples_per_second",
                   "train_steps_per_second"})


def sniff(path: Path, head: str) -> bool:
    """A JSON object with a ``log_history`` key."""
    return head.lstrip().startswith("{") and '"log_history"' in head


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read ``trainer_state.json``. ``segment`` has no meaning here and is ignored."""
    source = display_name(path)
    try:
        state = parse_json(read_text(path, data, max_bytes), source)
    except json.JSONDecodeError as exc:
        raise LogError(source, f"invalid JSON ({exc.msg})", f"line {exc.lineno}") from None
    history = state.get("log_history") if isinstance(state, dict) else None
    if not isinstance(history, list):
        raise LogError(source, "expected a list of log entries", "key 'log_history'")
    steps_per_epoch = _steps_per_epoch(state)
    rows: dict[float, dict[str, float]] = {}
    step_of: dict[float, float] = {}
    notes: list[str] = []
    skipped: dict[str, str] = {}  # key -> what its first non-number value is
    last_step, resumed = -1.0, False
    warnings = []
    for index, entry in enumerate(history):
        where = f"key 'log_history', entry {index}"
        if not isinstance(entry, dict):
            raise LogError(source, "expected an object", where)
        if "train_runtime" in entry:
            continue  # the closing summary: its train_loss is a mean, not a point
        step = entry.get("step")
        if step is not None and (not isinstance(step, (int, float)) or isinstance(step, bool)):
            raise LogError(source, f"'step' is {step!r:.40}, not a number", where)
        x = entry.get("epoch")
        if x is None:
            if step is None:
                raise LogError(source, "entry has neither 'epoch' nor 'step'", where)
            x = step / steps_per_epoch if steps_per_epoch else step
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise LogError(source, f"'epoch' is {x!r:.40}, not a number", where)
        if not (math.isfinite(x) and (step is None or math.isfinite(step))):
            raise LogError(source, "'epoch' and 'step' must be finite numbers", where)
        if step is not None and step < last_step:
            # A resumed run logs its steps again (training and evaluation
            # entries share a step, so only going back means a resume):
            # the later entries win.
            resumed = True
            again = {x: s for x, s in step_of.items() if s >= step}
            warning = went_back("step", last_step, float(step),
                                max(again.values(), default=last_step),
                                f"key 'log_history', entry {index}")
            # Shown where the entries logged again sit on the run's axis (fractional epochs).
            warnings.append(replace(warning, epochs=(min(again), max(again)) if again else ()))
            for key in [k for k, s in step_of.items() if s >= step]:
                del rows[key], step_of[key]
        last_step = float(step) if step is not None else last_step
        row = rows.setdefault(float(x), {})
        if step is not None:
            step_of[float(x)] = float(step)
        for key, value in entry.items():
            if key in _SKIP:
                continue
            if value is None or key in skipped:
                continue
            what = _not_a_number(value)
            if what is not None:
                skipped[key] = f"entry {index} holds {what}"
                continue
            if not isinstance(value, (int, float)):
                raise LogError(source, f"{key!r} is {value!r:.40}, not a number", where)
            row[_name(key)] = float(value)
    for key, what in skipped.items():
        notes.append(f"skipped key {key!r}: {what}, not a number")
        for row in rows.values():
            row.pop(_name(key), None)
    rows = {x: row for x, row in rows.items() if row}
    if not rows:
        also = "".join(f"; skipped key {key!r}: {what}" for key, what in list(skipped.items())[:4])
        raise LogError(source, f"no training or evaluation values{also}", "key 'log_history'")
    if resumed:
        notes.append("resumed run: repeated steps were logged again; the later values are used")
    columns: dict[str, dict[float, float]] = {}
    for x, row in rows.items():
        for name, value in row.items():
            columns.setdefault(name, {})[x] = value
    if any(n.startswith(VAL_PREFIX) for n in columns):
        notes.append("Trainer eval_* read as val_*")
    return sparse_run(source, columns, format=FORMAT, notes=notes, granularity="step",
                      warnings=warnings)


def _name(key: str) -> str:
    """The Run's name for a Trainer key: ``eval_loss`` -> ``val_loss``."""
    return VAL_PREFIX + key[5:] if key.startswith("eval_") else key


def _not_a_number(value) -> str | None:
    """What a value that is no curve point is (a list, a dict, a flag); None otherwise."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, list):
        return f"a list of {len(value)} values"
    if isinstance(value, dict):
        return "a dict"
    return None


def _steps_per_epoch(state: dict) -> float | None:
    """Steps per epoch from the state's totals, when entries lack an epoch."""
    steps, epochs = state.get("global_step"), state.get("epoch")
    if isinstance(steps, (int, float)) and isinstance(epochs, (int, float)) and epochs > 0:
        return steps / epochs
    return None
