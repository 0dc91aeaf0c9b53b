"""Keras ``CSVLogger`` files, as people really have them.

A CSVLogger file is a header of sorted log keys (``epoch`` first) and one row
per epoch, 0-based. Files in the wild add: ``;`` or tab separators, CRLF and
``\\r\\r\\n`` line ends, a BOM, ``NA`` (Keras: key not in this epoch's logs)
and empty cells (pandas) for values not logged, ``nan``/``inf`` for values
logged as such, ``lr`` instead of ``learning_rate``, several runs appended to
one file (``append=True``: the epoch counter starts again; or the header
repeated), runs resumed at epoch N, rows re-logged after a crash, pandas
``to_csv`` dumps of a History (an unnamed index column, no epoch column), and
a last line cut short by a crash. This module reads all of them into one
:class:`~diagnose.run.Run` and says in ``notes`` what it decided.

Segments: rows are split into runs where a header line repeats or where the
epoch goes back to (or below) the epoch the current run started at. An epoch
that goes back to a value *inside* the current run means training was
resumed from a checkpoint: the rows logged again replace the earlier ones.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from ..errors import LogError
from ..run import Run
from .common import (
    EPOCH,
    NOT_LOGGED,
    UNNAMED,
    choose_segment,
    make_run,
    number,
    MAX_BYTES,
    display_name,
    read_text,
    rename_learning_rate,
    restarted,
    went_back,
)

FORMAT = "keras_csv"

_SEPARATORS = (",", ";", "\t")
_BLANK = frozenset({"", "NA"})  # how CSVLogger and pandas write "not logged", checked first


def sniff(path: Path, head: str) -> bool:
    """True for a delimited table: a header of names, then rows of numbers."""
    lines = [line for line in head.splitlines() if line.strip()]
    if not lines or lines[0].lstrip().startswith(("{", "[")):
        return False
    separator = _separator(lines[0])
    names = [cell.strip().strip('"') for cell in lines[0].split(separator)]
    if any(_is_number(name) for name in names if name):
        return False
    if len(lines) > 1:
        return any(_is_number(cell) for cell in lines[1].split(separator))
    return any("loss" in name.lower() or name.lower() == EPOCH for name in names)


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a CSVLogger file (see :func:`parse`)."""
    return parse(read_text(path, data, max_bytes), display_name(path), segment=segment)


def parse(text: str, source: str, *, segment: int | None = None) -> Run:
    """Read CSVLogger text into a Run.

    Args:
        text: the file's content, decoded.
        source: the name used in the Run and in error messages.
        segment: which of several appended runs to return (0-based, negative
            counts from the end); the last one by default.

    Raises:
        LogError: the text is not a readable log; the message names the line
            and column at fault.
    """
    fast = _plain_table(text)
    if fast is not None:
        reader, blocks = _Reader(source, text, [""], ","), [_header_block(source, fast)]
    else:
        lines = _lines(text)
        reader = _Reader(source, text, lines, _separator(_first_nonblank(lines, source)))
        blocks = reader.read()
    segments = [seg for block in blocks for seg in _split(block, source)]
    if not segments:
        raise LogError(source, "no data rows under the header", f"line {blocks[0].line}")
    chosen = segments[choose_segment(segment, len(segments), source)]
    notes = list(reader.notes)
    warnings = []
    if len(segments) > 1:
        spans = ", ".join(_range(s.block.lines[s.rows[0]], s.block.lines[s.rows[-1]])
                          for s in segments)
        which = "the last" if segment is None else f"segment={segment}"
        notes.append(f"file holds {len(segments)} runs appended (rows {spans}); "
                     f"diagnosing {which}; choose with segment=N (0-based, negative from the end)")
        warnings.append(restarted(len(segments), f"lines {spans}",
                                  f"the last (lines {spans.rsplit(', ', 1)[-1]})"
                                  if segment is None else f"segment={segment}"))
    notes.extend(chosen.notes)
    warnings.extend(chosen.warnings)
    return _to_run(chosen, source, notes, warnings)


# Files longer than this many characters are first tried as a plain table
# parsed by numpy: a million-epoch log in a fraction of a second, with no
# Python object per cell. Shorter files take the path that explains errors.
_PLAIN_TABLE_MIN_CHARS = 1 << 20


