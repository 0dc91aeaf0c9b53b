"""Long metric tables: one row per logged value, many runs in one frame.

Warehouses and experiment trackers keep metrics long, not wide: one row per
(run, step, metric, value), as MLflow's ``get_metric_history`` frames have
them (columns ``key``, ``value``, ``step``, ``timestamp``, ``run_id``).

    >>> import diagnose.table as table
    >>> frame = table.read_long("metrics.parquet")        # doctest: +SKIP
    >>> table.diagnose_table(frame)                        # doctest: +SKIP
           run    conditions  healthy          finding  ...

How a long table becomes runs (:func:`runs_from_long`), per run id:

- **Epochs.** A run whose smallest step is 0 counts its steps from 0, as
  Keras' ``epoch``, CSVLogger and MLflow's autologging do: step ``s`` is epoch
  ``s + 1`` (steps 0..n-1 are epochs 1..n, and sparse steps 0, 5, 10 are
  epochs 1, 6, 11). Otherwise the steps are the epochs as given (steps 1..n
  are epochs 1..n). The x axis is the union of the steps any metric of the
  run was logged at; a metric absent at a step was not logged there.
- **Several values at one step** for one metric: the last row wins (the
  frame's row order is taken as the logging order; sort by timestamp first
  if it is not), as a CSVLogger file's re-logged rows replace the earlier
  ones; a note says how many were replaced.
- **Names** as logged, with ``lr`` read as ``learning_rate`` as every loader
  does. A metric named ``epoch`` is an x axis (Hugging Face, Lightning), not
  a curve: it is left out, with a note.
- **Values.** A row present is a value logged. A null or NaN value is read
  by the rule :func:`diagnose.load.history.from_dataframe` uses, because
  pandas cannot tell "logged as NaN" from "missing" (a wide frame melted
  without ``dropna`` has NaN rows for values never logged): NaN is "not
  logged" where a metric has gaps between numbers, or in a ``val_*`` metric
  holding nothing else; "logged NaN" where it ends a metric (the loss blew up
  and stayed NaN) or fills a training metric. In a text column ``NA``,
  ``N/A``, ``null`` and ``None`` are not logged, ``nan`` is a NaN logged
  (exempt from that rule), an empty cell is read as a NaN of pandas
  (``to_csv`` writes NaN so), numbers and ``inf`` are numbers, and anything
  else is refused.

Bad input: a missing or unusable column raises :class:`~diagnose.errors.LogError`
naming the column and what was found, before any run is read. A bad *run*
(a step or value that is not a number, no value logged at all, rows with no
run id) does not stop the others: :func:`runs_from_long` yields a LogError
in its place, and :func:`diagnose_table` gives it a row with ``error`` set.

Vectorised: the table is parsed, de-duplicated and grouped by run with
numpy and pandas; the only Python loop is one iteration per run.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LogError, MissingExtra
from .load.common import NOT_LOGGED, make_run, rename_learning_rate
from .report import Report
from .run import VAL_PREFIX, Run

FORMAT = "long_table"
# What errors about the table as a whole name as their source.
TABLE = "long table"
# A metric of this name is an x axis, not a curve.
X_AXIS_KEYS = frozenset({"epoch"})

# Column names tried, in this order, when a column is not given (case-insensitive).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "run": ("run_id", "run", "run_uuid", "run_name", "trial_id", "trial"),
    "step": ("step", "epoch", "_step", "global_step"),
    "metric": ("key", "metric", "name", "metric_name", "metric_key", "tag"),
    "value": ("value", "metric_value"),
}
_ROLES = {"run": "the run ids", "step": "the steps", "metric": "the metric names",
          "value": "the values"}

# The columns of diagnose_table's result, in order.
COLUMNS = ("run", "conditions", "healthy", "finding", "finding_epochs", "fix", "fix_text",
           "monitor", "best_epoch", "best_value", "epochs", "error")

_PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


# --- columns -----------------------------------------------------------------------------

def detect_columns(columns, run: str | None = None, step: str | None = None,
                   metric: str | None = None, value: str | None = None) -> dict[str, str]:
    """The four columns of a long table: each given name checked, each ``None`` detected.

    Detection takes the first of :data:`CANDIDATES` present (case-insensitive).

    Raises:
        LogError: a given column is absent, or a column cannot be told; the
            message lists the columns seen and the argument that names it.
    """
    seen = [str(c) for c in columns]
    lowered: dict[str, str] = {}
    for name in seen:
        lowered.setdefault(name.lower(), name)
    chosen: dict[str, str] = {}
    for role, given in (("run", run), ("step", step), ("metric", metric), ("value", value)):
        if given is not None:
            if str(given) not in seen:
                guess = _guess(role, lowered, chosen)
                hint = f"; did you mean {role}={guess!r}?" if guess else ""
                raise LogError(TABLE, f"no column {given!r} for {_ROLES[role]} ({role}=); "
                               f"columns found: {_shown(seen)}{hint}")
            chosen[role] = str(given)
            continue
        guess = _guess(role, lowered, chosen)
        if guess is None:
            raise LogError(TABLE, f"cannot tell which column holds {_ROLES[role]}: none of "
                           f"{', '.join(CANDIDATES[role])}; columns found: {_shown(seen)} "
                           f"(name it with {role}=)")
        chosen[role] = guess
    twice = [c for c in set(chosen.values()) if list(chosen.values()).count(c) > 1]
    if twice:
        roles = [r for r, c in chosen.items() if c == twice[0]]
        raise LogError(TABLE, f"column {twice[0]!r} is used for both {roles[0]}= and "
                       f"{roles[1]}=; columns found: {_shown(seen)}")
    return chosen


def _guess(role: str, lowered: Mapping[str, str], taken: Mapping[str, str]) -> str | None:
    used = set(taken.values())
    for candidate in CANDIDATES[role]:
        name = lowered.get(candidate)
        if name is not None and name not in used:
            return name
    return None


def _shown(names: list[str], limit: int = 20) -> str:
    if not names:
        return "none"
    shown = ", ".join(repr(n[:60]) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


# --- long table -> runs ------------------------------------------------------------------

def runs_from_long(df: Any, run: str | None = "run_id", step: str | None = "step",
                   metric: str | None = "key", value: str | None = "value",
                   params: Any = None) -> Iterator[Run | LogError]:
    """One :class:`~diagnose.run.Run` per run id of a long metric table.

    Args:
        df: a pandas DataFrame with one row per logged value.
        run, step, metric, value: the columns holding the run id, the step
            (or epoch), the metric name and the value; ``None`` detects one
            (see :data:`CANDIDATES`). The defaults are MLflow's names.
        params: what each run was trained with, carried into
            ``Run.params`` (and the report's ``summary["params"]``): a mapping
            ``run id -> {name: value}``, or a DataFrame with one row per run,
            keyed by the ``run`` column when it has one, else by its index.

    Yields:
        For each run id, in the order of first appearance: its Run (source:
        the run id as text, format ``"long_table"``), or, for a run that
        cannot be read, a :class:`~diagnose.errors.LogError` naming it (check
        with ``isinstance(item, LogError)``; the other runs still come).
        Rows with no run id come last, as one LogError.

    Raises:
        LogError: a column is missing or unusable; raised by the call itself,
            before any run is made.
        TypeError: ``df`` is not a DataFrame, or ``params`` is neither a
            mapping nor a DataFrame.
    """
    return (item for _, item in _items(df, run, step, metric, value, params))


def _items(df, run, step, metric, value, params) -> Iterator[tuple[Any, Run | LogError]]:
    """(run id as in the table, its Run or LogError) per run, in order of first appearance.

    The table is parsed (and a bad column raised) now; the runs are made one by one.
    """
    table = _parse(df, run, step, metric, value)
    return _runs(table, _params_by_run(params, table.run_column))


@dataclasses.dataclass
class _Table:
    """A long table as flat arrays, in the shape every run is cut from.

    The good rows (finite step, a metric name, a number or a not-logged
    token, not the x-axis key) are de-duplicated and sorted by (run, step,
    row), so that each run is one slice ``rows[run]:rows[run + 1]``, its
    steps one slice of ``xs`` and its metrics, in the order they first
    appear, one slice of ``metric_keys``. Every index is computed here, for
    all runs at once; a run is then two fancy assignments.
    """

    run_column: str
    ids: list  # run id per run code, in the order of first appearance
    names: list[str]  # metric name per metric code
    rows: np.ndarray  # row offsets per run (len(ids) + 1)
    values: np.ndarray  # float, per row
    logged: np.ndarray  # bool, per row: False for a not-logged token
    step_index: np.ndarray  # per row: its step's position in the run's x axis
    metric_rank: np.ndarray  # per row: its metric's position in the run's metrics
    xs: np.ndarray  # the distinct steps of every run, run after run
    xs_start: np.ndarray  # offsets into xs per run (len(ids) + 1)
    metric_keys: np.ndarray  # metric codes of every run in order of appearance, run after run
    metric_start: np.ndarray  # offsets into metric_keys per run (len(ids) + 1)
    unsure: np.ndarray  # bool, per row: a null or NaN of a numeric column (see _resolve_nan)
    has_unsure: np.ndarray  # per run: such a value somewhere
    has_x_axis: np.ndarray  # per run: a metric named 'epoch' was left out
    replaced: np.ndarray  # per run: values replaced by a later one at the same step
    errors: dict  # run code -> LogError, for the runs that cannot be read
    missing_ids: int  # rows with no run id


def _parse(df: Any, run, step, metric, value) -> _Table:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame (a long metric table), got "
                        f"{type(df).__name__}")
    if not df.columns.is_unique:
        twice = next(str(c) for c in df.columns if list(df.columns).count(c) > 1)
        raise LogError(TABLE, f"column {twice!r} appears twice")
    cols = detect_columns(df.columns, run, step, metric, value)
    frame = df[[cols["run"], cols["step"], cols["metric"], cols["value"]]]
    frame.columns = ["run", "step", "metric", "value"]

    codes, uniques = pd.factorize(frame["run"], use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    n_runs = len(uniques)
    steps, step_ok = _numbers(frame["step"], cols["step"], role="step")
    values, logged, bad_value, unsure = _values(frame["value"], cols["value"])
    keys, key_names = pd.factorize(frame["metric"], use_na_sentinel=True)
    keys = np.asarray(keys, dtype=np.int64)
    names = [str(k) for k in key_names]
    if len(frame) and not step_ok.any():
        raise LogError(TABLE, f"column {cols['step']!r} (step=) holds no numbers: found "
                       f"{_examples(frame['step'])}")
    if len(frame) and bad_value.all():
        raise LogError(TABLE, f"column {cols['value']!r} (value=) holds no numbers: found "
                       f"{_examples(frame['value'])}")

    has_id = codes >= 0
    errors = _bad_runs(frame, cols, codes, has_id & ~step_ok, has_id & (keys < 0),
                       has_id & bad_value)
    good = has_id & step_ok & (keys >= 0) & ~bad_value
    if errors:
        good &= ~np.isin(codes, list(errors))
    x_axis_codes = [i for i, name in enumerate(names) if name in X_AXIS_KEYS]
    x_axis = np.isin(keys, x_axis_codes) & good
    has_x_axis = np.bincount(codes[x_axis], minlength=n_runs) > 0
    rows = np.flatnonzero(good & ~x_axis)

    # Rows by run, step, metric and row: each run a slice, its steps in order, and the
    # values logged again at one step next to each other; the last logged wins.
    rows = rows[np.lexsort((rows, keys[rows], steps[rows], codes[rows]))]
    r, s, k = codes[rows], steps[rows], keys[rows]
    dup = np.zeros(len(rows), dtype=bool)
    dup[:-1] = (r[1:] == r[:-1]) & (s[1:] == s[:-1]) & (k[1:] == k[:-1])
    replaced = np.bincount(r[dup], minlength=n_runs)
    if dup.any():
        rows, r, s, k = rows[~dup], r[~dup], s[~dup], k[~dup]
    row_start = np.searchsorted(r, np.arange(n_runs + 1))
    new_step = np.ones(len(rows), dtype=bool)
    new_step[1:] = (r[1:] != r[:-1]) | (s[1:] != s[:-1])
    xs = s[new_step]
    xs_start = np.searchsorted(r[new_step], np.arange(n_runs + 1))
    step_index = np.cumsum(new_step) - 1 - xs_start[r]
    # Metrics of a run in the order they first appear, step by step, then row by row.
    pair, _ = pd.factorize(r * max(len(names), 1) + k)  # numbered in order of appearance
    pair = np.asarray(pair, dtype=np.int64)
    seen = np.maximum.accumulate(pair)
    first = np.flatnonzero(np.r_[len(pair) > 0, pair[1:] > seen[:-1]])  # each pair's first row
    by_appearance = np.lexsort((rows[first], s[first], r[first]))
    position = np.empty(len(first), dtype=np.int64)
    position[by_appearance] = np.arange(len(first))
    metric_start = np.searchsorted(r[first[by_appearance]], np.arange(n_runs + 1))
    metric_rank = (position - metric_start[r[first]])[pair]
    metric_keys = k[first[by_appearance]]

    v, lg = values[rows], logged[rows]
    unsure = unsure[rows]
    has_unsure = np.bincount(r[unsure], minlength=n_runs) > 0
    return _Table(
        run_column=cols["run"], ids=list(uniques), names=names, rows=row_start, values=v,
        logged=lg, step_index=step_index, metric_rank=metric_rank, xs=xs, xs_start=xs_start,
        metric_keys=metric_keys, metric_start=metric_start, unsure=unsure,
        has_unsure=has_unsure,
        has_x_axis=has_x_axis, replaced=replaced, errors=errors,
        missing_ids=int((~has_id).sum()))


def _bad_runs(frame, cols: Mapping[str, str], codes: np.ndarray, bad_step: np.ndarray,
              no_name: np.ndarray, bad_value: np.ndarray) -> dict[int, LogError]:
    """A LogError for each run with a row that cannot be read, naming its first such row
    by its index label."""
    errors: dict[int, LogError] = {}
    for bad, what in ((bad_step, "step"), (no_name, "metric"), (bad_value, "value")):
        where = np.flatnonzero(bad)
        if not len(where):
            continue
        runs, first = np.unique(codes[where], return_index=True)
        for code, i in zip(runs.tolist(), where[first].tolist()):
            if code in errors:
                continue
            source, row = str(frame["run"].iloc[i]), frame.iloc[i]
            label = _plain(frame.index[i])  # the same in any partition, unlike a position
            line = f"row {label!r:.40}" if isinstance(label, str) else f"row {label}"
            if what == "step":
                errors[code] = LogError(source, f"step {_text(row['step'])} is not a number",
                                        f"{line}, column {cols['step']!r}")
            elif what == "metric":
                errors[code] = LogError(source, "a value has no metric name",
                                        f"{line}, column {cols['metric']!r}")
            else:
                errors[code] = LogError(source, f"{_text(row['value'])} is not a number",
                                        f"{line}, metric {str(row['metric'])[:60]!r}")
    return errors


def _text(value: Any) -> str:
    return repr(value if isinstance(value, str) else str(value))[:42]


def _numbers(column, name: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    """A column as floats, and where it held a finite number."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype):
        raise LogError(TABLE, f"column {name!r} ({role}=) holds true/false values, not numbers")
    if pd.api.types.is_numeric_dtype(column.dtype):
        out = column.to_numpy(dtype=float, na_value=math.nan)
    else:
        out = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=math.nan)
    return out, np.isfinite(out)


