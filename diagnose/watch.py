"""``diagnose --watch FILE``: follow a growing training log and say each new finding once.

    diagnose --watch training.log.csv                       # notices as they come; Ctrl-C: report
    diagnose --watch metrics.jsonl --fail-on lr_too_high    # exit 1 at the first blow-up

The log is read again whenever it grows, up to its last complete line (a
writer caught mid-line is read on the next poll), and judged epoch by
epoch on the same streaming engine as the live callback
(:class:`diagnose.live.Notices`): a notice is printed at the epoch where the
callback inside ``fit()`` would print it, in the same words. With
``--fail-on`` the watcher exits 1 once the verdict has held a named
condition for :data:`FAIL_PERSIST` epochs in a row (a blow-up at once), so a
shell script can stop the training; underfitting, a verdict on a finished
run, fails only the final report.

Rotation and truncation: a log that shrinks, is replaced (a new inode) or
starts a new run (CSVLogger ``append=True`` after a restart) is followed from
its start again, and the watcher says so. A log that does not exist yet is
waited for. Ctrl-C (or SIGTERM) ends the watch with the report of what was
read.

Works for every line-based format (CSVLogger, Lightning ``metrics.csv``,
JSON Lines, W&B CSV, Keras console captures) and for files rewritten whole
(``trainer_state.json``), which are read when they parse.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .errors import LogError
from .live import Notices
from .report import Report
from .rules.base import epoch_str

# Seconds between looks at the file. A stat() is microseconds; this sets the latency.
INTERVAL = 0.2
# A log that cannot be read is said so only once it has stayed unreadable this many polls:
# a writer that has put down the header and no row yet is no error.
QUIET_POLLS = 10
# --fail-on stops a run only on a condition the verdict has kept this many epochs in a row
# (a blow-up at once): a curve's early epochs often look like a problem they grow out of.
# Chosen on the corpus's calibration families (python benchmarks/watch.py --fail-on):
# 1 -> 3 epochs halves the false stops on overfitting and lr_too_low, and on the held-out
# families leaves 1% (overfitting), 3% (lr_too_high) and 5% (lr_too_low) of the runs without
# the condition stopped, against 3%, 3% and 8%, for a median of 2 epochs' delay.
FAIL_PERSIST = 3
# Underfitting is a verdict on a finished run: half the runs in progress look like it
# (56% of the held-out runs that end without it). --fail-on underfitting acts on the
# final report only.
AT_THE_END = ("underfitting",)
# A first read that finds more epochs than this (an existing long log) is caught up on
# this many evenly spaced points, not on every epoch: its notices then come at the first
# of those points that shows them.
CATCH_UP_POINTS = 200


@dataclass
class _State:
    inode: int | None = None
    size: int = 0
    seen: int = 0  # points of the run judged so far
    pending: str | None = None  # the last read's error, said once it stays
    said_error: str | None = None
    unchanged: int = 0  # polls since the file last changed
    head: bytes = b""  # its first bytes: a file copied over in place changes them



def watch(path: str, *, fail_on: frozenset[str] = frozenset(), interval: float = INTERVAL,
          load_options: Mapping[str, Any] | None = None,
          engine_options: Mapping[str, Any] | None = None, out: TextIO = sys.stdout,
          err: TextIO = sys.stderr, until: Callable[[], bool] | None = None,
          color: bool = False) -> int:
    """Follow ``path``; the exit code: 1 when a ``fail_on`` condition showed, else 0.

    ``until``: a test hook, polled between reads; True ends the watch as Ctrl-C does.
    """
    from .api import diagnose
    from .engine import Options, diagnose_run
    from .load import load
    from .render import render_text

    load_options = dict(load_options or {})
    options = Options.from_kwargs("diagnose", **dict(engine_options or {}))
    notices = Notices()
    streaks: dict[str, int] = {}  # condition -> epochs in a row the verdict has held it
    state = _State()
    report: Report | None = None
    name = str(path)

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    def tell(text: str) -> None:
        err.write(f"diagnose: {text}\n")
        err.flush()

    stop = {"now": False}

    def interrupted(signum, frame) -> None:  # Ctrl-C or SIGTERM: end with the report
        stop["now"] = True

    # Handlers, not KeyboardInterrupt: a watcher started in the background of a script
    # inherits SIGINT ignored, and must still end cleanly when told to.
    previous = ({sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
                if _main_thread() else {})
    waiting_said = False
    try:
        while not stop["now"] and not (until is not None and until()):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                if not waiting_said:
                    tell(f"{name}: not there yet; waiting for it")
                    waiting_said = True
                if state.inode is not None:
                    state = _State()
                time.sleep(interval)
                continue
            except OSError as exc:
                tell(f"{name}: cannot be read ({exc.strerror or exc})")
                return 2
            # Replaced: a new inode, or the same file whose first bytes changed (copied over
            # in place); an appended file keeps its first bytes.
            replaced = state.inode is not None and (
                info.st_ino != state.inode
                or _head(path)[:len(state.head)] != state.head)
            if replaced or info.st_size < state.size:
                tell(f"{name} was {'replaced' if replaced else 'truncated'}: following it from "
                     "its start")
                state, report = _State(), None
                notices.reset()
                streaks.clear()
            if info.st_size == state.size and state.inode is not None:
                state.unchanged += 1
                if (state.pending and state.pending != state.said_error
                        and state.unchanged >= QUIET_POLLS):
                    state.said_error = state.pending
                    tell(f"{state.pending} (still watching)")
                time.sleep(interval)
                continue
            state.inode, state.size, state.unchanged = info.st_ino, info.st_size, 0
            state.head = _head(path)
            run = _read(path, load_options, load, state)
            if run is None:
                time.sleep(interval)
                continue
            if len(run) < state.seen:  # a new run began in the same file
                tell(f"{name}: a new run started in it; judging it from its first epoch")
                notices.reset()
                streaks.clear()
                state.seen = 0
            for k in _points(state.seen, len(run)):
                head = run.head(k)
                report = diagnose_run(head, options)
                where = ("Epoch" if head.granularity == "epoch" else "At") + \
                    f" {epoch_str(head.epochs[-1])}"
                for notice in notices.update(int(round(head.epochs[-1])), report):
                    say(f"{where}: {notice.text}")
                failing = _stop_on(report, fail_on, streaks)
                if failing:
                    tell(f"{failing} found (--fail-on): exit 1")
                    return 1
            state.seen = len(run)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # The end: the report of everything read (as `diagnose FILE` would give it).
    try:
        final = diagnose(name, **load_options, **dict(engine_options or {}))
    except LogError as exc:
        if report is None:
            tell(str(exc))
            return 2
        final = report
    out.write(render_text([final], color=color))
    out.flush()
    return 1 if fail_on & set(final.conditions) else 0


def _stop_on(report: Report, fail_on: frozenset[str], streaks: dict[str, int]) -> str | None:
    """The --fail-on condition to stop on now, if any (see FAIL_PERSIST and AT_THE_END)."""
    from .fixes import BLOWUP_RULES

    for condition in ("overfitting", "underfitting", "lr_too_high", "lr_too_low"):
        streaks[condition] = streaks.get(condition, 0) + 1 if condition in report.conditions \
            else 0
    blew_up = any(f.rule in BLOWUP_RULES for f in report.findings)
    for condition in sorted(fail_on - set(AT_THE_END)):
        if streaks.get(condition, 0) >= FAIL_PERSIST or (condition == "lr_too_high" and blew_up
                                                        and condition in report.conditions):
            return condition
    return None


def _read(path: str, load_options: Mapping[str, Any], load, state: _State):
    """The run in the file's complete lines (or the whole file, when that parses and the
    lines do not: a JSON document rewritten whole); None, with ``state.pending`` set,
    when neither reads yet."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        state.pending = f"{path}: cannot be read ({exc.strerror or exc})"
        return None
    cut = data.rfind(b"\n") + 1
    attempts = [data[:cut]] if 0 < cut < len(data) else []
    attempts.append(data)
    error = None
    for attempt in attempts:
        try:
            run = load(path, data=attempt, **load_options)
        except LogError as exc:
            error = str(exc)
            continue
        state.pending = None
        return run
    state.pending = error
    return None


def _points(seen: int, total: int) -> list[int]:
    """The heads to judge: every new epoch, or evenly spaced ones when catching up on many."""
    new = total - seen
    if new <= 0:
        return []
    if new <= CATCH_UP_POINTS:
        return list(range(seen + 1, total + 1))
    step = new / CATCH_UP_POINTS
    return sorted({seen + max(1, round(step * (i + 1))) for i in range(CATCH_UP_POINTS)} | {total})


def _head(path: str, size: int = 256) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


__all__ = ["INTERVAL", "watch"]
