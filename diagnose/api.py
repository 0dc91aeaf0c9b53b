"""The Python entry point: ``diagnose(anything) -> Report``."""

from __future__ import annotations

from typing import Any

from .engine import Options, diagnose_run
from .report import Report
from .run import Run


def diagnose(source: Any, **options: Any) -> Report:
    """Diagnose one training run.

    Args:
        source: a Keras ``History``, a ``history.history`` dict, a pandas
            DataFrame, a :class:`~diagnose.run.Run`, or the path of a log file
            (CSVLogger CSV, History JSON, and the other formats
            :func:`diagnose.load.load` reads).
        **options: ``segment`` and ``format_in`` go to the loader (which of
            several appended runs in one CSV, and forcing the input format);
            everything else is an :class:`~diagnose.engine.Options` field
            (``monitor``, ``loss``, ``metric``, ``learning_rate``, ``select``,
            ``ignore``, ``rules``).

    Returns:
        The :class:`~diagnose.report.Report`.

    Raises:
        diagnose.LogError: the source cannot be read as a training run; the
            message names the file, line or key and what is wrong.

    Example:
        >>> history = model.fit(x, y, validation_split=0.2, epochs=50)  # doctest: +SKIP
        >>> report = diagnose(history)  # doctest: +SKIP
        >>> report.conditions  # doctest: +SKIP
        ('overfitting',)
    """
    load_keys = {"segment", "format_in"}
    load_options = {k: v for k, v in options.items() if k in load_keys}
    if isinstance(source, Run):
        run = source
    else:
        from .load import load

        run = load(source, **load_options)
    return diagnose_run(run, Options(**{k: v for k, v in options.items() if k not in load_keys}))
