"""JSON Lines metric logs: one JSON object per line, with a ``step`` or ``epoch`` key.

What hand-written loggers, ``wandb``-style and framework callbacks write::

    {"step": 120, "epoch": 0, "train/loss": 0.93, "lr": 0.001}
    {"step": 240, "epoch": 0, "train/loss": 0.71}
    {"step": 240, "epoch": 0, "val/loss": 0.80, "val/accuracy": 0.74}

Rows may hold only some metrics (evaluation rows, learning-rate rows); a
metric absent from a row was not logged there. The x axis is ``epoch`` when
the rows carry one (0-based as Keras counts, so epoch 0 is the Run's epoch 1;
a row without one joins the next row that has one); rows of one epoch are
merged, and a metric logged several times in one epoch (per step) is
averaged, with a note. Fractional epochs (the Trainer's ``1.25``) are kept
as they are and the run is step-logged. Without an epoch, the x axis is the
``step`` (``_step``, ``global_step``, ``iteration``) and the run is
step-logged, unless every row holds every metric on consecutive steps (one
row per epoch), when each step is read as an epoch.

Names are read in Keras' spelling: ``train/loss`` -> ``loss``, ``val/loss``,
``validation/loss``, ``valid_loss``, ``eval/loss``, ``eval_loss`` ->
``val_loss``, ``lr`` and ``lr-Adam`` -> ``learning_rate``; ``epoch/loss``
(W&B's Keras ``WandbMetricsLogger``) -> ``loss``, its ``batch/*`` keys are
dropped when the ``epoch/*`` ones are there; ``test`` metrics are ignored.
Timestamps and W&B's own ``_runtime``/``_timestamp`` are bookkeeping.

Malformed rows (not JSON, not an object, a step that is no number, a value
that is text where the key holds numbers elsewhere) are skipped, counted and
named in a note, never silently; a last line cut short is dropped. A step or
epoch that goes back starts a new run (several runs appended to one file,
``segment=`` picks one, the last by default) when it goes back to where the
run started, and means a resumed run otherwise: the later rows replace the
earlier ones from that point, with a note.

A plain Keras log (an ``epoch`` key, one row per epoch, Keras names) is read
exactly as :mod:`~diagnose.load.history` reads a list of per-epoch logs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LogError
from ..run import LEARNING_RATE, VAL_PREFIX, Run
from .common import (
    MAX_BYTES,
    by_line,
    choose_segment,
    display_name,
    number,
    parse_json,
    read_text,
    restarted,
    sparse_run,
    went_back,
)
from .common import (
    malformed as malformed_warning,
)

FORMAT = "jsonl"

EPOCH_KEYS = ("epoch", "epoch/epoch")
STEP_KEYS = ("step", "_step", "global_step", "trainer/global_step", "iteration", "iter")
# Bookkeeping, not curves: clocks, counters and W&B's internal keys.
_BOOKKEEPING = frozenset({"_runtime", "_timestamp", "time", "timestamp", "wall_time", "walltime",
                          "runtime", "elapsed", "elapsed_time", "batch/batch_step",
                          "total_flos", "samples", "examples", "tokens"})
_EVAL = re.compile(r"^(eval|evaluation|val|valid|validation)[/_]")
_TRAIN = re.compile(r"^(train|training)[/_]")
_TEST = re.compile(r"^test[/_]")
_LR = re.compile(r"^(lr|lr-.*|learning_rate|learning-rate|lr_.*)$")
_NOT_A_NUMBER = object()


def sniff(path: Path, head: str) -> bool:
    """JSON Lines whose first object has a step or epoch key, with more lines after it."""
    lines = [line for line in head.lstrip("\ufeff").splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        return False
    try:
        first = json.loads(lines[0])
    except (ValueError, RecursionError):
        return False
    return (isinstance(first, dict) and any(k in first for k in (*EPOCH_KEYS, *STEP_KEYS))
            and lines[1].lstrip().startswith("{"))


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a JSON Lines metric log (see the module's docstring)."""
    source = display_name(path)
    text = read_text(path, data, max_bytes)
    notes: list[str] = []
    records, malformed = _records(text, source, notes)
    if not records:
        shown = "; ".join(f"line {i}: {why}" for i, why in malformed[:3])
        raise LogError(source, "no line holds a JSON object of metrics"
                       + (f" ({shown})" if shown else ""))
    if not malformed and _plain_keras(records):
        from .history import _from_records

        choose_segment(segment, 1, source)
        return _from_records([r for _, r in records], source, FORMAT, notes)
    return build_run(records, source, format=FORMAT, notes=notes, segment=segment,
                     malformed=malformed)


