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
from ..report import RunWarning
from ..run import LEARNING_RATE, VAL_PREFIX, Run
from .common import MAX_BYTES, display_name, read_input, sparse_run

FORMAT = "tensorboard"

_EVENTS = "events.out.tfevents.*"
_SPLITS = {"train": "", "validation": VAL_PREFIX}
_DT_FLOAT, _DT_DOUBLE = 1, 2


def sniff(path: Path, head: str) -> bool:
    """A log dir with train/ or validation/ events, one of those subdirs, or an events file."""
    if path.is_dir():
        return _event_dirs(path) != {}
    return "tfevents" in path.name


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a Keras TensorBoard log dir (or its ``train/`` subdir, or one events file).

    ``segment`` has no meaning here and is ignored: restarts that wrote
    several event files into one directory are merged by epoch, later file
    winning. ``data`` is the file's bytes when ``path`` is one events file
    read already; each file of a directory is read up to ``max_bytes``.
    """
    source = display_name(path)
    dirs = _event_dirs(path) if data is None and path.is_dir() else {"": [path]}
    if not dirs:
        raise LogError(source, "no events.out.tfevents.* files in train/ or validation/")
    notes = _Notes()
    columns: dict[str, dict[int, float]] = {}
    again: set[int] = set()  # epochs some series logged more than once (a resumed run)
    for prefix, files in dirs.items():
        if len(files) > 1:
            notes.append(f"{len(files)} event files in {prefix or 'train'}/ merged by epoch "
                         f"(the later file wins)")
        for file in files:
            content = data if data is not None else read_input(file, max_bytes)
            for tag, step, value in _scalars(content, str(file), notes):
                name = _keras_name(tag, prefix)
                if name is not None:
                    column = columns.setdefault(name, {})
                    if step in column:
                        again.add(step)
                    column[step] = value
    if not columns:
        raise LogError(source, "no epoch-level scalars (epoch_loss, epoch_accuracy, ...) in the events")
    warnings = [_logged_again(sorted(again))] if again else []
    warnings += [RunWarning(
        "malformed_rows",
        f"{file}: {f'{more} records' if more else 'the records'} from byte {at} on are corrupt "
        f"(a bad checksum, or cut off) and were skipped, {count} read before them: the values "
        "in them are missing from the curves, and the epochs after them too.",
        (), {"file": file, "read": count, "unreadable": more, "byte": at})
        for file, count, more, at in notes.corrupt]
    return sparse_run(source, columns, offset=1.0, format=FORMAT, notes=notes, warnings=warnings)


class _Notes(list):
    """The run's notes, and the event files whose tail is corrupt: (file, read, unreadable, byte)."""

    def __init__(self):
        super().__init__()
        self.corrupt: list[tuple[str, int, int, int]] = []


def _logged_again(steps: list[int]) -> RunWarning:
    """Epochs that event files logged more than once: a run resumed into the same log dir."""
    first, last = steps[0] + 1, steps[-1] + 1  # the Run counts epochs from 1
    where = f"epoch {first}" if first == last else f"epochs {first}-{last}"
    return RunWarning(
        "went_back",
        f"{where} {'was' if first == last else 'were'} logged more than once in the event files "
        f"({len(steps)} epoch{'s' if len(steps) > 1 else ''}): a run resumed from a checkpoint "
        "into the same log dir, or two runs writing one. The later values are used; the curve "
        "joins the resumed run to the first one.",
        (float(first), float(last)), {"epochs": len(steps)})


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


def _records(data: bytes, source: str, notes: list[str]) -> Iterator[bytes]:
    """The payloads of a TFRecord stream: [uint64 length][uint32 crc][data][uint32 crc] each.

    Both masked CRC32C checksums are verified, so a corrupted file is not
    diagnosed as if it were intact. The first record that fails (a bad
    checksum, or cut off) ends the reading with a note; the records before it
    are kept, as TensorBoard itself keeps them.
    """
    at = count = 0
    while at < len(data):
        start = at + 12
        end = start + _frame_length(data, at)
        if end + 4 > len(data) or _masked_crc(data[start:end]) != _u32(data, end):
            if count == 0:
                raise LogError(source, "corrupt from the first record (a bad checksum, or cut "
                               "off): not a readable TensorBoard events file", "byte 0")
            more = _count_frames(data, at)
            of = f" of {count + more}" if more else ""
            notes.append(f"{source}: read {count}{of} records; the rest is corrupt "
                         f"(from byte {at})")
            if isinstance(notes, _Notes):  # for the warning: which file, how much is lost
                notes.corrupt.append((source, count, more, at))
            return
        yield data[start:end]
        count += 1
        at = end + 4


