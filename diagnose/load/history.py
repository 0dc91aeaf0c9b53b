"""Keras ``History`` objects, ``history.history`` dicts, their JSON dumps, and DataFrames.

A History dict maps each log key to one value per epoch. Keras only logs
validation on the epochs it evaluates (``validation_freq=k``: epochs k, 2k,
...), so ``val_*`` lists may be shorter than the training lists; they are
placed on those epochs, not dropped. The Run is the one :class:`RunBuilder`
makes from the same epochs' ``logs`` with the validation keys absent on the
other epochs. ``None`` (JSON ``null``) is a value not logged; NaN and
infinities are values logged as such.

Keys that hold no per-epoch series are skipped with a note naming the key,
not refused: dumps often keep summaries (``"test_accuracy": 0.91``), text
(``"timestamp"``), a config dict, per-class lists or true/false flags next to
the curves. Only a source where no key is a series is an error.

Also read: ``{"history": {...}}`` wrappers (with an optional ``epoch`` list),
lists of per-epoch ``logs`` dicts and JSON Lines of them (Keras'
``LambdaCallback`` example), pandas ``to_json`` dumps, and DataFrames, where
NaN means both "not logged" and "logged as NaN" (see :func:`from_dataframe`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LogError
from ..run import VAL_PREFIX, Run
from .common import (
    EPOCH,
    UNNAMED,
    choose_segment,
    make_run,
    MAX_BYTES,
    display_name,
    number,
    parse_json,
    read_text,
    rename_learning_rate,
)

FORMAT = "history_json"
_INDEX_KEY = re.compile(r"\d+")  # pandas to_json keys its rows by index: {"0": ..., "1": ...}


def sniff(path: Path, head: str) -> bool:
    """True for JSON (an object or an array) and JSON Lines."""
    return head.lstrip("\ufeff \t\r\n").startswith(("{", "["))


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a JSON dump of a History (see :func:`from_object`)."""
    source = display_name(path)
    choose_segment(segment, 1, source)
    notes: list[str] = []
    parsed = _parse_json(read_text(path, data, max_bytes), source, notes)
    return from_object(parsed, source, format=FORMAT, notes=notes)


def from_object(obj: Any, source: str | None = None, *, format: str = "history",
                notes: list[str] | None = None, segment: int | None = None) -> Run:
    """A Run from a History, a history dict, a list of per-epoch logs, or a DataFrame.

    Keys that are not a per-epoch series (a single number, text, a dict, a
    list of lists or flags) are skipped with a note.

    Raises:
        LogError: the object is none of these, no key holds a per-epoch series
            of numbers, or a series holds a value that is not a number (the
            message names the key and item).
    """
    notes = [] if notes is None else notes
    source = source or _describe(obj)
    choose_segment(segment, 1, source)
    if _is_dataframe(obj):
        return from_dataframe(obj, source)
    history = getattr(obj, "history", None)
    if isinstance(history, Mapping):  # keras.callbacks.History, duck-typed
        return _from_columns(history, source, getattr(obj, "epoch", None), format, notes)
    if _is_records(obj):
        return _from_records(obj, source, format, notes)
    if not isinstance(obj, Mapping):
        raise LogError(source, f"cannot read {_a(type(obj).__name__)} as a training log: expected "
                       "a Keras History, a history dict, a list of per-epoch logs dicts, a "
                       "DataFrame, a Run or the path of a log file")
    inner = obj.get("history")  # {"history": h.history, "epoch": h.epoch, "params": h.params}
    if isinstance(inner, Mapping):
        return _from_columns(inner, source, obj.get(EPOCH), format, notes)
    if _is_records(inner):
        return _from_records(inner, source, format, notes)
    if obj and all(isinstance(k, str) and _INDEX_KEY.fullmatch(k) and isinstance(v, Mapping)
                   for k, v in obj.items()):  # pandas to_json(orient="index")
        return _from_records([obj[k] for k in sorted(obj, key=int)], source, format, notes)
    if obj and all(isinstance(v, Mapping) and v and all(
            isinstance(k, str) and _INDEX_KEY.fullmatch(k) for k in v) for v in obj.values()):
        return _from_pandas_columns(obj, source, format, notes)  # to_json(orient="columns")
    return _from_columns(obj, source, None, format, notes)


