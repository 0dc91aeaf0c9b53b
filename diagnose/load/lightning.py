"""PyTorch Lightning ``CSVLogger`` files (``metrics.csv``).

Lightning writes one row per logging call: training values every few steps,
validation values once per epoch, on rows of their own with the other cells
empty; ``self.log(..., on_step=True, on_epoch=True)`` makes ``*_step`` and
``*_epoch`` twins; ``LearningRateMonitor`` adds ``lr-Adam``-style columns,
sometimes on rows without an epoch; ``trainer.test()`` appends a final row
of ``test_*`` values. This module folds all that into one value per epoch
under Keras names (``train_loss`` -> ``loss``, ``valid_acc`` -> ``val_acc``,
``lr-Adam`` -> ``learning_rate``) and says in the run's notes what it did.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import LogError
from ..run import LEARNING_RATE, VAL_PREFIX, Run
from .common import (
    MAX_BYTES,
    choose_segment,
    display_name,
    number,
    read_text,
    restarted,
    sparse_run,
)

FORMAT = "lightning_csv"

_LR = re.compile(r"^lr-")
_VAL = re.compile(r"^(val|valid|validation)[_/]")
_TRAIN = re.compile(r"^(train|training)[_/]")


def sniff(path: Path, head: str) -> bool:
    """A CSV header with a ``step`` column (Keras' CSVLogger never writes one)."""
    first = head.splitlines()[0] if head.strip() else ""
    names = {cell.strip() for cell in first.split(",")}
    return "step" in names and ("epoch" in names or any(n.startswith(("train", "val", "lr-"))
                                                        for n in names))


def keras_name(name: str) -> str:
    """Lightning's column name in Keras' spelling (validation prefix ``val_``, no ``train_``)."""
    if _LR.match(name):
        return LEARNING_RATE
    if _VAL.match(name):
        return VAL_PREFIX + _VAL.sub("", name).replace("/", "_")
    return _TRAIN.sub("", name).replace("/", "_")


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a ``metrics.csv`` into an epoch-level run.

    ``segment`` chooses among runs appended to one file (the epoch counter
    going back), the last by default.
    """
    source = display_name(path)
    reader = csv.reader(io.StringIO(read_text(path, data, max_bytes), newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # a bare carriage return or NUL inside a cell
        raise LogError(source, f"unreadable CSV ({exc})", f"line {reader.line_num}") from None
    if not rows:
        raise LogError(source, "empty file")
    header = [cell.strip() for cell in rows[0]]
    if "epoch" not in header:
        raise LogError(source, "no 'epoch' column: not a Lightning metrics.csv", "line 1")
    notes: list[str] = []
    epoch_col = header.index("epoch")
    keep = [i for i, name in enumerate(header) if name not in ("epoch", "step")]
    dropped_test = [header[i] for i in keep if header[i].startswith("test")]
    if dropped_test:
        notes.append(f"test-set columns ignored: {', '.join(dropped_test)}")
    keep = [i for i in keep if not header[i].startswith("test")]

    # Parse, giving rows without an epoch (a LearningRateMonitor row) the
    # epoch of the next row that has one.
    parsed: list[tuple[int | None, dict[str, float]]] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        values = {}
        for i in keep:
            cell = row[i].strip() if i < len(row) else ""
            try:
                value = number(cell)
            except ValueError:
                raise LogError(source, f"{cell!r} is not a number",
                               f"line {line_no}, column {header[i]!r}") from None
            if value is not None:
                values[header[i]] = value
        epoch_cell = row[epoch_col].strip() if epoch_col < len(row) else ""
        try:
            epoch = None if epoch_cell == "" else int(number(epoch_cell))
        except (ValueError, TypeError, OverflowError):  # text, NA, NaN, inf
            raise LogError(source, f"{epoch_cell!r} is not an epoch number",
                           f"line {line_no}, column 'epoch'") from None
        if values:
            parsed.append((epoch, values))
    known = [e for e, _ in parsed if e is not None]
    if not known:
        raise LogError(source, "no row has an epoch number")
    filled, following = [], known[-1]
    for epoch, values in reversed(parsed):
        following = epoch if epoch is not None else following
        filled.append((following, values))
    filled.reverse()

    segments = _segments(filled)
    warnings = []
    if len(segments) > 1:
        chosen = choose_segment(segment, len(segments), source)
        notes.append(f"file holds {len(segments)} runs appended; diagnosing "
                     f"{'the last' if segment is None else f'segment {chosen}'}")
        spans = ", ".join(f"epochs {seg[0][0] + 1}-{seg[-1][0] + 1}" for seg in segments[:6])
        more = ", ..." if len(segments) > 6 else ""
        warnings.append(restarted(len(segments), spans + more,
                                  "the last" if segment is None else f"segment={segment}"))
        filled = segments[chosen]
    return _epoch_table(source, filled, notes, warnings)


def _segments(rows: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """Split where the epoch counter goes back (a new run appended to the file)."""
    out, start = [], 0
    for i in range(1, len(rows)):
        if rows[i][0] < rows[i - 1][0]:
            out.append(rows[start:i])
            start = i
    out.append(rows[start:])
    return out


def _epoch_table(source: str, rows: list[tuple[int, dict]], notes: list[str],
                 warnings: list = ()) -> Run:
    """One value per epoch and Keras name: ``*_epoch`` values first, else the mean of step values."""
    per_epoch: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for epoch, values in rows:
        for name, value in values.items():
            per_epoch[name][epoch].append(value)
    names = set(per_epoch)
    columns: dict[str, dict[int, float]] = {}
    averaged, renamed = [], False
    for name in sorted(names):
        base = name.removesuffix("_epoch").removesuffix("_step")
        if name.endswith("_step") and base + "_epoch" in names:
            continue  # the epoch-level twin says the same, averaged by Lightning itself
        target = keras_name(base)
        renamed = renamed or (target != base and target != LEARNING_RATE)
        if target in columns:
            continue  # e.g. two lr-* columns (parameter groups): keep the first
        by_epoch = per_epoch[name]
        if name.endswith("_step") or any(len(v) > 1 for v in by_epoch.values()):
            if target != LEARNING_RATE:
                averaged.append(name)
            columns[target] = {e: float(np.mean(v)) for e, v in by_epoch.items()}
        else:
            columns[target] = {e: v[-1] for e, v in by_epoch.items()}
    if averaged:
        notes.append(f"step-logged {', '.join(averaged)} averaged per epoch")
    if renamed:
        notes.append("Lightning names read in Keras' spelling (train_loss -> loss, valid_ -> val_)")
    return sparse_run(source, columns, offset=1.0, format=FORMAT, notes=notes,
                      warnings=warnings)