def _records(text: str, source: str, notes: list[str]):
    """(line number, object) of each good line, and (line number, why) of each bad one."""
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    records, malformed = [], []
    for i, line in lines:
        try:
            record = parse_json(line, source)
        except json.JSONDecodeError as exc:
            if i == lines[-1][0] and not text.endswith("\n"):
                notes.append(f"dropped line {i}, cut short")
                break
            malformed.append((i, f"not JSON ({exc.msg})"))
            continue
        except LogError:  # nested too deeply
            malformed.append((i, "nested too deeply"))
            continue
        if not isinstance(record, dict):
            malformed.append((i, f"{type(record).__name__}, not an object"))
            continue
        records.append((i, record))
    return records, malformed


def _plain_keras(records: Sequence[tuple[int, dict]]) -> bool:
    """One row per epoch, epochs increasing, Keras names: what history.py reads already."""
    last = -math.inf
    for _, record in records:
        epoch = record.get("epoch")
        if (not isinstance(epoch, (int, float)) or isinstance(epoch, bool) or epoch <= last
                or epoch != int(epoch)):
            return False
        last = epoch
        for key in record:
            if (not isinstance(key, str) or key in STEP_KEYS or key in _BOOKKEEPING
                    or key.startswith("_") or "/" in key or _EVAL.match(key) and
                    not key.startswith(VAL_PREFIX) or _TRAIN.match(key) or _TEST.match(key)):
                return False
    return True


def keras_name(key: str) -> str | None:
    """The Run's name for a metric key; None for a key that is no training curve."""
    name = key.strip()
    name = name.removeprefix("epoch/")  # WandbMetricsLogger's epoch-level keys
    if _TEST.match(name):
        return None
    if _TRAIN.match(name):
        name = _TRAIN.sub("", name)
    if _LR.match(name) or name in ("optimizer/lr", "optimizer/learning_rate"):
        return LEARNING_RATE
    match = _EVAL.match(name)
    if match:
        rest = name[match.end():]
        return VAL_PREFIX + rest.replace("/", "_") if rest else None
    return name.replace("/", "_")


def build_run(records: Sequence[tuple[int, Mapping]], source: str, *, format: str,
              notes: list[str], segment: int | None = None,
              malformed: Sequence[tuple[int, str]] = (), where: str = "line",
              x_key: str | None = None) -> Run:
    """A Run from rows of metrics ``(line number, {key: value})``; see the module docstring.

    ``x_key`` names the x axis column when the caller knows it (a W&B chart's
    first column); otherwise the rows' epoch or step keys give it.
    """
    malformed = list(malformed)
    keys = _keys(records)
    skipped = _skipped_keys(records, keys, notes)
    epoch_key = next((k for k in EPOCH_KEYS if k in keys), None)
    step_key = next((k for k in STEP_KEYS if k in keys), None)
    if x_key is not None:
        epoch_key, step_key = (x_key, None) if x_key.lower() in EPOCH_KEYS else (None, x_key)
    if epoch_key is None and step_key is None:
        raise LogError(source, f"no step or epoch key ({', '.join((*EPOCH_KEYS, *STEP_KEYS))})")
    names = _names(keys, skipped | {epoch_key, step_key}, notes)
    if not names:
        raise LogError(source, "no metric keys besides the step or epoch"
                       + (f" (skipped: {', '.join(sorted(map(repr, skipped)))[:200]})"
                          if skipped else ""))
    rows: list[tuple[int, float | None, float | None, dict[str, float]]] = []
    for line, record in records:
        epoch = _axis(record, epoch_key, line, malformed, where)
        step = _axis(record, step_key, line, malformed, where)
        if epoch is _NOT_A_NUMBER or step is _NOT_A_NUMBER:
            continue
        values: dict[str, float] = {}
        for key, name in names.items():
            value = record.get(key)
            if value is None:
                continue
            parsed = _value(value)
            if parsed is None:
                continue
            if parsed is _NOT_A_NUMBER:
                malformed.append((line, f"{key!r} is {str(value)[:20]!r}, not a number"))
                continue
            values[name] = parsed
        if values:
            rows.append((line, epoch, step, values))
    if malformed:
        bad = by_line(malformed)  # a line with two bad values is one malformed line
        shown = "; ".join(f"{where} {i}: {why}" for i, why in bad[:4])
        more = f"; and {len(bad) - 4} more" if len(bad) > 4 else ""
        notes.append(f"skipped {len(bad)} malformed "
                     f"{where}{'s' if len(bad) > 1 else ''} ({shown}{more})")
    if not rows:
        raise LogError(source, "no values logged")
    known = [r[1] for r in rows if r[1] is not None]
    by_epoch = epoch_key is not None and bool(known)
    if by_epoch:
        rows = _fill_epochs(rows)
    # The Run counts whole 0-based epochs from 1 (see _to_run): warnings say the Run's numbers.
    offset = 1.0 if (step_key is None and by_epoch and min(known) == 0
                     and all(float(r[1]).is_integer() for r in rows)) else 0.0
    segments, went = _segments(rows, step_key is not None, notes, where, offset)
    index = choose_segment(segment, len(segments), source)
    chosen = segments[index]
    warnings = [malformed_warning(malformed, where)] if malformed else []
    if len(segments) > 1:
        spans = ", ".join(f"{where}s {s[0][0]}-{s[-1][0]}" for s in segments)
        which = "the last" if segment is None else f"segment={segment}"
        notes.insert(0, f"file holds {len(segments)} runs appended ({spans}); diagnosing "
                     f"{which}; choose with segment=N (0-based, negative from the end)")
        warnings.append(restarted(len(segments), spans, f"the last ({spans.rsplit(', ', 1)[-1]})"
                                  if segment is None else f"segment={segment}",
                                  "step" if step_key is not None else "epoch"))
    if step_key is not None and by_epoch:
        # Said in steps, drawn on an axis of epochs: the message names the steps and lines.
        went[index] = [replace(w, epochs=()) for w in went[index]]
    warnings += went[index]
    return _to_run(chosen, source, format, notes, by_epoch, min(known) if by_epoch else None,
                   warnings)


