"""keras-diagnose: tell from the training curves what went wrong, and what to change.

    >>> import diagnose
    >>> report = diagnose.diagnose(history)          # doctest: +SKIP
    >>> print(report)                                # doctest: +SKIP

The import is light on purpose (numpy only): the ``diagnose`` command must
start fast, so tensorflow, pandas, scipy and matplotlib never load unless a
feature that needs them is used.
"""

from .api import diagnose
from .errors import LogError
from .report import CONDITIONS, Finding, Fix, Report
from .run import Run



def plot(source, ax=None, **options):
    """Draw a run's curves with every finding where its evidence is (needs matplotlib).

    ``source`` is a :class:`Report` or anything :func:`diagnose` takes; see
    :func:`diagnose.figure.plot`. Returns the ``matplotlib.figure.Figure``.
    """
    from .figure import plot as draw

    return draw(source, ax=ax, **options)


def diagnose_table(df, run="run_id", step="step", metric="key", value="value", **options):
    """Diagnose every run of a long metric table (one row per run, step, metric and value).

    Returns a pandas DataFrame with one row per run: its conditions, main
    finding and fix. See :func:`diagnose.table.diagnose_table` (needs pandas).
    """
    from .table import diagnose_table as table

    return table(df, run=run, step=step, metric=metric, value=value, **options)


__all__ = ["CONDITIONS", "Finding", "Fix", "LogError", "Report", "Run", "diagnose",
           "diagnose_table", "plot"]
__version__ = "0.1.0"