def _plain_table(text: str) -> tuple[list[str], np.ndarray] | None:
    """(header cells, table) of a large file that is nothing but a header and rows of numbers.

    None when the file is small or has anything else (quotes, blank lines,
    ``NA`` cells, repeated headers, a cut last line, ``_`` in a number, a
    bare carriage return): the general reader handles those, line by line,
    and says where a problem is.
    """
    if len(text) < _PLAIN_TABLE_MIN_CHARS or '"' in text:
        return None
    header, _, body = text.rstrip("\x00").partition("\n")
    header = header.rstrip("\r")
    if "\r" in body:
        if "\r" in body.replace("\r\n", ""):
            return None
        body = body.replace("\r\n", "\n")
    if not header.strip() or "\n\n" in body or "_" in body or "\ufeff" in text:
        return None
    separator = _separator(header)
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=separator, comments=None, ndmin=2,
                           dtype=float, encoding=None)
    except ValueError:
        return None
    cells = header.split(separator)
    if table.shape[1] != len(cells) or table.shape[0] != body.rstrip("\n").count("\n") + 1:
        return None
    return cells, table


def _header_block(source: str, plain: tuple[list[str], np.ndarray]) -> _Block:
    cells, table = plain
    block = _Reader(source, "", [""], ",")._header(1, cells)
    block.lines = np.arange(2, len(table) + 2)
    block.table = table
    return block


@dataclass
class _Block:
    """One header line and the rows under it, parsed into a table."""

    line: int
    names: list[str]
    epoch_column: int | None
    ignored: set[int]  # pandas index columns, list-valued (per-class) metrics
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    table: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    logged: np.ndarray | None = None  # same shape as table; None: every cell logged

    def fill(self, lines: list[int], values: list[float], logged: list[bool] | None) -> None:
        self.lines = np.array(lines, dtype=int)
        self.table = np.array(values, dtype=float).reshape(len(lines), len(self.names))
        if logged is not None:
            self.logged = np.array(logged, dtype=bool).reshape(self.table.shape)


@dataclass
class _Segment:
    block: _Block
    rows: np.ndarray  # indices into the block's table
    notes: list[str] = field(default_factory=list)
    warnings: list = field(default_factory=list)  # RunWarning: epochs logged again


