"""Loaders: any training log becomes one normalized :class:`~diagnose.run.Run`.

    >>> from diagnose.load import load
    >>> run = load("training_log.csv")                   # doctest: +SKIP
    >>> run = load(history)                              # doctest: +SKIP

Files are recognized by their content (the first 4,096 characters), not by
their extension; ``format_in`` forces a format. Each file is read once, as
bytes, up to ``max_bytes`` (``-`` is standard input; FIFOs and devices are
refused, see :func:`~diagnose.load.common.read_input`). Each format lives in
its own module with the same three names: ``FORMAT``, ``sniff(path, head) ->
bool`` and ``load(path, *, segment=None, data=None, max_bytes=MAX_BYTES) ->
Run``, where ``data`` is the file's bytes when they were read already.
Detection asks them in the order of :data:`FORMATS`, most specific first (a Lightning ``metrics.csv`` is also a
CSV, a ``trainer_state.json`` is also JSON); a format whose module is not
installed is skipped. Bad input raises :class:`~diagnose.errors.LogError`,
and nothing else: an unexpected exception inside a format module is turned
into one too, worded as an internal error to report.

Only numpy and the standard library are imported here: the ``diagnose``
command must start fast. Format modules load on first use.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import InternalError, LogError
from ..run import Run
from .common import (
    MAX_BYTES,
    check_max_bytes,
    check_segment,
    choose_segment,
    decode,
    display_name,
    read_input,
)

# Format name -> module of this package, in detection order.
FORMATS = {
    "tensorboard": "tensorboard",
    "hf_trainer": "hf_trainer",
    "kerastuner_trial": "kerastuner",
    "keras_console": "keras_console",
    "jsonl": "jsonl",
    "history_json": "history",
    "lightning_csv": "lightning",
    "wandb_csv": "wandb",
    "keras_csv": "keras_csv",
}
HEAD_CHARS = 4096

_modules: dict[str, ModuleType | None] = {}


def load(source: Any, *, format_in: str | None = None, segment: int | None = None,
         max_bytes: int = MAX_BYTES, data: bytes | None = None) -> Run:
    """Read a training log into a Run.

    Args:
        source: a Keras ``History`` (anything with a ``.history`` dict), a
            ``history.history`` dict, a list of per-epoch ``logs`` dicts, a
            pandas DataFrame, a :class:`Run` (returned as is), or the path of
            a log file (``str`` or path-like).
        format_in: force a file format instead of detecting it: one of
            :data:`FORMATS` (``"keras_csv"``, ``"history_json"``, ...).
        segment: which of several runs appended to one file to read, 0-based,
            negative from the end; the last by default.
        max_bytes: the most bytes read from one file (256 MB by default);
            a larger file is refused with a LogError.
        data: the file's bytes, read already (``diagnose --watch`` reads a
            growing log up to its last complete line); ``source`` is then its
            path, used for detection and in messages, and not read.

    Returns:
        The normalized run; ``run.notes`` says what the loader decided
        (segment chosen, columns renamed, series aligned).

    Raises:
        LogError: the source cannot be read as a training run; the message
            names the file, the line/column or key, and what is wrong.
        TypeError, ValueError: ``segment`` or ``max_bytes`` is not what it
            should be (an argument error, not the log's).

    Example:
        >>> run = load({"loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.8, 0.9]})
        >>> run.epochs.tolist(), run.names
        ([1.0, 2.0, 3.0], ['loss', 'val_loss'])
    """
    check_segment(segment)
    check_max_bytes(max_bytes)
    if isinstance(source, Run):
        choose_segment(segment, 1, source.source)
        return source
    if isinstance(source, (str, os.PathLike)):
        return _guarded(_load_path, Path(source), format_in, segment, max_bytes, data)
    if format_in is not None:
        raise LogError(type(source).__name__, f"format_in={format_in!r} applies to files only")
    from .history import from_object

    return _guarded(from_object, source, segment=segment)


def _guarded(read, source, *args, **kwargs) -> Run:
    """``read(source, ...)``, with any exception but LogError turned into a LogError.

    The promise is that bad input raises LogError and nothing else; a format
    module that fails in another way on some input has a bug, which the
    message asks the user to report, and the cause stays chained for
    ``--debug``.
    """
    try:
        return read(source, *args, **kwargs)
    except LogError:
        raise
    except RecursionError:
        raise LogError(_name(source), "nested too deeply to be read") from None
    except MemoryError:
        raise LogError(_name(source), "too large to be read in the memory available") from None
    except Exception as exc:
        raise InternalError(_name(source), f"internal error while reading it "
                       f"({type(exc).__name__}: {str(exc)[:200]}); please report") from exc


def _name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return display_name(source)
    from .history import _describe

    return _describe(source)


def _load_path(path: Path, format_in: str | None, segment: int | None, max_bytes: int,
               given: bytes | None = None) -> Run:
    source = display_name(path)
    try:
        is_dir = str(path) != "-" and path.is_dir()
    except (OSError, ValueError) as exc:
        raise LogError(repr(source), f"cannot be read ({exc})") from None
    data = None if is_dir else given if given is not None else read_input(path, max_bytes)
    if format_in is not None:
        module = _module(format_in, source, required=True)
        return module.load(path, segment=segment, data=data, max_bytes=max_bytes)
    head = "" if data is None else decode(data[:4 * HEAD_CHARS], source, "replace")[:HEAD_CHARS]
    tried = []
    for name in FORMATS:
        module = _module(name, source)
        if module is None:
            continue
        tried.append(name)
        if module.sniff(path, head):
            return module.load(path, segment=segment, data=data, max_bytes=max_bytes)
    if is_dir:
        raise LogError(source, "is a directory, not a log file (nor a TensorBoard log directory)")
    if not head.strip():
        raise LogError(source, "empty file")
    raise LogError(source, f"not a training log in a known format (tried {', '.join(tried)})")


def _module(name: str, source: str, required: bool = False) -> ModuleType | None:
    """The module of format ``name``; None when it is not installed (unless required)."""
    if name not in FORMATS:
        raise LogError(source, f"unknown format_in={name!r}; known formats: {', '.join(FORMATS)}")
    if name not in _modules:
        qualified = f"{__name__}.{FORMATS[name]}"
        try:
            _modules[name] = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
            _modules[name] = None
    module = _modules[name]
    if module is None and required:
        raise LogError(source, f"format {name!r} is not available in this installation")
    return module


__all__ = ["FORMATS", "LogError", "load"]