def _frame_length(data: bytes, at: int) -> int:
    """The length in a record header at ``at``, or an impossible one when the header is bad."""
    if at + 12 > len(data) or _masked_crc(data[at:at + 8]) != _u32(data, at + 8):
        return len(data)
    return struct.unpack_from("<Q", data, at)[0]


def _count_frames(data: bytes, at: int) -> int:
    """How many records still follow ``at`` by their framing alone (for the note)."""
    count = 0
    while at + 12 <= len(data) and _masked_crc(data[at:at + 8]) == _u32(data, at + 8):
        end = at + 12 + struct.unpack_from("<Q", data, at)[0]
        if end + 4 > len(data):
            break
        count, at = count + 1, end + 4
    return count


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def _masked_crc(data: bytes) -> int:
    """TFRecord's checksum: CRC32C (Castagnoli), rotated and offset ("masked")."""
    crc, table = 0xFFFFFFFF, _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Protobuf wire format: (field number, wire type, value) for each field of a message.

    Raises ValueError on a malformed message (a field running past the end,
    an unknown wire type).
    """
    at, n = 0, len(buf)
    while at < n:
        key, at = _varint(buf, at)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(buf, at)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = buf[at:at + size], at + size
        elif wire == 2:
            length, at = _varint(buf, at)
            value, at = buf[at:at + length], at + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if at > n:
            raise ValueError("field runs past the end of its message")
        yield field, wire, value


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if at >= len(buf) or shift > 63:
            raise ValueError("malformed varint")
        byte = buf[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7


# Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. A field
# with another wire type than its .proto gives it is not the field we know.
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _scalars(data: bytes, source: str, notes: list[str]) -> Iterator[tuple[str, int, float]]:
    """(tag, step, value) for every scalar summary value in an events stream."""
    for record in _records(data, source, notes):
        try:
            step, summary = 0, None
            for field, wire, value in _fields(record):
                if field == 2 and wire == _VARINT:
                    step = value - (1 << 64) if value >= 1 << 63 else value  # int64
                elif field == 5 and wire == _BYTES:
                    summary = value
            if summary is None:
                continue
            for field, wire, value in _fields(summary):
                if field == 1 and wire == _BYTES:
                    scalar = _value(value)
                    if scalar is not None:
                        yield scalar[0], step, scalar[1]
        except (ValueError, struct.error):
            raise LogError(source, "malformed event record (its checksum is right, so it "
                           "was written so)") from None


def _value(buf: bytes) -> tuple[str, float] | None:
    """(tag, number) of a Summary.Value holding a scalar, else None (images, histograms...)."""
    tag, number = None, None
    for field, wire, value in _fields(buf):
        if field == 1 and wire == _BYTES:
            tag = value.decode("utf-8", "replace")
        elif field == 2 and wire == _FIXED32:
            number = struct.unpack("<f", value)[0]
        elif field == 8 and wire == _BYTES:
            number = _tensor_scalar(value)
    return (tag, number) if tag is not None and number is not None else None


def _tensor_scalar(buf: bytes) -> float | None:
    """The single number in a float/double TensorProto, else None."""
    dtype, values = None, []
    for field, wire, value in _fields(buf):
        if field == 1 and wire == _VARINT:
            dtype = value
        elif field == 4 and wire == _BYTES:
            values.append(("content", value))
        elif field == 5 and wire in (_BYTES, _FIXED32):  # packed, or one value
            values.append(("f", value))
        elif field == 6 and wire in (_BYTES, _FIXED64):
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
