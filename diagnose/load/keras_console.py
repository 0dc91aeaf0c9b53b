"""What ``model.fit()`` prints: Keras console output, pasted or captured.

For many users the console is the only log. At ``verbose=2`` Keras prints one
line per epoch under an ``Epoch 3/20`` header::

    Epoch 3/20
    32/32 - 0s - 2ms/step - accuracy: 0.8600 - loss: 0.4100 - val_accuracy: 0.8400 - val_loss: 0.4500

At ``verbose=1`` the same line is a progress bar (Keras 3 ``━━━━``, Keras 2
``[=====>....]``) redrawn after every batch: carriage returns, backspaces and
colour codes in a captured file, or one line per redraw where a viewer turned
the carriage returns into line breaks. The redraws hold the running mean of
the epoch so far, not the epoch's value: only the epoch's last line counts,
the one whose counter reached its end (``32/32``), with the validation values
Keras appends once the epoch is over.

Also met, and handled:

- output cut off (a crash, a copy that stopped short): the last epoch, when
  its line is cut mid-line or its counter never reached the end, is dropped
  with a note;
- other lines in between (TensorFlow's start-up lines, warnings, prints,
  ``ReduceLROnPlateau`` and ``EarlyStopping`` messages, even in the middle of
  a progress bar): ignored; only ``Epoch k/N`` headers and progress lines are
  read;
- ``model.evaluate()`` / ``predict()`` bars after the last epoch: their
  counter starts again at 1 (or adds no validation values), so they never
  replace the epoch's line;
- several ``fit()`` calls in one capture: ``Epoch 1/N`` again starts a new
  run, as appended runs do in a CSVLogger file; the last is diagnosed unless
  ``segment=`` picks another. An ``Epoch k`` that goes back inside the
  current run (a fit resumed with ``initial_epoch``) replaces the epochs from
  k on;
- ``lr`` (Keras 2) read as ``learning_rate``; ``nan`` and ``inf`` as logged.

Values are the printed ones, rounded by Keras to 4 decimals (``%.4f``, or
``%.4e`` below 0.001).

The Hugging Face ``Trainer``'s console (the ``{'loss': 0.41, 'learning_rate':
5e-05, 'epoch': 1.0}`` lines it prints among its tqdm bars) is read too when
the text holds no Keras epoch: the lines are read as the entries of a
``trainer_state.json`` and judged as that format judges them (step-logged,
``eval_*`` as validation).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import LogError
from ..run import Run
from .common import (
    MAX_BYTES,
    choose_segment,
    display_name,
    malformed,
    number,
    read_text,
    rename_learning_rate,
    restarted,
    sparse_run,
    went_back,
)

FORMAT = "keras_console"

# CSI sequences (colours, cursor moves) and the two-byte escapes terminals accept.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_FRAGMENTS = re.compile(r"[\r\x08]+")
_HEADER = re.compile(r"Epoch (\d{1,9})/(\d{1,9})\s*$")
_COUNTER = re.compile(r"\s*(\d{1,12})/(\d{1,12}|Unknown)(?=\s|$)")
_ITEM = re.compile(r"([A-Za-z_][\w.\-/]*)\s*:\s*(\S+)\Z")
# How Keras prints a value (Progbar: "%.4f", or "%.4e" below 1e-3): a value in this
# form is whole; one cut short by the end of the capture is not.
_WHOLE_VALUE = re.compile(r"-?(\d+\.\d{4}|\d\.\d{4}e[-+]\d\d+|nan|inf)\Z")
_TIMING = re.compile(r"\d+(\.\d+)?(s|ms|us|µs)/(step|sample)\Z")
# A Keras progress line with a loss, for sniffing text without an Epoch header.
_PROGRESS_WITH_LOSS = re.compile(r"^\s*\d+/(\d+|Unknown)\b.* - (val_)?loss: ", re.MULTILINE)
# The Trainer's printed logs: str() of a dict, single-quoted keys.
_HF_LINE = re.compile(r"^\s*\{'[^']{1,200}': .*'epoch': [-+0-9.e]+.*\}\s*$")
_HF_PAIR = re.compile(r"'([^'\\]{1,200})':\s*'?(-?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf))'?"
                      r"\s*(?=[,}])")


def sniff(path: Path, head: str) -> bool:
    """Text with an ``Epoch k/N`` header, a Keras progress line with a loss, or the
    Trainer's printed log dicts. JSON (``{"``, ``[``) is never console output."""
    if head.lstrip("\ufeff \t\r\n").startswith(('{"', "[")):
        return False
    text = _ANSI.sub("", head)
    fragments = [f for f in re.split(r"[\r\n\x08]+", text) if f.strip()]
    if any(len(f) < 400 and _HEADER.search(f) for f in fragments):
        return True
    if _PROGRESS_WITH_LOSS.search("\n".join(fragments)):
        return True
    return any(_HF_LINE.match(f) for f in fragments)