def _values(column, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, logged, not a number, unsure) of the value column.

    Numbers (and NaN, inf) are logged; in a text column the not-logged tokens
    of every loader (``NA``, ``N/A``, ``null``, ``None``) are not, ``nan`` is
    a NaN logged, and other text is refused (for its run). A null, an empty
    cell or a NaN in a numeric column is *unsure*: pandas writes NaN (and
    ``to_csv`` an empty cell) for a value missing and for a NaN logged alike;
    :func:`_resolve_nan` decides.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype):
        raise LogError(TABLE, f"column {name!r} (value=) holds true/false values, not numbers")
    n = len(column)
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=float, na_value=math.nan)
        return values, np.ones(n, dtype=bool), np.zeros(n, dtype=bool), np.isnan(values)
    values = np.array(pd.to_numeric(column, errors="coerce").to_numpy(
        dtype=float, na_value=math.nan))  # a copy: pandas hands out read-only views
    logged, bad, unsure = np.ones(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    odd = np.flatnonzero(np.isnan(values))  # only these need their text read
    if len(odd):
        cells = column.iloc[odd]
        text = cells.astype(str).str.strip().str.upper()
        # An empty cell is what pandas' to_csv writes for NaN: as unsure as a null.
        null = cells.isna().to_numpy() | (text == "").to_numpy()
        token = text.isin(NOT_LOGGED).to_numpy() & ~null
        nan_text = text.isin({"NAN", "+NAN", "-NAN"}).to_numpy()
        logged[odd[token]] = False
        unsure[odd[null]] = True
        bad[odd[~(null | token | nan_text)]] = True
    return values, logged, bad, unsure


def _examples(column, limit: int = 3) -> str:
    shown = [repr(v)[:40] for v in column.drop_duplicates().head(limit).tolist()]
    return ", ".join(shown) if shown else "nothing"


def _params_by_run(params: Any, run_column: str) -> Mapping:
    if params is None:
        return {}
    if isinstance(params, Mapping):
        return params
    import pandas as pd

    if isinstance(params, pd.DataFrame):
        frame = params.set_index(run_column) if run_column in params.columns else params
        out = {}
        for rid, row in zip(frame.index, frame.to_dict("records")):
            out[rid] = {str(k): _plain(v) for k, v in row.items() if not _is_missing(v)}
        return out
    raise TypeError(f"params must be a mapping of run id -> params, or a DataFrame with one "
                    f"row per run, got {type(params).__name__}")


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and np.ndim(value) == 0 else value


def _is_missing(value: Any) -> bool:
    import pandas as pd

    return np.ndim(value) == 0 and bool(pd.isna(value))


def _runs(t: _Table, params: Mapping) -> Iterator[tuple[Any, Run | LogError]]:
    for code, rid in enumerate(t.ids):
        error = t.errors.get(code)
        if error is None:
            try:
                built = _one_run(t, code, str(rid))
            except LogError as exc:
                error = exc
        if error is not None:
            yield rid, error
            continue
        extra = params.get(rid) if params else None
        if extra is None and params and not isinstance(rid, str):
            extra = params.get(str(rid))
        if extra:
            built = dataclasses.replace(built, params=dict(extra))
        yield rid, built
    if t.missing_ids:
        error = LogError(f"rows without a {t.run_column!r}",
                       f"{t.missing_ids:,} row(s) have no run id and belong to no run",
                       f"column {t.run_column!r}")
        yield error.source, error


def _one_run(t: _Table, code: int, source: str) -> Run:
    """The Run of one run code: its slices of the table, made dense."""
    a, b = int(t.rows[code]), int(t.rows[code + 1])
    m0, m1 = int(t.metric_start[code]), int(t.metric_start[code + 1])
    x0, x1 = int(t.xs_start[code]), int(t.xs_start[code + 1])
    notes: list[str] = []
    if t.has_x_axis[code]:
        notes.append("metric 'epoch' is an x axis, not a curve: left out (the steps are "
                     "the x axis)")
    if a == b:
        raise LogError(source, "no metric besides 'epoch'" if t.has_x_axis[code]
                       else "no values logged")
    dense = np.full((m1 - m0, x1 - x0), math.nan)
    mask = np.zeros((m1 - m0, x1 - x0), dtype=bool)
    at = (t.metric_rank[a:b], t.step_index[a:b])
    dense[at] = t.values[a:b]
    mask[at] = t.logged[a:b]
    names = [t.names[k] for k in t.metric_keys[m0:m1].tolist()]
    if t.has_unsure[code]:
        unsure = np.zeros_like(mask)
        unsure[at] = t.unsure[a:b]
        _resolve_nan(names, dense, mask, unsure, notes)
    if not mask.any():
        raise LogError(source, "no values logged")
    if t.replaced[code]:
        notes.append(f"{int(t.replaced[code]):,} value(s) logged again at the same step: "
                     "kept the last")
    renamed = rename_learning_rate(names, notes)
    if None in renamed:
        kept = [i for i, n in enumerate(renamed) if n is not None]
        renamed, dense, mask = [renamed[i] for i in kept], dense[kept], mask[kept]
    xs = t.xs[x0:x1]
    epochs = xs + 1 if xs[0] == 0 else xs
    return make_run(source, renamed, dense, mask, epochs, format=FORMAT, notes=notes)


def _resolve_nan(names: list[str], dense: np.ndarray, mask: np.ndarray, unsure: np.ndarray,
                 notes: list[str]) -> None:
    """Decide which unsure NaN (a null, or NaN in a numeric column) of each metric were logged.

    The rule of :func:`diagnose.load.history.from_dataframe`, for the same
    reason (pandas writes NaN for a value missing and for a NaN logged): a
    metric's unsure NaN are logged NaN when no gap (a NaN or a step not
    logged) comes before its last number, so that a loss that blew up and
    stayed NaN stays a blow-up; otherwise they are "not logged". A metric of
    nothing but NaN is logged NaN, unless it is a validation metric (a
    ``val_*`` column of NaN is a run without validation data). Explicit
    ``nan`` text is always a NaN logged. ``mask`` is updated in place.
    """
    unlogged = []
    gap = ~mask | np.isnan(dense)
    for i, name in enumerate(names):
        cells = unsure[i] & mask[i]
        if not cells.any():
            continue
        present = np.flatnonzero(~gap[i])
        if len(present):
            logged_nan = not gap[i, :present[-1]].any()
        else:
            logged_nan = not (name.startswith(VAL_PREFIX) or "_val_" in name)
        if not logged_nan:
            mask[i, cells] = False
            unlogged.append(name)
    if unlogged:
        notes.append(f"NaN read as 'not logged' in {', '.join(map(repr, unlogged))} "
                     "(pandas writes NaN for missing values)")


# --- one row per run ---------------------------------------------------------------------

def diagnose_table(df: Any, run: str | None = "run_id", step: str | None = "step",
                   metric: str | None = "key", value: str | None = "value", *,
                   params: Any = None, **options: Any):
    """Diagnose every run of a long metric table: one row per run, as a DataFrame.

    Each run is judged by :func:`diagnose.diagnose`, the function every other
    entry point uses, with ``options`` (``monitor``, ``loss``, ``metric``,
    ``learning_rate``, ``select``, ``ignore``, ``rules``, ...).

    Args:
        df, run, step, metric, value, params: as :func:`runs_from_long`.

    Returns:
        A pandas DataFrame with the columns :data:`COLUMNS`, one row per run
        id in the order of first appearance:

        - ``run``: the run id, as in ``df``;
        - ``conditions``: the verdict, comma-joined (``"overfitting,lr_too_high"``;
          empty when the data could not support one, or on error);
        - ``healthy``: True when the verdict is ``healthy``;
        - ``finding``, ``finding_epochs``: the main finding's rule and where
          it shows (``"24-150"``, or event epochs ``"3, 7"``): the strongest
          finding of a condition in the verdict;
        - ``fix``, ``fix_text``: the main fix's action and its advice in words;
        - ``monitor``, ``best_epoch``, ``best_value``: the monitored series
          and its best;
        - ``epochs``: how many epochs the run has;
        - ``error``: why the run could not be read or judged (its other
          columns are then empty), else None.

    Raises:
        LogError: a column is missing or unusable.
        TypeError, ValueError: an option is wrong (checked before any run).
    """
    _check_options(options)
    rows = [table_row(item, rid, **options)
            for rid, item in _items(df, run, step, metric, value, params)]
    return rows_frame(rows)


def _check_options(options: Mapping[str, Any]) -> None:
    """Refuse a bad option once, up front, rather than as an error on every run."""
    from .api import LOAD_OPTIONS
    from .engine import Options
    from .load.common import check_max_bytes, check_segment

    Options.from_kwargs("diagnose_table",
                        **{k: v for k, v in options.items() if k not in LOAD_OPTIONS})
    check_segment(options.get("segment"))
    if "max_bytes" in options:
        check_max_bytes(options["max_bytes"])


def table_row(item: Run | LogError, run_id: Any = None, **options: Any) -> dict[str, Any]:
    """The row of one run: ``diagnose.diagnose(item, **options)`` made a row.

    ``item`` is what :func:`runs_from_long` yields (a Run or a LogError);
    ``run_id`` is the id shown (the Run's source by default). A LogError,
    from the table or from judging, becomes a row with ``error`` set.
    """
    from .api import diagnose

    if isinstance(item, LogError):
        return error_row(item.source if run_id is None else run_id, str(item))
    try:
        report = diagnose(item, **options)
    except LogError as exc:
        return error_row(item.source if run_id is None else run_id, str(exc))
    return report_row(report, item.source if run_id is None else run_id)


def report_row(report: Report, run_id: Any = None) -> dict[str, Any]:
    """One report as a row of :data:`COLUMNS`."""
    finding = main_finding(report)
    fix = main_fix(report, finding)
    s = report.summary
    return {
        "run": report.source if run_id is None else run_id,
        "conditions": ",".join(report.conditions),
        "healthy": report.healthy,
        "finding": finding.rule if finding else None,
        "finding_epochs": _epochs_text(finding.epochs) if finding else None,
        "fix": fix.action if fix else None,
        "fix_text": fix.text if fix else None,
        "monitor": s.get("monitor"),
        "best_epoch": _float(s.get("best_epoch")),
        "best_value": _float(s.get("best_value")),
        "epochs": int(s["epochs"]) if s.get("epochs") is not None else None,
        "error": None,
    }


def error_row(run_id: Any, message: str) -> dict[str, Any]:
    """The row of a run that could not be read or judged."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(run=run_id, conditions="", healthy=False, error=message)
    return row


def main_finding(report: Report):
    """The strongest finding of a condition in the verdict; else the strongest finding."""
    for finding in report.findings:  # strongest first
        if finding.condition in report.conditions:
            return finding
    return report.findings[0] if report.findings else None


def main_fix(report: Report, finding=None):
    """The first fix for the main finding's condition; else the first fix."""
    if finding is not None:
        for fix in report.fixes:
            if fix.condition == finding.condition:
                return fix
    return report.fixes[0] if report.fixes else None


def rows_frame(rows: list[dict[str, Any]]):
    """Rows of :data:`COLUMNS` as a DataFrame with fixed dtypes (the same for any rows)."""
    import pandas as pd

    data = {c: [r[c] for r in rows] for c in COLUMNS}
    frame = pd.DataFrame({
        "run": pd.Series(data["run"], dtype=object),
        "conditions": pd.Series(data["conditions"], dtype=object),
        "healthy": pd.Series(data["healthy"], dtype=bool),
        "finding": pd.Series(data["finding"], dtype=object),
        "finding_epochs": pd.Series(data["finding_epochs"], dtype=object),
        "fix": pd.Series(data["fix"], dtype=object),
        "fix_text": pd.Series(data["fix_text"], dtype=object),
        "monitor": pd.Series(data["monitor"], dtype=object),
        "best_epoch": pd.Series(data["best_epoch"], dtype=float),
        "best_value": pd.Series(data["best_value"], dtype=float),
        "epochs": pd.Series(data["epochs"], dtype="Int64"),
        "error": pd.Series(data["error"], dtype=object),
    })
    return frame


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _epochs_text(epochs) -> str:
    """``"24-150"`` for a span (two increasing epochs), else ``"3, 7, 9"``."""
    shown = [f"{e:.0f}" if float(e).is_integer() else f"{e:g}" for e in epochs]
    if len(shown) == 2 and epochs[1] > epochs[0]:
        return f"{shown[0]}-{shown[1]}"
    return ", ".join(shown)


# --- files -------------------------------------------------------------------------------

def read_long(path: str | os.PathLike, run: str | None = None, step: str | None = None,
              metric: str | None = None, value: str | None = None):
    """A long metric table from a CSV or Parquet file, columns renamed to MLflow's names.

    Parquet is recognized by its extension (``.parquet``, ``.parq``, ``.pq``)
    or its ``PAR1`` magic bytes, and read with pyarrow (the ``parquet`` extra);
    anything else is read as CSV (comma, semicolon or tab separated). Only the
    four columns are read; each one not given is detected (see
    :data:`CANDIDATES`). A CSV is read as pandas reads it (``NA``, empty
    cells and ``nan`` are NaN, read by the rule of :func:`runs_from_long`),
    except that run ids are read as text: ``007`` stays ``007``, ``NA`` is an id.

    Returns:
        A DataFrame with the columns ``run_id``, ``step``, ``key``, ``value``:
        what :func:`diagnose_table` and :func:`runs_from_long` take by default.

    Raises:
        LogError: the file cannot be read, or a column is missing or cannot
            be told (the message lists the columns seen).
        MissingExtra: a Parquet file and no pyarrow.
    """
    source = str(path)
    p = Path(path)
    try:
        if not p.is_file():
            raise LogError(source, "no such file" if not p.exists() else "not a regular file")
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise LogError(source, f"cannot be read ({exc.strerror or exc})") from None
    parquet = p.suffix.lower() in _PARQUET_SUFFIXES or magic == b"PAR1"
    try:
        frame = (_read_parquet if parquet else _read_csv)(p, source, run, step, metric, value)
    except LogError as exc:
        if exc.source == TABLE:  # a column error: name the file
            raise LogError(source, exc.problem, exc.where) from None
        raise
    return frame


def _rename(frame, cols: dict[str, str]):
    out = frame[[cols["run"], cols["step"], cols["metric"], cols["value"]]]
    out.columns = ["run_id", "step", "key", "value"]
    return out


def _read_parquet(p: Path, source: str, run, step, metric, value):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra("parquet", f"{source}: reading Parquet needs pyarrow") from None
    try:
        cols = detect_columns(pq.read_schema(p).names, run, step, metric, value)
        wanted = [cols["run"], cols["step"], cols["metric"], cols["value"]]
        frame = pq.read_table(p, columns=wanted).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, LogError):
            raise
        raise LogError(source, f"not a readable Parquet file ({type(exc).__name__}: "
                       f"{str(exc)[:200]})") from None
    return _rename(frame, cols)


