"""Many runs, on every core: the same per-run diagnosis, in parallel processes, in order.

    items -> worker processes (read + judge each) -> outcomes in input order

One :class:`Item` per run: a file that a worker reads itself (so 100,000 logs
are read on every core, not funnelled through one), or a run the caller read
already (an MLflow run, one run of a long table). :func:`diagnose_items`
yields one :class:`Outcome` per item *in input order* as soon as it and all
before it are done: output streams, and it is the same whatever ``jobs`` is.
Workers are plain ``multiprocessing`` processes fed in chunks (``imap``);
beyond one machine, :mod:`diagnose.dask` runs the same :func:`judge_item` on a
Dask cluster.

Each outcome holds a report or one line of error, never an exception: a file
that cannot be read costs its own line and nothing else.
"""

from __future__ import annotations

import json
import os
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import LogError
from .report import Report
from .run import Run

# Fewer items than this are judged in this process: starting workers costs more
# than it saves (about 30 ms a worker, against 1-3 ms a run).
PARALLEL_MIN_ITEMS = 64
# Items sent to a worker at a time: large enough that the queue costs nothing
# next to the work, small enough that output starts at once and stays in order.
CHUNK = 16
# Chunks per worker in flight at once (see diagnose_items).
WINDOW_CHUNKS = 4


@dataclass(frozen=True, slots=True)  # slots: a sweep holds 100,000 of them
class Item:
    """One run to diagnose: a file path for the worker to read, or a run read already.

    ``problem`` says why it cannot be diagnosed at all (a folder with no
    logs), and ``error`` is the whole message when the source was read and
    refused already (one run of an MLflow store); either becomes an error
    outcome untouched.
    """

    source: str
    path: str | None = None
    run: Run | None = None
    problem: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one item: its report, or one line saying why there is none.

    ``rendered`` is the report already written out in the format asked for
    (text, Markdown or JSON), done in the worker so that the process writing
    the output only writes: on a 100,000-run sweep it would otherwise be the
    bottleneck.
    """

    source: str
    report: Report | SweepEntry | None = None  # a SweepEntry when keep="light"
    error: str | None = None
    trace: str | None = None  # the traceback behind an internal error, for --debug
    rendered: str | None = None


# What an outcome keeps of a report: all of it with the judged run (to draw it), all of it
# without the run (an HTML page), or what a sweep reads (the verdict and the summary keys
# in SWEEP_KEYS) when the report itself has been rendered already.
KEEP = ("run", "full", "light")


# The summary keys a sweep reads (ranking, table, advice): nothing else of a report is kept
# once it has been written out, so a sweep of 100,000 runs holds a few hundred bytes a run.
SWEEP_KEYS = ("epochs", "monitor", "best_value", "best_epoch", "learning_rate", "params")


class SweepEntry:
    """What a sweep keeps of a report once it is written out: the source, the verdict and
    the summary keys it ranks and advises by (:data:`SWEEP_KEYS`). The sweep's functions
    read nothing else of a report, so this stands in for one, at a few hundred bytes."""

    __slots__ = ("source", "conditions", "summary")

    def __init__(self, source: str, conditions: tuple[str, ...], summary: dict):
        self.source, self.conditions, self.summary = source, conditions, summary


def light(report: Report) -> SweepEntry:
    """The :class:`SweepEntry` of ``report``: no findings, fixes or curves."""
    summary = {k: report.summary[k] for k in SWEEP_KEYS if k in report.summary}
    return SweepEntry(report.source, report.conditions, summary)


def render_one(report: Report, fmt: str, color: bool = False) -> str:
    """One report as the CLI writes it: ``text``, ``markdown``, or ``json`` (the run's object
    in the ``runs`` list, indented as ``json.dumps(document, indent=2)`` indents it)."""
    from . import render

    if fmt == "text":
        return render.render_text([report], color=color)
    if fmt == "markdown":
        return render.render_markdown([report])
    if fmt == "json":
        body = json.dumps(report.to_dict(), indent=2, allow_nan=False)
        return "\n".join("    " + line for line in body.splitlines())
    raise ValueError(f"cannot render one report as {fmt!r}")


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def judge_item(item: Item, load_options: Mapping[str, Any], engine_options: Mapping[str, Any],
               keep: str = "full", render: str | None = None, color: bool = False) -> Outcome:
    """Read and judge one item; never raises. The same function on every worker.

    ``keep``: one of :data:`KEEP`. ``render``: a format for :func:`render_one`,
    to write the report out here, in the worker.
    """
    from .api import diagnose

    if item.problem is not None:
        return Outcome(item.source, error=f"{item.source}: {item.problem}")
    if item.error is not None:
        return Outcome(item.source, error=item.error)
    try:
        if item.run is not None:
            report = diagnose(item.run, **engine_options)
        else:
            report = diagnose(item.path, **load_options, **engine_options)
    except LogError as exc:
        cause = exc.__cause__
        trace = "".join(traceback.format_exception(cause)) if cause is not None else None
        return Outcome(item.source, error=str(exc), trace=trace)
    except Exception as exc:  # the API's boundary missed it: still one line, still one item
        return Outcome(item.source, error=f"{item.source}: internal error ({type(exc).__name__}: "
                       f"{exc}); please report", trace=traceback.format_exc())
    rendered = render_one(report, render, color) if render else None
    # The run goes back only when it will be drawn: it is most of what a report weighs.
    kept = report if keep == "run" else replace(report, run=None) if keep == "full" else \
        light(report)
    return Outcome(item.source, kept, rendered=rendered)


# Per-worker options, set once by the pool's initializer instead of sent with every item.
_WORKER: dict[str, Any] = {}


def _init_worker(settings: dict[str, Any]) -> None:
    _WORKER.update(settings)


def _judge_in_worker(item: Item) -> Outcome:
    return judge_item(item, **_WORKER)


def diagnose_items(items: Iterable[Item], jobs: int = 1, *,
                   load_options: Mapping[str, Any] | None = None,
                   engine_options: Mapping[str, Any] | None = None,
                   keep: str = "full", render: str | None = None, color: bool = False,
                   count: int | None = None) -> Iterator[Outcome]:
    """One outcome per item, in input order, judged on ``jobs`` processes.

    ``keep``, ``render`` and ``color``: see :func:`judge_item`. ``count``: how
    many items there are, when known; fewer than :data:`PARALLEL_MIN_ITEMS`
    are judged here, in this process.
    """
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {KEEP}, got {keep!r}")
    settings = {"load_options": dict(load_options or {}),
                "engine_options": dict(engine_options or {}),
                "keep": keep, "render": render, "color": color}
    if jobs <= 1 or (count is not None and count < PARALLEL_MIN_ITEMS):
        for item in items:
            yield judge_item(item, **settings)
        return
    import multiprocessing

    # fork where there is one (Linux): workers start in milliseconds with the engine
    # imported; elsewhere the platform's default (spawn) re-imports it once per worker.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # Flow control: at most WINDOW_CHUNKS chunks per worker are out at a time. Unbounded,
    # workers that outrun the writer pile their finished outcomes up in this process, and
    # memory grows with the sweep instead of staying flat.
    window = threading.BoundedSemaphore(jobs * WINDOW_CHUNKS * CHUNK)

    def fed() -> Iterator[Item]:
        for item in items:
            window.acquire()  # on the pool's feeder thread: it waits, the writer does not
            yield item

    with context.Pool(jobs, initializer=_init_worker, initargs=(settings,)) as pool:
        for outcome in pool.imap(_judge_in_worker, fed(), chunksize=CHUNK):
            window.release()
            yield outcome