def from_dataframe(frame: Any, source: str = "DataFrame") -> Run:
    """A Run from a pandas DataFrame with one column per log key.

    An ``epoch`` column (or index), 0-based as CSVLogger writes it, gives the
    epochs; unnamed columns (a saved index) are ignored. pandas writes NaN for
    both a value not logged and a value logged as NaN, so NaN is read as:
    not logged where the column has gaps between logged values, or in a
    ``val_*`` column that holds nothing else; logged NaN where it ends a
    column (the loss blew up and stayed NaN) or fills a training column.
    """
    notes: list[str] = []
    columns: dict[str, list] = {}
    epochs = None
    if str(getattr(frame.index, "name", None)).lower() == EPOCH:
        epochs = frame.index.tolist()
    if not frame.columns.is_unique:
        twice = next(str(k) for k in frame.columns if list(frame.columns).count(k) > 1)
        raise LogError(source, "appears twice", f"column {twice!r}")
    for key in frame.columns:
        name = str(key)
        if UNNAMED.fullmatch(name):
            continue
        values = [None if _is_missing(v) else v for v in frame[key].tolist()]
        if name.lower() == EPOCH:
            epochs = values
        else:
            columns[name] = values
    return _from_columns(columns, source, epochs, "dataframe", notes, pandas_nan=True)


def _parse_json(text: str, source: str, notes: list[str]) -> Any:
    try:
        return parse_json(text, source)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise LogError(source, f"invalid JSON ({exc.msg})",
                           f"line {exc.lineno}, column {exc.colno}") from None
    return _parse_json_lines(text, source, notes)


def _parse_json_lines(text: str, source: str, notes: list[str]) -> list:
    """JSON Lines: one per-epoch logs object per line; a last line cut short is dropped."""
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for i, line in lines:
        try:
            record = parse_json(line, source)
        except json.JSONDecodeError as exc:
            if i == lines[-1][0] and not text.endswith("\n"):
                notes.append(f"dropped line {i}, cut short")
                break
            raise LogError(source, f"invalid JSON ({exc.msg})", f"line {i}") from None
        if not isinstance(record, dict):
            raise LogError(source, "expected one logs object per line, got "
                           f"{type(record).__name__}", f"line {i}")
        records.append(record)
    return records


def _from_records(records, source: str, format: str, notes: list[str]) -> Run:
    """Per-epoch logs dicts: a key absent from an epoch's logs was not logged that epoch."""
    columns: dict[str, list] = {}
    epochs: list | None = [] if any(EPOCH in r for r in records) else None
    for i, record in enumerate(records):
        for key, value in record.items():
            if key == EPOCH:
                continue
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * i
            column.append(value)
        for column in columns.values():
            if len(column) <= i:
                column.append(None)
        if epochs is not None:
            epochs.append(record.get(EPOCH))
    return _from_columns(columns, source, epochs, format, notes)


def _from_pandas_columns(obj: Mapping, source: str, format: str, notes: list[str]) -> Run:
    """pandas ``to_json()``: ``{"loss": {"0": 1.2, "1": 0.9}, ...}``; ``null`` is pandas' NaN."""
    index = sorted({int(k) for column in obj.values() for k in column})
    columns = {key: [column.get(str(i)) for i in index] for key, column in obj.items()}
    epochs = columns.pop(EPOCH, None)
    return _from_columns(columns, source, epochs, format, notes, pandas_nan=True)