def _read_csv(p: Path, source: str, run, step, metric, value):
    import pandas as pd

    sep = _separator(p)
    try:
        header = pd.read_csv(p, nrows=0, sep=sep)
        cols = detect_columns([str(c) for c in header.columns], run, step, metric, value)
        wanted = [cols["run"], cols["step"], cols["metric"], cols["value"]]
        # Run ids as text, so that an id keeps its spelling (007, NA); the rest as pandas
        # reads it: NA, empty cells and nan are NaN (see runs_from_long for how NaN reads).
        read = {"sep": sep, "usecols": wanted, "keep_default_na": False,
                "na_values": {c: list(_CSV_NA) for c in wanted if c != cols["run"]}}
        try:
            frame = pd.read_csv(p, dtype={cols["run"]: str, cols["value"]: float}, **read)
        except ValueError:  # text in the value column: read it as text, refused run by run
            frame = pd.read_csv(p, dtype={cols["run"]: str, cols["value"]: str}, **read)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as exc:
        if isinstance(exc, LogError):
            raise
        raise LogError(source, f"not a readable CSV file ({str(exc)[:200]})") from None
    frame[cols["run"]] = frame[cols["run"]].replace("", None)
    return _rename(frame, cols)


# What a CSV cell means by "no number" (pandas' defaults).
_CSV_NA = ("", "NA", "N/A", "n/a", "NULL", "null", "None", "<NA>", "#N/A", "nan", "NaN",
           "-nan", "-NaN")


def _separator(p: Path) -> str:
    with open(p, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline()
    return max((",", ";", "\t"), key=first.count)


__all__ = ["CANDIDATES", "COLUMNS", "detect_columns", "diagnose_table", "read_long",
           "report_row", "runs_from_long", "table_row"]
