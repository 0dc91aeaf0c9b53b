"""The Python entry point: ``diagnose(anything) -> Report``.

This is the one error boundary per input: whatever goes wrong while reading
or judging one source comes out as a :class:`~diagnose.errors.LogError`
naming it, so a caller looping over many logs (the ``diagnose`` command, a
sweep) loses that one and keeps the others. A bad *option* is the caller's
mistake, not the log's, and is refused before anything is read.
"""

from __future__ import annotations

import traceback
from typing import Any

from .engine import Options, diagnose_run
from .errors import InternalError, LogError
from .report import Report
from .run import Run

# Options that go to the loader rather than to the engine.
LOAD_OPTIONS = ("segment", "format_in", "max_bytes")


def diagnose(source: Any, **options: Any) -> Report:
    """Diagnose one training run.

    Args:
        source: a Keras ``History``, a ``history.history`` dict, a pandas
            DataFrame, a :class:`~diagnose.run.Run`, or the path of a log file
            (CSVLogger CSV, History JSON, and the other formats
            :func:`diagnose.load.load` reads; ``"-"`` is standard input).
        **options: ``segment``, ``format_in`` and ``max_bytes`` go to the
            loader (which of several appended runs in one CSV, forcing the
            input format, the most bytes read from a file: 256 MB by
            default); everything else is an :class:`~diagnose.engine.Options`
            field (``monitor``, ``loss``, ``metric``, ``learning_rate``,
            ``select``, ``ignore``, ``rules``, ``optimizer``).

    Returns:
        The :class:`~diagnose.report.Report`. A run longer than
        :data:`diagnose.verdict.MAX_JUDGED_EPOCHS` epochs is judged on that many bins,
        which a note says.

    Raises:
        diagnose.LogError: the source cannot be read or judged as a training
            run; the message names the file, line or key and what is wrong
            (``diagnose.errors.InternalError``, a LogError, when the fault is
            ours).
        TypeError, ValueError: an option is wrong; the message names it, what
            was expected and what was given.

    Example:
        >>> history = model.fit(x, y, validation_split=0.2, epochs=50)  # doctest: +SKIP
        >>> report = diagnose(history)  # doctest: +SKIP
        >>> report.conditions  # doctest: +SKIP
        ('overfitting',)
    """
    load_options = {k: v for k, v in options.items() if k in LOAD_OPTIONS}
    engine_options = Options.from_kwargs(
        "diagnose", **{k: v for k, v in options.items() if k not in LOAD_OPTIONS})
    if isinstance(source, Run):
        from .load.common import check_segment

        check_segment(load_options.get("segment"))
        run = source
    else:
        from .load import load

        run = load(source, **load_options)
    return judge_safely(run, engine_options)


def judge_safely(run: Run, options: Options) -> Report:
    """The report of one run; a failure inside the engine is an InternalError naming the run."""
    try:
        return diagnose_run(run, options)
    except LogError:
        raise
    except RecursionError:
        raise InternalError(run.source, "internal error while judging it (too deep a "
                            "recursion); please report") from None
    except Exception as exc:
        where = _failing_rule(exc)
        raise InternalError(run.source, f"internal error{where} while judging it "
                            f"({type(exc).__name__}: {str(exc)[:200]}); please report") from exc


def _failing_rule(exc: BaseException) -> str:
    """`` in rule 'name'`` when the exception came from a rule's check, else nothing."""
    from .rules import RULES

    checks = {(r.check.__module__, r.check.__name__): name for name, r in RULES.items()}
    found = ""
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        key = (frame.f_globals.get("__name__"), frame.f_code.co_name)
        if key in checks:
            found = f" in rule {checks[key]!r}"
    return found