class _Reader:
    """Parses the lines into header blocks of numbers, with the line number of every row."""

    def __init__(self, source: str, text: str, lines: list[str], separator: str):
        self.source = source
        self.text = text
        self.lines = lines
        self.separator = separator
        self.notes: list[str] = []
        self.truncated = lines[-1] != ""  # no line end after the last line
        self.decimal_comma = False

    def read(self) -> list[_Block]:
        numbers, rows = self._rows()
        block = self._header(numbers[0], rows[0])
        width = len(block.names)
        # The common case in one pass: every row complete and every cell a number
        # (float() would read "1_0.5" as 10.5: a cell with "_" takes the slow path).
        if set(map(len, rows[1:])) <= {width} and "_" not in "".join(chain.from_iterable(rows[1:])):
            try:
                values = list(map(float, chain.from_iterable(rows[1:])))
            except ValueError:
                pass
            else:
                block.fill(numbers[1:], values, None)
                return [block]
        blocks = self._read_rows(block, zip(numbers[1:], rows[1:]), numbers[-1])
        if self.decimal_comma:
            self.notes.append("read decimal commas as decimal points")
        for block in blocks:
            listed = [repr(block.names[j]) for j in sorted(block.ignored)
                      if not UNNAMED.fullmatch(block.names[j])]
            if listed:
                self.notes.append(f"ignored {', '.join(listed)}: a list of values per epoch "
                                  "(a per-class metric), not a curve")
        return blocks

    def _rows(self) -> tuple[list[int], list[list[str]]]:
        """The line numbers and the cells of the non-blank lines."""
        if '"' not in self.text:  # nothing quoted: a plain split is the same, and faster
            numbered = [(i, line) for i, line in enumerate(self.lines, 1) if line.strip()]
            return ([i for i, _ in numbered],
                    [line.split(self.separator) for _, line in numbered])
        reader = csv.reader(self.lines, delimiter=self.separator)
        numbers, rows = [], []
        try:
            for cells in reader:
                if len(cells) > 1 or (cells and cells[0].strip()):
                    numbers.append(reader.line_num)
                    rows.append(cells)
        except csv.Error as exc:
            raise LogError(self.source, f"unreadable CSV ({exc})",
                           f"line {reader.line_num + 1}") from None
        return numbers, rows

    def _read_rows(self, block: _Block, rows, last_line: int) -> list[_Block]:
        """Row by row: repeated headers, missing cells, cut lines, and errors by line."""
        blocks = [block]
        lines: list[int] = []
        values: list[float] = []
        logged: list[bool] = []
        for line, cells in rows:
            parsed = self._row(cells, line, block, line == last_line)
            if parsed is _HEADER:
                block.fill(lines, values, logged)
                block = self._header(line, cells)
                blocks.append(block)
                lines, values, logged = [], [], []
            elif parsed is not _DROPPED:
                lines.append(line)
                values.extend(parsed[0])
                logged.extend(parsed[1])
        block.fill(lines, values, logged)
        return blocks

    def _header(self, line: int, cells: list[str]) -> _Block:
        names = [cell.strip() for cell in cells]
        if all(_is_number(name) for name in names):
            raise LogError(self.source, "no header row: the first row holds numbers",
                           f"line {line}")
        ignored = {j for j, name in enumerate(names) if UNNAMED.fullmatch(name)}
        lowered = [name.lower() for name in names]
        epoch_column = lowered.index(EPOCH) if EPOCH in lowered else None
        seen: dict[str, int] = {}
        for j, name in enumerate(names):
            if j in ignored:
                continue
            if name in seen:
                raise LogError(self.source, f"column {name!r} appears twice "
                               f"(columns {seen[name] + 1} and {j + 1})", f"line {line}")
            seen[name] = j
        return _Block(line, names, epoch_column, ignored)

    def _row(self, cells: list[str], line: int, block: _Block, last: bool):
        """(values, logged) of one row.

        _HEADER when the line is a repeated header; _DROPPED for a line to skip
        (cut short at the end of the file, or all cells empty).
        """
        width = len(block.names)
        if len(cells) != width:
            if self._is_header(cells, block):
                return _HEADER
            if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                cells = cells[:width]  # a trailing separator
            elif len(cells) < width and last:
                self.notes.append(f"dropped line {line}, cut short ({len(cells)} of {width} cells)")
                return _DROPPED
            else:
                raise LogError(self.source, f"{len(cells)} cells, but the header "
                               f"(line {block.line}) has {width}", f"line {line}")
        logged = [cell not in _BLANK for cell in cells]
        if not any(logged):
            return _DROPPED  # a row of empty cells, as spreadsheets leave below the data
        try:
            if any("_" in cell for cell in cells):
                raise ValueError("an underscore: not a number to a logger")
            values = [float(cell) if ok else math.nan for cell, ok in zip(cells, logged)]
        except ValueError:
            pass
        else:
            if block.epoch_column is not None and not logged[block.epoch_column]:
                raise LogError(self.source, "no epoch number",
                               f"line {line}, column {block.names[block.epoch_column]!r}")
            return values, logged
        if self._is_header(cells, block):
            return _HEADER
        values, logged = [], []
        for j, cell in enumerate(cells):
            try:
                value = self._cell(cell, j, block)
            except ValueError:
                if last and self.truncated:
                    self.notes.append(f"dropped line {line}, cut short (no line end, "
                                      f"{cell.strip()[:20]!r} in column {block.names[j]!r})")
                    return _DROPPED
                raise LogError(self.source, f"{cell.strip()[:40]!r} is not a number",
                               f"line {line}, column {block.names[j]!r}") from None
            if value is None and j == block.epoch_column:
                raise LogError(self.source, "no epoch number",
                               f"line {line}, column {block.names[j]!r}")
            values.append(math.nan if value is None else value)
            logged.append(value is not None)
        return values, logged

    def _cell(self, cell: str, column: int, block: _Block) -> float | None:
        """The slow path for one cell that ``float`` refused."""
        if column in block.ignored:
            return None
        try:
            return number(cell)
        except ValueError:
            stripped = cell.strip().strip('"')
            if stripped.startswith("[") and stripped.endswith("]"):
                block.ignored.add(column)
                return None
            if self.separator != "," and stripped.count(",") == 1:
                value = float(stripped.replace(",", "."))
                self.decimal_comma = True
                return value
            raise

    def _is_header(self, cells: list[str], block: _Block) -> bool:
        """A line of names (no numbers) sharing a name with the block's header.

        Empty names are allowed: pandas' index column has none.
        """
        names = [name for name in (cell.strip() for cell in cells) if name]
        return (bool(names) and not set(names).isdisjoint(block.names)
                and not any(_is_number(name) or name.upper() in NOT_LOGGED for name in names))