def load(path: Path, *, segment: int | None = None, data: bytes | None = None,
         max_bytes: int = MAX_BYTES) -> Run:
    """Read a console capture (see :func:`parse`)."""
    return parse(read_text(path, data, max_bytes), display_name(path), segment=segment,
                 path=path)


@dataclass
class _Line:
    """One progress-bar drawing: its counter, its values, where it was."""

    current: int
    target: int | None  # None: "Unknown" (a dataset of unknown length)
    values: dict[str, float]
    line: int
    whole: bool  # every item read, and (at the end of a cut capture) not cut short
    last_item: str
    at_cut: bool = False  # the last thing in a capture that stops mid-line


@dataclass
class _Epoch:
    number: int
    total: int
    line: int
    final: _Line | None = None
    closed: bool = False  # the epoch's bar ended (evaluate()/predict() bars follow)
    cut_short: bool = False  # the capture stops in the middle of the bar's last redraw


def parse(text: str, source: str, *, segment: int | None = None,
          path: Path | None = None) -> Run:
    """Read console text into a Run; ``segment`` picks one of several ``fit()`` calls.

    Raises:
        LogError: no epoch could be read; the message says what was found.
    """
    text = _ANSI.sub("", text.replace("\x00", ""))
    lines = text.split("\n")
    cut = not text.endswith("\n")  # the capture stops mid-line
    epochs: list[_Epoch] = []
    hf_lines: list[tuple[int, str]] = []
    for number_, line in enumerate(lines, 1):
        fragments = [f for f in _FRAGMENTS.split(line) if f.strip()]
        for i, fragment in enumerate(fragments):
            header = _HEADER.search(fragment) if len(fragment) < 400 else None
            if header:
                epochs.append(_Epoch(int(header.group(1)), int(header.group(2)), number_))
                continue
            if _HF_LINE.match(fragment):
                hf_lines.append((number_, fragment))
                continue
            drawing = _progress(fragment, number_)
            if drawing is None or not epochs:
                continue
            at_cut = cut and number_ == len(lines) and i == len(fragments) - 1
            _offer(epochs[-1], drawing, at_cut)
    if not epochs:
        if hf_lines:
            return _from_trainer_lines(hf_lines, source, path)
        raise LogError(source, "no 'Epoch k/N' line: not Keras console output "
                       "(fit() prints one before each epoch)")
    notes: list[str] = []
    went: list[list] = []
    runs = _runs(epochs, source, notes, cut, went)
    chosen = choose_segment(segment, len(runs), source)
    warnings = list(went[chosen])
    if len(runs) > 1:
        spans = ", ".join(f"epochs {r[0].number}-{r[-1].number}" if r else "no epoch"
                          for r in runs)
        which = "the last" if segment is None else f"segment={segment}"
        notes.insert(0, f"capture holds {len(runs)} fit() runs ({spans}); diagnosing {which}; "
                     "choose with segment=N (0-based, negative from the end)")
        warnings.insert(0, restarted(len(runs), f"fit() runs: {spans}", which))
    run = runs[chosen]
    if not run:
        raise LogError(source, "no epoch of this fit() finished: each was cut short "
                       "or printed no values" + (f" (segment={segment})" if len(runs) > 1 else ""))
    columns: dict[str, dict[float, float]] = {}
    for epoch in run:
        for name, value in epoch.final.values.items():
            columns.setdefault(name, {})[float(epoch.number)] = value
    names = rename_learning_rate(list(columns), notes)
    columns = {new: columns[old] for new, old in zip(names, list(columns)) if new is not None}
    notes.append("values as Keras printed them, rounded to 4 decimals")
    return sparse_run(source, columns, format=FORMAT, notes=notes, warnings=warnings)


def _progress(fragment: str, line: int) -> _Line | None:
    """A progress line (``12/32 ... - loss: 0.41 - ...``), or None for any other text."""
    counter = _COUNTER.match(fragment)
    if counter is None:
        return None
    current, target = int(counter.group(1)), counter.group(2)
    items = [item.strip() for item in fragment[counter.end():].split(" - ")[1:]]
    values: dict[str, float] = {}
    whole = True
    for item in items:
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None:
            continue  # "1s", "553ms/epoch", "24ms/step": timings
        name, text = match.groups()
        if name == "ETA":
            continue
        try:
            value = number(text)
        except ValueError:
            whole = False  # a value cut short, or a print glued onto the line
            continue
        if value is not None:
            values[name] = value
    last = items[-1] if items else ""
    return _Line(current, None if target == "Unknown" else int(target), values, line, whole,
                 last)