def _from_columns(columns: Mapping, source: str, epochs: Any, format: str, notes: list[str],
                  *, pandas_nan: bool = False) -> Run:
    """The core: one list per key, aligned on epochs (validation lists may be shorter)."""
    if not columns:
        raise LogError(source, "no log keys (the history is empty)")
    if EPOCH in columns and epochs is None:
        columns = dict(columns)
        epochs = columns.pop(EPOCH)
    if epochs is not None and not _is_sequence(epochs):  # "epoch": 40, the epochs run
        notes.append(f"skipped key {EPOCH!r}: {_not_a_series(epochs)}, "
                     "not a per-epoch series of numbers")
        epochs = None
    parsed: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    skipped: list[tuple[str, str]] = []  # (key, what it holds instead of a series)
    for key, values in columns.items():
        name = str(key)
        column = _column(values, name, source, notes)
        if isinstance(column, str):
            skipped.append((name, column))
            notes.append(f"skipped key {name!r}: {column}, not a per-epoch series of numbers")
        elif column is not None:
            parsed[name] = column
    if not parsed and skipped:
        shown = "; ".join(f"key {name!r} is {what}" for name, what in skipped[:4])
        more = f"; and {len(skipped) - 4} more" if len(skipped) > 4 else ""
        raise LogError(source, f"no key holds a per-epoch series of numbers: {shown}{more}")
    if not parsed or not any(mask.any() for _, mask in parsed.values()):
        raise LogError(source, "no values logged")
    if pandas_nan:
        _resolve_pandas_nan(parsed, notes)
    n = max(len(values) for values, _ in parsed.values())
    positions = _align(parsed, n, notes)
    # The order in which the keys first appear, epoch by epoch, as RunBuilder sees them.
    order = sorted(parsed, key=lambda name: positions[name][0])
    names = rename_learning_rate(order, notes)
    kept = [(new, old) for new, old in zip(names, order) if new is not None]
    dense_values, dense_logged = [], []
    for _, name in kept:
        values, mask = parsed[name]
        full, logged = np.full(n, math.nan), np.zeros(n, dtype=bool)
        full[positions[name]], logged[positions[name]] = values, mask
        dense_values.append(full)
        dense_logged.append(logged)
    return make_run(source, [new for new, _ in kept], np.array(dense_values).reshape(-1, n),
                    np.array(dense_logged).reshape(-1, n), _epochs(epochs, n, source),
                    format=format, notes=notes)


def _column(values: Any, key: str, source: str, notes: list[str]):
    """(values, logged mask) of one key; None for an empty or per-class (vector) key.

    A key that is not a per-epoch series of numbers gives a short description
    of what it holds instead (``"a single number"``), for the caller's note.
    """
    if not _is_sequence(values):
        return _not_a_series(values)
    n = len(values)
    if n == 0:
        notes.append(f"key {key!r} holds no values; ignored")
        return None
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "fiu":
        return values.astype(float), np.ones(n, dtype=bool)
    out, logged = np.empty(n), np.ones(n, dtype=bool)
    vectors, numbers, text = [], 0, None  # list items; items read as numbers; first bad text
    for i, value in enumerate(values):
        if isinstance(value, float):
            out[i] = value
            numbers += 1
            continue
        if value is None:
            out[i], logged[i] = math.nan, False
            continue
        if isinstance(value, (bool, np.bool_)):
            return f"true/false flags per epoch (item {i})"
        if isinstance(value, Mapping):
            return f"a list holding {_a(type(value).__name__)} at item {i}"
        try:
            if isinstance(value, str):
                parsed = number(value)
                out[i], logged[i] = (math.nan, False) if parsed is None else (parsed, True)
                numbers += parsed is not None
            elif np.ndim(value) > 0:
                out[i], logged[i] = math.nan, False
                vectors.append(i)
            else:
                out[i] = _float(value)  # ints, numpy scalars, 0-d arrays and tensors
                numbers += 1
        except (TypeError, ValueError):
            if isinstance(value, str):
                text = (i, value) if text is None else text
                out[i], logged[i] = math.nan, False
                continue
            return f"a list holding {_a(type(value).__name__)} at item {i}"
    if text is not None:
        if numbers or vectors:
            i, value = text
            raise LogError(source, f"{value[:40]!r} is not a number", f"key {key!r}, item {i}")
        return "text per epoch"  # timestamps, names
    if vectors:
        if numbers:
            return f"a list mixing numbers and lists (item {vectors[0]} is a list)"
        notes.append(f"ignored {key!r}: a list of values per epoch (a per-class metric), "
                     "not a curve")
        return None
    return out, logged