_HEADER, _DROPPED = object(), object()


def _split(block: _Block, source: str) -> list[_Segment]:
    """The block's rows as runs: a new run where the epoch falls back to its start."""
    n = len(block.lines)
    if n == 0:
        return []
    column = block.epoch_column
    if column is None:
        return [_Segment(block, np.arange(n))]
    epochs = block.table[:, column]
    bad = np.flatnonzero(~np.isfinite(epochs))
    if len(bad):
        raise LogError(source, "the epoch number is not finite",
                       f"line {block.lines[bad[0]]}, column {block.names[column]!r}")
    if not (np.diff(epochs) <= 0).any():
        return [_Segment(block, np.arange(n))]
    segments: list[_Segment] = []
    current = _Segment(block, [])
    for i, epoch in enumerate(epochs):
        rows = current.rows
        if rows and epoch <= epochs[rows[-1]]:
            if epoch <= epochs[rows[0]]:
                segments.append(current)
                current = _Segment(block, [])
            else:
                kept = [r for r in rows if epochs[r] < epoch]
                again = rows[len(kept):]
                current.warnings.append(went_back(  # 1-based, as the Run counts
                    "epoch", float(epochs[rows[-1]]) + 1, float(epoch) + 1,
                    float(epochs[again[-1]]) + 1,
                    f"line {block.lines[i]}, after line {block.lines[rows[-1]]}"))
                current.notes.append(
                    f"{_span('epoch', int(epoch) + 1, int(epochs[again[-1]]) + 1)} logged again "
                    f"from line {block.lines[i]} on (training resumed); kept the later rows, "
                    f"dropped {_span('line', block.lines[again[0]], block.lines[again[-1]])}")
                current.rows = kept
        current.rows.append(i)
    segments.append(current)
    for segment in segments:
        segment.rows = np.array(segment.rows, dtype=int)
    return segments


def _to_run(segment: _Segment, source: str, notes: list[str], warnings: list) -> Run:
    block = segment.block
    columns = [j for j in range(len(block.names))
               if j != block.epoch_column and j not in block.ignored]
    if not columns:
        raise LogError(source, "no metric columns, only an epoch counter", f"line {block.line}")
    names = rename_learning_rate([block.names[j] for j in columns], notes)
    # Sorted as CSVLogger sorts them, so that the column order in the file never matters.
    kept = sorted((name, j) for name, j in zip(names, columns) if name is not None)
    columns = [j for _, j in kept]
    rows = segment.rows
    values = block.table[np.ix_(rows, columns)].T
    logged = None if block.logged is None else block.logged[np.ix_(rows, columns)].T
    if logged is not None and not logged.any():
        raise LogError(source, "no values logged: every cell is empty or NA")
    epochs = (block.table[rows, block.epoch_column] + 1 if block.epoch_column is not None
              else np.arange(1, len(rows) + 1, dtype=float))
    return make_run(source, [name for name, _ in kept], values, logged, epochs,
                    format=FORMAT, notes=notes, warnings=warnings)


def _lines(text: str) -> list[str]:
    """Physical lines (numbered as editors and ``grep -n`` number them), line ends removed.

    ``\\r\\n`` and the ``\\r\\r\\n`` some Windows tools write both end a line;
    a file with ``\\r`` alone (classic Mac) is split on it. Trailing NUL bytes,
    left by a crash mid-write, and byte-order marks inside the text are dropped.
    """
    text = text.rstrip("\x00").replace("\ufeff", "")  # BOMs of files concatenated with cat
    if "\n" in text:
        return text.replace("\r", "").split("\n")
    return text.split("\r")


def _first_nonblank(lines: list[str], source: str) -> str:
    for line in lines:
        if line.strip():
            return line
    raise LogError(source, "empty file")


def _separator(header: str) -> str:
    """The separator of a header line: the most frequent of ``,`` ``;`` tab."""
    counts = [header.count(sep) for sep in _SEPARATORS]
    return _SEPARATORS[counts.index(max(counts))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def _span(word: str, first: int, last: int) -> str:
    """``line 5`` or ``lines 5-7``."""
    return f"{word} {first}" if first == last else f"{word}s {first}-{last}"