def _offer(epoch: _Epoch, drawing: _Line, at_cut: bool) -> None:
    """Take ``drawing`` as the epoch's latest line, unless the epoch's bar has ended.

    The bar ends when a drawing's counter goes back or its target changes (an
    ``evaluate()`` bar starting), or when, after the counter reached its end,
    a drawing adds no new key (Keras 2 redraws ``32/32`` once more with the
    validation values; an ``evaluate()`` line never adds ``val_`` keys).
    """
    if epoch.closed:
        return
    if at_cut:
        drawing.at_cut = True
        drawing.whole = drawing.whole and _looks_whole(drawing)
    final = epoch.final
    if final is not None:
        ended = final.target is not None and final.current >= final.target
        other_bar = drawing.target != final.target or drawing.current < final.current
        if other_bar or (ended and not set(drawing.values) > set(final.values)):
            epoch.closed = True
            # A redraw of the same bar cut off at the end of the capture: the epoch's
            # last line (with its validation values) was being printed.
            epoch.cut_short = at_cut and not other_bar
            return
    epoch.final = drawing


def _looks_whole(drawing: _Line) -> bool:
    """A drawing at the very end of a cut capture: whole only if its last item is."""
    last = drawing.last_item
    if _TIMING.search(last):
        return True
    match = _ITEM.match(last)
    return match is not None and bool(_WHOLE_VALUE.match(match.group(2)))


def _complete(final: _Line, before: _Line | None) -> bool:
    """Whether the last epoch of a capture cut mid-line holds every key it should: those
    of the epoch before, and a ``val_`` twin for each training key once one ``val_`` is there."""
    keys = set(final.values)
    if before is not None and not keys >= set(before.values):
        return False
    if any(k.startswith("val_") for k in keys):
        return all("val_" + k in keys for k in keys
                   if not k.startswith("val_") and k not in ("learning_rate", "lr"))
    return True


def _runs(epochs: list[_Epoch], source: str, notes: list[str], cut: bool,
          went: list[list]) -> list[list[_Epoch]]:
    """The finished epochs, split into fit() runs where the epoch number goes back.

    ``went`` receives, for each run, its warnings: epochs printed again, and
    epochs whose progress line could not be read (malformed) before the end.
    """
    runs: list[list[_Epoch]] = [[]]
    went.append([])
    unreadable: list[list[tuple[int, str]]] = [[]]
    start: int | None = None
    dropped: list[str] = []
    empty = 0
    for index, epoch in enumerate(epochs):
        if start is not None and epoch.number <= start:
            runs.append([])
            went.append([])
            unreadable.append([])
            start = None
        current = runs[-1]
        if start is None:
            start = epoch.number
        elif current and epoch.number <= current[-1].number:
            went[-1].append(went_back("epoch", current[-1].number, epoch.number,
                                      current[-1].number, f"line {epoch.line}"))
            notes.append(f"epoch {epoch.number} printed again (line {epoch.line}): a resumed "
                         "fit(); its later epochs replace the earlier ones")
            runs[-1] = current = [e for e in current if e.number < epoch.number]
        final = epoch.final
        last = index == len(epochs) - 1
        if final is None or not final.values:
            if last:
                dropped.append(f"dropped epoch {epoch.number} (line {epoch.line}): "
                               "the capture ends before its values")
            else:
                empty += 1
            continue
        if last and cut and not _complete(final, current[-1].final if current else None):
            final.whole = False  # fewer keys than it should have: cut before the last ones
        if not final.whole or epoch.cut_short:
            if not (last and cut):
                unreadable[-1].append((final.line, f"epoch {epoch.number}: a value is not a number"))
            dropped.append(f"dropped epoch {epoch.number} (line {final.line}): cut short "
                           + ("(the capture ends mid-line)" if last and cut else
                              "(a value is not a number)"))
            continue
        if final.target is not None and final.current < final.target:
            dropped.append(f"dropped epoch {epoch.number} (line {final.line}): it stopped at "
                           f"batch {final.current} of {final.target}")
            continue
        current.append(epoch)
    for warnings, bad in zip(went, unreadable):
        if bad:
            warnings.append(malformed(bad))
    notes.extend(dropped)
    if empty:
        notes.append(f"{empty} epoch header{'s' if empty > 1 else ''} without a progress line "
                     "(printed no values); skipped")
    if not any(runs):
        raise LogError(source, "no epoch finished: "
                       + ("; ".join(dropped) if dropped else "no 'Epoch k/N' header is followed "
                          "by a progress line with values"))
    return runs


def _from_trainer_lines(lines: list[tuple[int, str]], source: str, path: Path | None) -> Run:
    """The Trainer's printed log dicts, read as a ``trainer_state.json``'s log_history."""
    from . import hf_trainer

    entries = []
    for _, line in lines:
        entry = {}
        for key, text in _HF_PAIR.findall(line):
            entry[key] = float(text)
        if entry:
            entries.append(entry)
    state = json.dumps({"log_history": entries}).encode()
    run = hf_trainer.load(path if path is not None else Path(source), data=state)
    note = (f"read {len(entries)} log lines the Hugging Face Trainer printed "
            "(values as printed)")
    return replace(run, format=FORMAT, notes=(note, *run.notes))