def _keys(records) -> list[str]:
    seen: dict[str, None] = {}
    for _, record in records:
        for key in record:
            seen.setdefault(str(key), None)
    return list(seen)


def _skipped_keys(records, keys: list[str], notes: list[str]) -> set[str]:
    """Keys that hold no curve: lists, dicts, flags, or text in every row."""
    skipped: set[str] = set()
    for key in keys:
        what, numbers = None, False
        for _, record in records:
            value = record.get(key)
            if value is None:
                continue
            if isinstance(value, bool):
                what = what or "true/false"
            elif isinstance(value, list):
                what = what or f"a list of {len(value)} values"
            elif isinstance(value, dict):
                what = what or "a dict"
            elif _value(value) is not _NOT_A_NUMBER:
                numbers = True
        if what is not None:
            skipped.add(key)
            notes.append(f"skipped key {key!r}: it holds {what}, not a number")
        elif not numbers and any(record.get(key) is not None for _, record in records):
            skipped.add(key)
            if key not in _BOOKKEEPING:
                notes.append(f"skipped key {key!r}: text, not a number")
    return skipped


def _names(keys: list[str], skipped: set, notes: list[str]) -> dict[str, str]:
    """Metric key -> Run name, for the keys that are curves."""
    has_epoch_level = any(k.startswith("epoch/") and k != "epoch/epoch" for k in keys)
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    ignored, dropped_batch = [], []
    for key in keys:
        if key in skipped or key in _BOOKKEEPING or key.startswith("_") or key in EPOCH_KEYS \
                or key in STEP_KEYS:
            continue
        if key.startswith("batch/"):
            if has_epoch_level:
                dropped_batch.append(key)
                continue
            name = keras_name(key[len("batch/"):])
        else:
            name = keras_name(key)
        if name is None:
            ignored.append(key)
            continue
        if name in taken:
            notes.append(f"{key!r} and {taken[name]!r} both read as {name!r}; kept {taken[name]!r}")
            continue
        taken[name] = key
        names[key] = name
    if ignored:
        notes.append(f"test-set keys ignored: {', '.join(ignored)[:200]}")
    if dropped_batch:
        notes.append(f"per-batch keys ignored beside the epoch/ ones: {', '.join(dropped_batch)[:200]}")
    renamed = [f"{k} -> {n}" for k, n in names.items() if k != n and n != LEARNING_RATE]
    if renamed:
        notes.append(f"names read in Keras' spelling ({', '.join(renamed[:3])}"
                     f"{', ...' if len(renamed) > 3 else ''})")
    lr = [k for k, n in names.items() if n == LEARNING_RATE and k != LEARNING_RATE]
    if lr:
        notes.append(f"{lr[0]!r} read as '{LEARNING_RATE}'")
    return names


def _value(value: Any):
    """A float, None (not logged), or _NOT_A_NUMBER."""
    if isinstance(value, (bool, list, dict)):
        return _NOT_A_NUMBER
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return number(value.strip())
        except ValueError:
            return _NOT_A_NUMBER
    return _NOT_A_NUMBER


def _axis(record: Mapping, key: str | None, line: int, malformed: list, where: str):
    """The record's epoch or step: a finite float, None (absent), or _NOT_A_NUMBER."""
    if key is None or record.get(key) is None:
        return None
    value = _value(record[key])
    if value is None:
        return None
    if value is _NOT_A_NUMBER or not math.isfinite(value):
        malformed.append((line, f"{key!r} is {str(record[key])[:20]!r}, not a finite number"))
        return _NOT_A_NUMBER
    return value


