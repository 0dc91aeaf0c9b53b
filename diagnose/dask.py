"""Many runs on a Dask cluster: the same per-run function, on every core of every node.

    >>> from dask.distributed import Client                 # doctest: +SKIP
    >>> client = Client("tcp://scheduler:8786")             # doctest: +SKIP
    >>> import diagnose.dask
    >>> reports = diagnose.dask.diagnose_bag(paths).compute()      # doctest: +SKIP
    >>> rows = diagnose.dask.diagnose_table(ddf)                   # doctest: +SKIP

Nothing here judges a run: each task calls :func:`diagnose.diagnose`, the
function the command line, the sweep and :func:`diagnose.table.diagnose_table`
call, so a run gets the same verdict wherever it is judged. Dask does the
rest (scheduling, data locality, retries, a dashboard). The computations run
on Dask's default scheduler: the ``Client`` created last, whether it stands
for a ``LocalCluster`` or a multi-node cluster (docs/scale.md); without one,
Dask's local threads.

Needs the ``dask`` extra (``pip install 'keras-diagnose[dask]'``: Dask with
its DataFrame and distributed parts); without it, calling either function
raises :class:`~diagnose.errors.MissingExtra` with that command. Dask is
imported on first call, not when this module is imported.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from . import table as _table
from .errors import LogError, MissingExtra

_FIRST = ("_first_part", "_first_pos")  # where a run first appears: (partition, row)


def _dask():
    try:
        import dask
        import dask.bag
        import dask.dataframe
    except ImportError as exc:
        raise MissingExtra("dask", f"diagnose.dask needs Dask ({exc})") from None
    return dask


def diagnose_bag(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                 npartitions: int | None = None, **options: Any):
    """A Dask bag of the diagnoses of ``paths``, one item per path, in order.

    Args:
        paths: log files (or TensorBoard log dirs), as an iterable of paths,
            or one glob pattern (``"logs/**/*.csv"``, expanded here, sorted).
        npartitions: how many tasks the paths are cut into (Dask's default:
            up to 100).
        **options: as :func:`diagnose.diagnose` (``monitor``, ``loss``,
            ``rules``, ``max_bytes``, ...); a bad one raises here, before any task.

    Returns:
        A ``dask.bag.Bag``; ``.compute()`` gives a list with, per path, its
        report as ``Report.to_dict()`` (the JSON contract), or
        ``{"source": path, "error": message}`` for a log that cannot be read
        or judged, the shape of the ``errors`` of ``diagnose --format json``.
        Being a bag, it can also be written without collecting it:
        ``bag.map(json.dumps).to_textfiles("out/*.jsonl")``.

    Raises:
        MissingExtra: Dask is not installed.
        TypeError, ValueError: an option is wrong.
    """
    dask = _dask()
    _table._check_options(options)
    if isinstance(paths, (str, os.PathLike)):
        pattern = os.fspath(paths)
        paths = sorted(glob.glob(pattern, recursive=True)) or [pattern]
    names = [os.fspath(p) for p in paths]
    kwargs = {} if npartitions is None else {"npartitions": npartitions}
    return dask.bag.from_sequence(names, **kwargs).map(report_or_error, **options)


def report_or_error(path: str, **options: Any) -> dict[str, Any]:
    """``diagnose.diagnose(path, **options).to_dict()``, or the error that stopped it."""
    from .api import diagnose
    from .load.common import display_name

    try:
        return diagnose(path, **options).to_dict()
    except LogError as exc:
        return {"source": display_name(path), "error": str(exc)}


def diagnose_table(ddf: Any, run: str | None = "run_id", step: str | None = "step",
                   metric: str | None = "key", value: str | None = "value", *,
                   params: Any = None, npartitions: int | None = None, **options: Any):
    """:func:`diagnose.table.diagnose_table` on a Dask DataFrame: the same rows, judged in parallel.

    The table is shuffled by run id, so that each run's rows sit in one
    partition, and each partition is diagnosed by
    :func:`diagnose.table.diagnose_table`. Each row keeps its place: rows are
    put back in their original order within a run before it is read (the last
    value logged at a step wins, as in one process), and the result is in
    the order in which the runs first appear.

    Args:
        ddf: a Dask DataFrame, or a pandas DataFrame (cut into
            ``npartitions`` partitions, by default one per core).
        run, step, metric, value, params, **options: as
            :func:`diagnose.table.diagnose_table`.
        npartitions: for a pandas DataFrame only: how many partitions.

    Returns:
        A pandas DataFrame (one row per run, so small), equal to what
        :func:`diagnose.table.diagnose_table` returns for the same table.

    Raises:
        MissingExtra: Dask is not installed.
        LogError: a column is missing or unusable (checked on the columns,
            before anything is computed).
        TypeError, ValueError: an option is wrong.
    """
    dask = _dask()
    dd = dask.dataframe
    import pandas as pd

    _table._check_options(options)
    if isinstance(ddf, pd.DataFrame):
        ddf = dd.from_pandas(ddf, npartitions=npartitions or os.cpu_count() or 1, sort=False)
    elif npartitions is not None:
        raise ValueError("npartitions applies to a pandas DataFrame; repartition a Dask "
                         "DataFrame with ddf.repartition(npartitions=...)")
    elif not hasattr(ddf, "map_partitions"):
        raise TypeError(f"expected a Dask or pandas DataFrame (a long metric table), got "
                        f"{type(ddf).__name__}")
    cols = _table.detect_columns(list(ddf.columns), run, step, metric, value)
    wanted = [cols["run"], cols["step"], cols["metric"], cols["value"]]
    located = ddf[wanted].map_partitions(_locate, meta=_located_meta(ddf[wanted]._meta))
    shuffled = located.shuffle(on=cols["run"])
    meta = _table.rows_frame([]).assign(**{c: pd.Series([], dtype="int64") for c in _FIRST})
    with dask.config.set({"dataframe.convert-string": False}):
        parts = shuffled.map_partitions(_diagnose_partition, cols, params, options, meta=meta)
        frame = parts.compute()
    frame = frame.sort_values(list(_FIRST), kind="stable")
    rows = frame.drop(columns=list(_FIRST)).to_dict("records")
    return _table.rows_frame([{k: _none(v) for k, v in row.items()} for row in rows])


def _locate(part, partition_info=None):
    """The partition with where each row stands in the whole table: (partition, row)."""
    number = partition_info["number"] if partition_info else 0
    return part.assign(_part=np.int64(number), _pos=np.arange(len(part), dtype=np.int64))


def _located_meta(meta):
    import pandas as pd

    return meta.assign(_part=pd.Series([], dtype="int64"), _pos=pd.Series([], dtype="int64"))


def _diagnose_partition(part, cols: Mapping[str, str], params: Any, options: Mapping[str, Any]):
    """The rows of the runs of one (shuffled) partition, with where each run first appears."""
    import pandas as pd

    part = part.sort_values(["_part", "_pos"], kind="stable")
    frame = part.drop(columns=["_part", "_pos"])
    rows = _table.diagnose_table(frame, cols["run"], cols["step"], cols["metric"],
                                 cols["value"], params=params, **options)
    ids = part[cols["run"]]
    first = part.loc[~ids.duplicated() & ids.notna(), [cols["run"], "_part", "_pos"]]
    where = {rid: (p, q) for rid, p, q in first.itertuples(index=False, name=None)}
    last = (np.iinfo(np.int64).max, np.iinfo(np.int64).max)  # rows without a run id
    located = [where.get(rid, last) for rid in rows["run"]]
    return rows.assign(**{
        _FIRST[0]: pd.Series([p for p, _ in located], index=rows.index, dtype="int64"),
        _FIRST[1]: pd.Series([q for _, q in located], index=rows.index, dtype="int64"),
    })


def _none(value: Any) -> Any:
    """pandas' missing values back to None (object columns) as the one-process table has them."""
    import pandas as pd

    return None if value is None or (np.ndim(value) == 0 and pd.isna(value)) else value


__all__ = ["diagnose_bag", "diagnose_table", "report_or_error"]
