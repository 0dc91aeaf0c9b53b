"""TensorBoard event logs written by ``keras.callbacks.TensorBoard``, read without TensorFlow.

A Keras log directory holds ``train/`` and ``validation/`` subdirectories of
``events.out.tfevents.*`` files, with one scalar per epoch under the tags
``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate``... Keras 3 stores
scalars as tensors (``Summary.Value.tensor``), older writers as
``simple_value``; both are read.

The files are TFRecord streams of ``Event`` protocol buffers. Importing
tensorflow (seconds) or the tensorboard package to parse them would cost
the command its start-up time, so this module reads the record framing and
the few protobuf fields it needs directly. Field numbers are those of
``tensorflow/core/util/event.proto`` and ``framework/{summary,tensor}.proto``:
Event{wall_time=1, step=2, summary=5}, Summary{value=1},
Value{tag=1, simple_value=2, tensor=8}, TensorProto{dtype=1,
tensor_content=4, float_val=5, double_val=6}.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from ..errors import LogError
from ..run import LEARNING_RATE, VAL_PREFIX, Run
from .common import read_bytes, sparse_run

FORMAT = "tensorboard"

_EVENTS = "events.out.tfevents.*"
_SPLITS = {"train": "", "validation": VAL_PREFIX}
_DT_FLOAT, _DT_DOUBLE = 1, 2


def sniff(path: Path, head: str) -> bool:
    """A log dir with train/ or validation/ events, one of those subdirs, or an events file."""
    if path.is_dir():
        return _event_dirs(path) != {}
    return "tfevents" in path.name


def load(path: Path, *, segment: int | None = None) -> Run:
    """Read a Keras TensorBoard log dir (or its ``train/`` subdir, or one events file).

    ``segment`` has no meaning here and is ignored: restarts that wrote
    several event files into one directory are merged by epoch, later file
    winning.
    """
    source = str(path)
    dirs = _event_dirs(path) if path.is_dir() else {"": [path]}
    if not dirs:
        raise LogError(source, "no events.out.tfevents.* files in train/ or validation/")
    notes: list[str] = []
    columns: dict[str, dict[int, float]] = {}
    for prefix, files in dirs.items():
        if len(files) > 1:
            notes.append(f"{len(files)} event files in {prefix or 'train'}/ merged by epoch "
                         f"(the later file wins)")
        for file in files:
            for tag, step, value in _scalars(file):
                name = _keras_name(tag, prefix)
                if name is not None:
                    columns.setdefault(name, {})[step] = value
    if not columns:
        raise LogError(source, "no epoch-level scalars (epoch_loss, epoch_accuracy, ...) in the events")
    return sparse_run(source, columns, offset=1.0, format=FORMAT, notes=notes)


def _event_dirs(path: Path) -> dict[str, list[Path]]:
    """Split prefix -> event files, for a log dir or one of its split subdirs."""
    found = {}
    for split, prefix in _SPLITS.items():
        files = sorted((path / split).glob(_EVENTS)) if (path / split).is_dir() else []
        if files:
            found[prefix] = files
    if not found and path.name in _SPLITS:
        files = sorted(path.glob(_EVENTS))
        if files:
            found[_SPLITS[path.name]] = files
    return found


def _keras_name(tag: str, prefix: str) -> str | None:
    """``epoch_loss`` in validation/ -> ``val_loss``; batch-level and other tags -> None."""
    if not tag.startswith("epoch_"):
        return None
    metric = tag[len("epoch_"):]
    if metric in ("learning_rate", "lr"):
        return LEARNING_RATE if not prefix else None
    return prefix + metric


def _records(path: Path) -> Iterator[bytes]:
    """The payloads of a TFRecord file: [uint64 length][uint32 crc][data][uint32 crc] each."""
    data = read_bytes(path)
    at = 0
    while at < len(data):
        if at + 12 > len(data):
            raise LogError(str(path), "truncated record header", f"byte {at}")
        (length,) = struct.unpack_from("<Q", data, at)
        start, end = at + 12, at + 12 + length
        if end + 4 > len(data):
            raise LogError(str(path), "truncated record (the file was cut off while written?)",
                           f"byte {at}")
        yield data[start:end]
        at = end + 4


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Protobuf wire format: (field number, wire type, value) for each field of a message."""
    at, n = 0, len(buf)
    while at < n:
        key, at = _varint(buf, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(buf, at)
        elif wire == 1:
            value, at = buf[at:at + 8], at + 8
        elif wire == 2:
            length, at = _varint(buf, at)
            value, at = buf[at:at + length], at + length
        elif wire == 5:
            value, at = buf[at:at + 4], at + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7


def _scalars(path: Path) -> Iterator[tuple[str, int, float]]:
    """(tag, step, value) for every scalar summary value in an events file."""
    for record in _records(path):
        try:
            step, summary = 0, None
            for field, _wire, value in _fields(record):
                if field == 2:
                    step = value
                elif field == 5:
                    summary = value
            if summary is None:
                continue
            for field, _wire, value in _fields(summary):
                if field == 1:
                    scalar = _value(value)
                    if scalar is not None:
                        yield scalar[0], int(step), scalar[1]
        except (ValueError, IndexError, struct.error):
            raise LogError(str(path), "malformed event record") from None


def _value(buf: bytes) -> tuple[str, float] | None:
    """(tag, number) of a Summary.Value holding a scalar, else None (images, histograms...)."""
    tag, number = None, None
    for field, wire, value in _fields(buf):
        if field == 1:
            tag = value.decode("utf-8", "replace")
        elif field == 2 and wire == 5:
            number = struct.unpack("<f", value)[0]
        elif field == 8:
            number = _tensor_scalar(value)
    return (tag, number) if tag is not None and number is not None else None


def _tensor_scalar(buf: bytes) -> float | None:
    """The single number in a float/double TensorProto, else None."""
    dtype, values = None, []
    for field, wire, value in _fields(buf):
        if field == 1:
            dtype = value
        elif field == 4:
            values.append(("content", value))
        elif field == 5:
            values.append(("f", value))
        elif field == 6:
            values.append(("d", value))
    for kind, raw in values:
        if kind == "content":
            fmt = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d"}.get(dtype)
            if fmt and len(raw) == struct.calcsize(fmt):
                return struct.unpack(fmt, raw)[0]
        elif kind == "f":
            return struct.unpack("<f", raw[:4])[0] if len(raw) >= 4 else None  # packed or single
        elif kind == "d":
            return struct.unpack("<d", raw[:8])[0] if len(raw) >= 8 else None
    return None