def _fill_epochs(rows):
    """Rows without an epoch join the next row that has one (the last, at the end)."""
    known = [r[1] for r in rows if r[1] is not None]
    if not known:
        return [(line, None, step, values) for line, _, step, values in rows]
    out, following = [], known[-1]
    for line, epoch, step, values in reversed(rows):
        following = epoch if epoch is not None else following
        out.append((line, following, step, values))
    out.reverse()
    return out


def _segments(rows, by_step: bool, notes: list[str], where: str, offset: float = 0.0):
    """Split where the step (the epoch in a log without steps) goes back to where the run started;
    a step going back inside the run is a resume: its later rows replace the earlier.

    Returns the segments and, for each, the warnings of the steps that went back in it
    (numbered as the Run numbers them: ``offset`` is added).
    """
    def position(row):
        return row[2] if by_step else row[1]

    segments: list[list] = [[]]
    went: list[list] = [[]]
    word = "step" if by_step else "epoch"
    start = last = None
    resumed = 0
    for row in rows:
        x = position(row)
        if x is not None and last is not None and x < last:
            if x <= start:
                segments.append([])
                went.append([])
                start = None
            else:
                resumed += 1
                again = [position(r) for r in segments[-1]
                         if position(r) is not None and position(r) >= x]
                went[-1].append(went_back(word, last + offset, x + offset,
                                          max(again) + offset, f"{where} {row[0]}"))
                segments[-1] = [r for r in segments[-1]
                                if position(r) is None or position(r) < x]
        if x is not None:
            start = x if start is None else start
            last = x
        segments[-1].append(row)
    if resumed:
        notes.append(f"the step went back {resumed} time{'s' if resumed > 1 else ''} inside a "
                     "run (a resumed run, or a logging bug): the later rows replace the "
                     "earlier ones")
    kept = [i for i, s in enumerate(segments) if s]
    return [segments[i] for i in kept], [went[i] for i in kept]


def _to_run(rows, source: str, format: str, notes: list[str], by_epoch: bool,
            first_epoch: float | None, warnings: Sequence = ()) -> Run:
    columns: dict[str, dict[float, list[float]]] = {}
    if by_epoch and all(float(r[1]).is_integer() for r in rows):
        offset = 1.0 if first_epoch == 0 else 0.0
        for _, epoch, _, values in rows:
            for name, value in values.items():
                columns.setdefault(name, {}).setdefault(epoch + offset, []).append(value)
        averaged = sorted(n for n, by_x in columns.items() if n != LEARNING_RATE
                          and any(len(v) > 1 for v in by_x.values()))
        if averaged:
            notes.append(f"logged several times per epoch, averaged: {', '.join(averaged)[:200]}")
        dense = {name: {x: (v[-1] if name == LEARNING_RATE else float(np.mean(v)))
                        for x, v in by_x.items()} for name, by_x in columns.items()}
        return sparse_run(source, dense, format=format, notes=notes, warnings=warnings)
    # Step-logged: fractional epochs, or steps.
    use_epoch = by_epoch
    for _, epoch, step, values in rows:
        x = epoch if use_epoch else step
        if x is None:
            continue
        for name, value in values.items():
            columns.setdefault(name, {}).setdefault(x, []).append(value)
    if not columns:
        raise LogError(source, "no row has a step number")
    dense = {name: {x: v[-1] for x, v in by_x.items()} for name, by_x in columns.items()}
    xs = sorted({x for by_x in dense.values() for x in by_x})
    if not use_epoch and _one_row_per_epoch(dense, xs):
        notes.append("no epoch key: each step read as one epoch (every step holds every metric)")
        shift = 1 - xs[0]  # the steps, renumbered as epochs from 1
        warnings = [replace(w, epochs=tuple(e + shift for e in w.epochs)) for w in warnings]
        return sparse_run(source, {n: {x + shift: v for x, v in by_x.items()}
                                   for n, by_x in dense.items()}, format=format, notes=notes,
                          warnings=warnings)
    if not use_epoch:
        notes.append("no epoch key: the x axis is the step")
    return sparse_run(source, dense, format=format, notes=notes, granularity="step",
                      warnings=warnings)


def _one_row_per_epoch(dense: dict[str, dict[float, float]], xs: list[float]) -> bool:
    """Consecutive integer steps, each holding every metric: one logging call per epoch."""
    if len(xs) < 2 or any(b - a != 1 for a, b in pairwise(xs)):
        return False
    return all(len(by_x) == len(xs) for by_x in dense.values())