def _float(value: Any) -> float:
    """``float(value)``, with an int past the float range read as the infinity it is to a
    float (as JSON's ``1e400`` and a 400-digit integer in a JSON file are)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _a(noun: str) -> str:
    """The noun with its article: "an int", "a list"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _is_sequence(values: Any) -> bool:
    """A list-like of per-epoch values (not text, a dict, a scalar or a 0-d array)."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__len__"):
        return False
    return not (isinstance(values, np.ndarray) and values.ndim == 0)


def _not_a_series(value: Any) -> str:
    """What a key holds instead of a list of per-epoch values, in words."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "a single true/false value"
    if isinstance(value, (str, bytes)):
        return "text"
    if isinstance(value, Mapping):
        return "a dict"
    if np.ndim(value) == 0:
        try:
            _float(value)
        except (TypeError, ValueError):
            pass
        else:
            return "a single number"
    return _a(type(value).__name__)


def _align(parsed: dict[str, tuple[np.ndarray, np.ndarray]], n: int,
           notes: list[str]) -> dict[str, np.ndarray]:
    """Epoch index (0-based) of each value of each key.

    Full-length keys cover every epoch. A shorter training key covers the first
    epochs. A shorter validation key is placed relative to its training twin
    (``val_loss`` -> ``loss``): on epochs k, 2k, ... when its length is the
    twin's // k, as ``validation_freq=k`` logs it; otherwise evenly spaced,
    ending on the twin's last epoch.
    """
    positions: dict[str, np.ndarray] = {}
    how_placed: dict[str, str] = {}  # key -> how its values were placed, for the notes
    validation = [name for name in parsed if _twin(name) is not None]
    for name in parsed:
        if name not in validation:
            m = len(parsed[name][0])
            positions[name] = np.arange(m)
            if m < n:
                how_placed[name] = f"{m} values for {n} epochs, placed at epochs 1-{m}"
    for name in validation:
        twin = _twin(name)
        m = len(parsed[name][0])
        reference = positions.get(twin)
        if reference is None or len(reference) < m:
            twin, reference = None, np.arange(n)
        total = len(reference)
        if m == total:
            positions[name] = reference
            if twin in how_placed:
                how_placed[name] = how_placed[twin]
            continue
        freq = _validation_freq(total, m)
        if freq is not None:
            index = np.arange(1, m + 1) * freq - 1
            how = f"as validation_freq={freq} logs them"
        else:
            index = np.ceil(np.arange(1, m + 1) * total / m).astype(int) - 1
            how = "evenly spaced, ending at the last epoch"
        positions[name] = reference[index]
        shown = _epoch_list(positions[name] + 1)
        how_placed[name] = f"{m} values for {total} epochs, placed at epochs {shown} ({how})"
    grouped: dict[str, list[str]] = {}
    for name, how in how_placed.items():
        grouped.setdefault(how, []).append(name)
    notes.extend(f"{', '.join(map(repr, names))}: {how}" for how, names in grouped.items())
    return positions


