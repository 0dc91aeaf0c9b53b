"""Weights & Biases CSV exports, in the two layouts W&B writes.

A **run's history** (the run's table exported, or ``run.history()`` saved
with pandas): one row per ``wandb.log()`` call, ``_step`` counting them,
``_runtime`` and ``_timestamp`` beside the logged keys, an empty cell where
a call did not log a key::

    _runtime,_step,_timestamp,epoch,lr,train/acc,train/loss,val/acc,val/loss
    1.5,0,1767225600.0,,,0.28,2.25,,

A **chart's "Download CSV"**: the chart's x axis first (``Step``, ``epoch``,
``Relative Time (Process)``), then ``<run name> - <key>`` for every run and
key the chart plots, each followed by ``__MIN`` and ``__MAX`` columns (the
range when runs are grouped, ``Group: <name> - <key>``; equal to the value
for a single run)::

    "epoch","swift-river-12 - train/loss","swift-river-12 - train/loss__MIN",...

Each run of a chart export is a segment: the last column's run is
diagnosed unless ``segment=`` picks another (0-based, in column order), and
a note names them. ``__MIN``/``__MAX`` columns are not curves and are
dropped. Rows are then read as :mod:`~diagnose.load.jsonl` reads its rows:
the same x axis rules, the same Keras names (``train/loss`` -> ``loss``,
``val/loss`` -> ``val_loss``, ``epoch/val_loss`` -> ``val_loss``), the same
notes for values that are not numbers.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..errors import LogError
from ..run import Run
from .common import MAX_BYTES, UNNAMED, choose_segment, display_name, read_text
from .jsonl import build_run

FORMAT = "wandb_csv"

_INTERNAL = ("_step", "_runtime", "_timestamp")
_RANGE = re.compile(r"__(MIN|MAX)$")
# Split at the *last* " - ": a run name may hold one ("exp - lr 0.1"), a metric key does not.
_RUN_COLUMN = re.compile(r"^(?P<run>.+) - (?P<key>[^ ].*)$")


def sniff(path: Path, head: str) -> bool:
    """A CSV header with W&B's ``_step``/``_runtime``/``_timestamp`` columns, or a chart
    export's ``<run> - <key>`` columns (with ``__MIN``/``__MAX``, or after ``Step``)."""
    header = _header(head)
    if header is None:
        return False
    if any(name in _INTERNAL for name in header):
        return True
    per_run = [name for name in header[1:] if _RUN_COLUMN.match(name)]
    if not per_run:
        return False
    return header[0] == "Step" or any(_RANGE.search(name) for name in per_run)


def _header(head: str) -> list[str] | None:
    first = next((line for line in head.lstrip("\ufeff").splitlines() if line.strip()), "")
    if not first or first.lstrip().startswith(("{", "[")) or "," not in first:
        return None
    try:
        return [cell.strip() for cell in next(csv.reader([first]))]
    except (csv.Error, StopIteration):
        return None


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a W&B CSV export (either layout)."""
    source = display_name(path)
    text = read_text(path, data, max_bytes)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise LogError(source, f"unreadable CSV ({exc})", f"line {reader.line_num}") from None
    if not rows:
        raise LogError(source, "empty file")
    header = [cell.strip() for cell in rows[0][1]]
    body = rows[1:]
    if not body:
        raise LogError(source, "no data rows under the header", "line 1")
    if any(name in _INTERNAL for name in header):
        return _history(header, body, source, segment)
    return _chart(header, body, source, segment)


def _history(header: list[str], body, source: str, segment: int | None) -> Run:
    """A run's history table: each row is one wandb.log() call."""
    notes: list[str] = []
    keep = [j for j, name in enumerate(header) if not UNNAMED.fullmatch(name)]
    records, malformed = [], []
    for line, row in body:
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            malformed.append((line, f"{len(row)} cells, but the header has {len(header)}"))
            continue
        records.append((line, {header[j]: row[j] for j in keep
                               if j < len(row) and row[j].strip() != ""}))
    return build_run(records, source, format=FORMAT, notes=notes, segment=segment,
                     malformed=malformed)


def _chart(header: list[str], body, source: str, segment: int | None) -> Run:
    """A chart export: x axis first, then ``<run> - <key>`` (+ ``__MIN``/``__MAX``) columns."""
    x_key = header[0]
    runs: dict[str, dict[int, str]] = {}  # run -> column index -> key
    ranges = 0
    for j, name in enumerate(header[1:], 1):
        match = _RUN_COLUMN.match(name)
        if match is None:
            continue
        if _RANGE.search(name):
            ranges += 1
            continue
        runs.setdefault(match.group("run"), {})[j] = match.group("key")
    if not runs:
        raise LogError(source, "no '<run> - <key>' column: not a W&B chart export", "line 1")
    names = list(runs)
    chosen = names[choose_segment(segment, len(names), source)]
    notes: list[str] = []
    if len(names) > 1:
        shown = ", ".join(f"{i}: {n!r}" for i, n in enumerate(names[:6]))
        more = ", ..." if len(names) > 6 else ""
        which = "the last" if segment is None else f"segment={segment}"
        notes.append(f"chart export holds {len(names)} runs ({shown}{more}); diagnosing {which} "
                     f"({chosen!r}); choose with segment=N (0-based)")
    else:
        notes.append(f"run {chosen!r} of a W&B chart export")
    if ranges:
        notes.append("__MIN/__MAX columns ignored (the range of grouped runs, not a curve)")
    columns = {j: key for j, key in runs[chosen].items() if key not in _INTERNAL}
    if not columns:
        raise LogError(source, f"run {chosen!r} has no metric column besides _step")
    records = []
    for line, row in body:
        record = {x_key: row[0].strip()} if row and row[0].strip() else {}
        record.update({key: row[j] for j, key in columns.items()
                       if j < len(row) and row[j].strip() != ""})
        if len(record) > 1:
            records.append((line, record))
    if not records:
        raise LogError(source, f"run {chosen!r} has no values")
    return build_run(records, source, format=FORMAT, notes=notes, x_key=x_key)
