"""What every file format shares: reading text safely, reading one cell, building the Run.

Format modules call :func:`read_text` instead of ``open`` so that a missing
file, a directory, a permission problem or undecodable bytes become a
:class:`~diagnose.errors.LogError` at the boundary; :func:`number` reads one
logged value with the same tokens in every format; :func:`make_run` turns
dense columns into a :class:`~diagnose.run.Run` with the exact semantics of
:meth:`Run.from_columns` (inf kept as NaN plus a sign mask), without a Python
loop per value.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import LogError
from ..run import LEARNING_RATE, Run

# Cells that mean "this key was not in the epoch's logs". Keras' CSVLogger
# writes "NA"; pandas writes an empty cell; hand-made dumps use the others.
# Logged NaN and infinities ("nan", "NaN", "inf", "-Infinity") are numbers to
# ``float`` and never reach this set.
NOT_LOGGED = frozenset({"", "NA", "N/A", "NONE", "NULL"})

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


def read_bytes(path: Path, limit: int = -1) -> bytes:
    """The file's bytes (the first ``limit`` of them), or a LogError saying why not."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except FileNotFoundError:
        raise LogError(str(path), "no such file") from None
    except IsADirectoryError:
        raise LogError(str(path), "is a directory, not a log file") from None
    except PermissionError:
        raise LogError(str(path), "permission denied") from None
    except OSError as exc:
        raise LogError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise LogError(repr(str(path)), f"not a valid path ({exc})") from None


def read_text(path: Path) -> str:
    """The whole file as text (see :func:`decode`), or a LogError."""
    return decode(read_bytes(path), str(path))


def number(text: str) -> float | None:
    """One logged value written as text: a float, or None when not logged.

    Raises ValueError when the text is neither a number nor a not-logged token.
    """
    try:
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
) -> Run:
    """A Run from a dense table: one row of ``values`` per name, NaN where not logged.

    ``logged`` is the matching bool table (None: every value logged).
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
    return Run(source, np.asarray(epochs, dtype=float), series, logged_by_name, infinite,
               granularity, format, tuple(notes))


def sparse_run(
    source: str,
    columns: Mapping[str, Mapping[float, float]],
    *,
    offset: float = 0.0,
    format: str,
    notes: Sequence[str] = (),
    granularity: str = "epoch",
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
                    format=format, notes=notes, granularity=granularity)


def choose_segment(segment: int | None, count: int, source: str) -> int:
    """The index of the run that ``segment`` names among ``count``: the last by default.

    Raises:
        TypeError: ``segment`` is not an int.
        LogError: out of range; the message says how many runs the source holds.
    """
    if segment is None:
        return count - 1
    if isinstance(segment, bool) or not isinstance(segment, (int, np.integer)):
        raise TypeError(f"segment must be an int or None, got {segment!r}")
    if not -count <= segment < count:
        holds = "1 run" if count == 1 else f"{count} runs"
        raise LogError(source, f"segment={segment} is out of range: the log holds {holds} "
                       f"(segment=0..{count - 1}, or negative from the end)")
    return int(segment) % count
