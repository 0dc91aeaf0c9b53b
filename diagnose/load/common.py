"""What every file format shares: reading text safely, reading one cell, building the Run.

Format modules call :func:`read_text` instead of ``open`` so that a missing
file, a directory, a FIFO or device, a file past the size limit, a
permission problem or undecodable bytes become a
:class:`~diagnose.errors.LogError` at the boundary, and every input is read
once; :func:`number` reads one
logged value with the same tokens in every format; :func:`make_run` turns
dense columns into a :class:`~diagnose.run.Run` with the exact semantics of
:meth:`Run.from_columns` (inf kept as NaN plus a sign mask), without a Python
loop per value.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import LogError
from ..report import RunWarning
from ..run import LEARNING_RATE, Run

# Cells that mean "this key was not in the epoch's logs". Keras' CSVLogger
# writes "NA"; pandas writes an empty cell; hand-made dumps use the others.
# Logged NaN and infinities ("nan", "NaN", "inf", "-Infinity") are numbers to
# ``float`` and never reach this set.
NOT_LOGGED = frozenset({"", "NA", "N/A", "NONE", "NULL"})

# The most bytes read from one input unless the caller says otherwise (--max-bytes):
# far above any real training log, far below what would exhaust memory.
MAX_BYTES = 256 * 2**20
# The path that means standard input.
STDIN = "-"

# The column or key holding CSVLogger's 0-based epoch counter.
EPOCH = "epoch"
# pandas writes its index column with an empty name, and names it "Unnamed: 0"
# when such a file is read back (and maybe written again): not a metric.
UNNAMED = re.compile(r"(Unnamed: \d+)?")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes, source: str, errors: str = "strict") -> str:
    """Bytes as text: UTF-8, or UTF-16 when a byte-order mark says so; BOM removed.

    Windows tools (PowerShell's ``>``, Excel's "Unicode text") write UTF-16
    with a BOM; everything else in the wild is UTF-8 or ASCII.
    """
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom):], name
            break
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as exc:
        problem = f"not {encoding.upper()} text (undecodable byte at offset {exc.start})"
        raise LogError(source, problem) from None


def read_input(path: Path, max_bytes: int = MAX_BYTES, *, limit: int | None = None) -> bytes:
    """The bytes of one input, read once, or a LogError saying why not.

    ``-`` is standard input. Anything that is not a regular file (a FIFO, a
    device such as ``/dev/zero``, a socket) is refused by ``stat`` before it is
    opened, because opening a FIFO blocks until a writer comes and a device
    never ends; only an explicit ``/dev/stdin`` or ``/dev/fd/N`` (what a
    shell's ``<(...)`` gives) is read as a stream. ``max_bytes`` bounds what
    is read, so that memory is bounded whatever the input; ``limit`` reads
    only the first bytes (for sniffing) and skips the size check.
    """
    source = display_name(path)
    if str(path) == STDIN:
        return _read_stream(sys.stdin.buffer, source, max_bytes, limit)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise LogError(source, "no such file") from None
    except PermissionError:
        raise LogError(source, "permission denied") from None
    except OSError as exc:  # ELOOP (a symlink loop), ENAMETOOLONG, ENOTDIR
        raise LogError(source, f"cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise LogError(repr(source), f"not a valid path ({exc})") from None
    stream = _is_explicit_stream(path)
    if stat.S_ISDIR(info.st_mode):
        raise LogError(source, "is a directory, not a log file")
    if not stat.S_ISREG(info.st_mode) and not stream:
        raise LogError(source, f"is {_file_kind(info.st_mode)}, not a regular file: refused, "
                       "as it may never end (pipe it into 'diagnose -' to read it)")
    if limit is None and not stream and info.st_size > max_bytes:
        raise LogError(source, _too_large(info.st_size, max_bytes))
    try:
        with open(path, "rb") as fh:
            # A regular file says its size: asking for max_bytes would make
            # Python allocate all of them (256 MB by default) for every file.
            expect = None if stream else info.st_size
            return _read_stream(fh, source, max_bytes, limit, expect)
    except PermissionError:
        raise LogError(source, "permission denied") from None
    except OSError as exc:
        raise LogError(source, f"cannot be read ({exc.strerror or exc})") from None


def _read_stream(fh: BinaryIO, source: str, max_bytes: int, limit: int | None,
                 expect: int | None = None) -> bytes:
    if limit is not None:
        return fh.read(limit)
    if expect is not None and expect < max_bytes:
        data = fh.read(expect + 1)
        if len(data) > expect:  # it grew while we read: read on, to the limit
            data += fh.read(max_bytes + 1 - len(data))
    else:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise LogError(source, _too_large(None, max_bytes))
    return data


def _too_large(size: int | None, max_bytes: int) -> str:
    what = f"{size:,} bytes" if size is not None else "more bytes"
    return (f"{what}, more than the limit of {max_bytes:,} bytes "
            "(raise it with --max-bytes, or max_bytes= in Python)")


def _is_explicit_stream(path: Path) -> bool:
    """``/dev/stdin`` and ``/dev/fd/N``: streams a user named on purpose, already open."""
    name = str(path)
    return name == "/dev/stdin" or name.startswith(("/dev/fd/", "/proc/self/fd/"))


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def display_name(path: Path | str) -> str:
    """How an input is named in reports and errors (``-`` is ``<stdin>``)."""
    return "<stdin>" if str(path) == STDIN else str(path)


def read_text(path: Path, data: bytes | None = None, max_bytes: int = MAX_BYTES) -> str:
    """The input as text (see :func:`decode`); ``data`` when the caller has read it already."""
    if data is None:
        data = read_input(path, max_bytes)
    return decode(data, display_name(path))


def parse_json(text: str, source: str):
    """``json.loads`` that raises only ``json.JSONDecodeError`` or LogError.

    Integers too long for a float (a float overflows past 309 digits, and
    Python refuses to parse more than 4,300) are read as the infinity a float
    makes of them, as JSON's own ``1e400`` is; nesting past Python's
    recursion limit is refused.
    """
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise LogError(source, "invalid JSON (nested too deeply)") from None


def _json_int(digits: str) -> int | float:
    return float(digits) if len(digits) > 300 else int(digits)


def number(text: str) -> float | None:
    """One logged value written as text: a float, or None when not logged.

    Raises ValueError when the text is neither a number nor a not-logged token.
    Python's ``float`` reads ``1_0.5`` as 10.5; no logger writes digit
    separators, so an underscore is not a number here.
    """
    try:
        if "_" in text:
            raise ValueError(f"not a number: {text!r}")
        return float(text)
    except ValueError:
        if text.strip().upper() in NOT_LOGGED:
            return None
        raise


def rename_learning_rate(names: list[str], notes: list[str]) -> list[str]:
    """Keras 2's ``lr`` is Keras 3's ``learning_rate``: always expose the latter.

    Returns the new names; a name that should be dropped (``lr`` when both are
    logged) becomes ``None``.
    """
    if "lr" not in names:
        return names
    if LEARNING_RATE in names:
        notes.append(f"both 'lr' and '{LEARNING_RATE}' were logged; kept '{LEARNING_RATE}'")
        return [None if n == "lr" else n for n in names]
    notes.append(f"'lr' read as '{LEARNING_RATE}'")
    return [LEARNING_RATE if n == "lr" else n for n in names]


def make_run(
    source: str,
    names: Sequence[str],
    values: np.ndarray,
    logged: np.ndarray | None,
    epochs: np.ndarray,
    *,
    format: str,
    notes: Sequence[str] = (),
    granularity: str = "epoch",
    warnings: Sequence[RunWarning] = (),
) -> Run:
    """A Run from a dense table: one row of ``values`` per name, NaN where not logged.

    ``logged`` is the matching bool table (None: every value logged).
    ``warnings`` are what the loader saw wrong with the log (:func:`went_back`,
    :func:`restarted`, :func:`malformed`), kept on the Run for the report.
    Infinities become NaN with their sign in ``Run.infinite``, exactly as
    :meth:`Run.from_columns` does. The table is copied, so callers may pass views.
    """
    table = np.array(values, dtype=float, order="C", ndmin=2)
    masks = (np.ones(table.shape, dtype=bool) if logged is None
             else np.array(logged, dtype=bool, order="C", ndmin=2))
    infinite = {}
    inf = np.isinf(table)
    if inf.any():
        for i in np.flatnonzero(inf.any(axis=1)):
            infinite[names[i]] = np.where(inf[i], np.sign(table[i]), 0).astype(np.int8)
        table[inf] = math.nan
    series = {name: table[i] for i, name in enumerate(names)}
    logged_by_name = {name: masks[i] for i, name in enumerate(names)}
    rate = series.get(LEARNING_RATE)
    if rate is not None and logged_by_name[LEARNING_RATE].any() and not np.isfinite(rate).any():
        # Said here because the fixes can only say "the log has no learning rate".
        notes = [*notes, f"the '{LEARNING_RATE}' column is there but holds no number (every "
                 "value NaN or inf): the rate counts as not logged"]
    return Run(source, np.asarray(epochs, dtype=float), series, logged_by_name, infinite,
               granularity, format, bounded_notes(notes), warnings=bounded_warnings(warnings))


# A log decides how many notes there are and how long the names in them are
# (5,000 columns, a column name of a megabyte): the report shows this many, this long.
MAX_NOTES, MAX_NOTE_CHARS = 12, 300


def bounded_notes(notes: Sequence[str]) -> tuple[str, ...]:
    """The notes, each cut to MAX_NOTE_CHARS, at most MAX_NOTES of them, and a count of the rest."""
    kept = [note if len(note) <= MAX_NOTE_CHARS else note[:MAX_NOTE_CHARS - 3] + "..."
            for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        kept.append(f"... and {len(notes) - MAX_NOTES} more notes")
    return tuple(kept)


def bounded_warnings(warnings: Sequence[RunWarning]) -> tuple[RunWarning, ...]:
    """The warnings, at most MAX_NOTES of them, each message cut to twice MAX_NOTE_CHARS.

    A log decides what they quote (line numbers, names), as it does for notes.
    """
    limit = 2 * MAX_NOTE_CHARS
    return tuple(w if len(w.message) <= limit else replace(w, message=w.message[:limit - 3] + "...")
                 for w in warnings[:MAX_NOTES])


def _span(word: str, first: float, last: float) -> str:
    """``epoch 5`` or ``epochs 5-7``, numbers as people write them."""
    a, b = f"{first:g}", f"{last:g}"
    return f"{word} {a}" if a == b else f"{word}s {a}-{b}"


def went_back(word: str, before: float, to: float, last: float, where: str) -> RunWarning:
    """An epoch or step that went back inside a run: ``to``..``last`` were logged twice.

    ``word`` is "epoch" or "step"; ``before`` the value logged just before it
    went back; ``where`` says where in the file (``"line 14"``). Numbers are
    the Run's (1-based epochs, as Keras prints them; steps as logged), so the
    message and ``epochs`` agree with the rest of the report.
    """
    if to == before:
        return RunWarning(
            "repeated",
            f"{word} {to:g} was logged twice in a row ({where}): two loggers writing one "
            f"file, or a callback that ran twice. The later values are used; if the two "
            f"differ, one of them is not this run's.",
            (to,), {word: to, "where": where})
    return RunWarning(
        "went_back",
        f"the {word} went back from {before:g} to {to:g} ({where}), so "
        f"{_span(word, to, last)} were logged twice: a run resumed from a checkpoint, or a "
        f"logging bug. The later values are used; the curve joins the resumed run to the "
        f"first one, and a jump at {word} {to:g} is the resume, not the training.",
        (to, last), {"from": before, "to": to, "where": where})


def restarted(count: int, spans: str, which: str, word: str = "epoch") -> RunWarning:
    """The counter went back to where the run started: ``count`` runs in one log."""
    return RunWarning(
        "restarted",
        f"the {word} counter starts again inside the log: it holds {count} runs ({spans}), "
        f"written one after the other. Only {which} is diagnosed (segment=N picks another); "
        f"if they were meant as one run, resume with initial_epoch so the counter goes on.",
        (), {"runs": count})


def by_line(items: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line, why) pairs, one per line (its first reason), in line order."""
    first: dict[int, str] = {}
    for line, why in items:
        first.setdefault(line, why)
    return sorted(first.items())


def malformed(items: Sequence[tuple[int, str]], word: str = "line") -> RunWarning:
    """Rows that could not be read and were skipped: counted, the first four named.

    A row with two bad values counts once, with the first reason.
    """
    items = by_line(items)
    shown = "; ".join(f"{word} {i}: {why}" for i, why in items[:4])
    more = f"; and {len(items) - 4} more" if len(items) > 4 else ""
    n = len(items)
    return RunWarning(
        "malformed_rows",
        f"{n} malformed {word}{'s' if n > 1 else ''} skipped ({shown}{more}): their values are "
        f"missing from the curves, and a logger that writes broken {word}s may have written "
        f"wrong numbers too.",
        (), {"count": n, word + "s": [i for i, _ in items[:100]]})


def sparse_run(
    source: str,
    columns: Mapping[str, Mapping[float, float]],
    *,
    offset: float = 0.0,
    format: str,
    notes: Sequence[str] = (),
    granularity: str = "epoch",
    warnings: Sequence[RunWarning] = (),
) -> Run:
    """A Run from sparse columns ``{name: {x: value}}``, for logs that write one value at a time.

    The x axis is the union of every column's x values, plus ``offset``
    (1.0 turns 0-based epochs into the Run's 1-based ones); a column without
    a value at some x is "not logged" there.
    """
    xs = sorted({x for column in columns.values() for x in column})
    names = sorted(columns)
    values = np.array([[columns[n].get(x, math.nan) for x in xs] for n in names], dtype=float)
    logged = np.array([[x in columns[n] for x in xs] for n in names], dtype=bool)
    return make_run(source, names, values.reshape(len(names), len(xs)),
                    logged.reshape(len(names), len(xs)), np.array(xs, dtype=float) + offset,
                    format=format, notes=notes, granularity=granularity, warnings=warnings)


def check_segment(segment) -> None:
    """Refuse a ``segment`` that is not an int or None (an argument error, not a log's)."""
    if segment is not None and (isinstance(segment, bool)
                                or not isinstance(segment, (int, np.integer))):
        raise TypeError(f"segment must be an int or None, got {segment!r:.60} "
                        f"({type(segment).__name__})")


def check_max_bytes(max_bytes) -> None:
    """Refuse a ``max_bytes`` that is not a positive int."""
    if (isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer))
            or max_bytes <= 0):
        raise ValueError(f"max_bytes must be a positive int (a number of bytes), "
                         f"got {max_bytes!r:.60}")


def choose_segment(segment: int | None, count: int, source: str) -> int:
    """The index of the run that ``segment`` names among ``count``: the last by default.

    Raises:
        TypeError: ``segment`` is not an int.
        LogError: out of range; the message says how many runs the source holds.
    """
    if segment is None:
        return count - 1
    check_segment(segment)
    if not -count <= segment < count:
        holds = "1 run" if count == 1 else f"{count} runs"
        raise LogError(source, f"segment={segment} is out of range: the log holds {holds} "
                       f"(segment=0..{count - 1}, or negative from the end)")
    return int(segment) % count