def _validation_freq(epochs: int, values: int) -> int | None:
    """The ``validation_freq`` k >= 2 that logs ``values`` of ``epochs``, if one does.

    Several k may fit (7 epochs, 1 value: k = 4..7). A run that ends on a
    validation epoch (it ran a multiple of k epochs, or EarlyStopping on a
    ``val_`` metric stopped it, which it can only do on such an epoch) has
    k = epochs / values; otherwise a round k (2, 5, 10, ...) is likelier than
    an odd one, and the smallest is the last resort.
    """
    fits = range(epochs // (values + 1) + 1, epochs // values + 1)
    fits = [k for k in fits if k >= 2]
    if not fits:
        return None
    if epochs % values == 0:
        return epochs // values
    rounds = [k for k in fits if k in _ROUND_FREQUENCIES]
    return (rounds or fits)[0]


_ROUND_FREQUENCIES = frozenset({2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000})


def _twin(name: str) -> str | None:
    """The training key a validation key belongs to; None for a training key."""
    if name.startswith(VAL_PREFIX):
        return name[len(VAL_PREFIX):]
    if "_val_" in name:  # multi-head "<head>_val_<metric>"
        return name.replace("_val_", "_", 1)
    return None


def _resolve_pandas_nan(parsed: dict[str, tuple[np.ndarray, np.ndarray]],
                        notes: list[str]) -> None:
    """Decide, column by column, which NaN cells of a pandas table were logged.

    See :func:`from_dataframe` for the rule.
    """
    unlogged = []
    for name, (values, logged) in parsed.items():
        gap = ~logged | np.isnan(values)
        present = np.flatnonzero(~gap)
        if len(present) == 0:
            nan_logged = _twin(name) is None
        else:
            nan_logged = not gap[:present[-1]].any()
        if nan_logged:
            continue  # NaN cells stay logged NaN (only trailing ones can remain here)
        newly = logged & np.isnan(values)
        if newly.any():
            logged[newly] = False
            unlogged.append(name)
    if unlogged:
        notes.append(f"NaN read as 'not logged' in {', '.join(map(repr, unlogged))} "
                     "(pandas writes NaN for missing values)")


def _epochs(epochs: Any, n: int, source: str) -> np.ndarray:
    """1-based epochs from a 0-based Keras epoch list (``History.epoch``); 1..n without one."""
    if epochs is None:
        return np.arange(1, n + 1, dtype=float)
    try:
        values = np.array([math.nan if e is None else _float(e) for e in epochs], dtype=float)
    except (TypeError, ValueError):
        raise LogError(source, "expected a list of epoch numbers", f"key {EPOCH!r}") from None
    if len(values) != n:
        raise LogError(source, f"{len(values)} epoch numbers for {n} epochs of values",
                       f"key {EPOCH!r}")
    bad = np.flatnonzero(~np.isfinite(values) | np.r_[False, np.diff(values) <= 0])
    if len(bad):
        raise LogError(source, "epoch numbers must be finite and increasing",
                       f"key {EPOCH!r}, item {int(bad[0])}")
    return values + 1


def _epoch_list(epochs: np.ndarray) -> str:
    shown = [str(int(e)) for e in epochs]
    return ", ".join(shown) if len(shown) <= 6 else f"{', '.join(shown[:3])}, ..., {shown[-1]}"


def _describe(obj: Any) -> str:
    """What to call an in-memory source in reports and errors."""
    if _is_dataframe(obj):
        return "DataFrame"
    if isinstance(getattr(obj, "history", None), Mapping):
        return "History"
    if isinstance(obj, Mapping):
        return "history dict"
    return "epoch logs" if _is_records(obj) else type(obj).__name__


def _is_records(obj: Any) -> bool:
    """A non-empty list of per-epoch logs dicts."""
    return isinstance(obj, (list, tuple)) and bool(obj) and all(isinstance(r, Mapping) for r in obj)


def _is_dataframe(obj: Any) -> bool:
    """A pandas DataFrame, recognized without importing pandas."""
    return (type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns")
            and hasattr(obj, "index"))


def _is_missing(value: Any) -> bool:
    """pandas' missing markers (``pd.NA``, ``NaT``) besides None; NaN is decided later."""
    return value is None or type(value).__name__ in ("NAType", "NaTType")
