"""Long metric tables (diagnose.table): one row per (run, step, metric, value).

The tables are the real Keras runs of ``fixtures/*.csv`` melted to long form,
so every property is checked on real curves: the Runs equal what the wide
loaders make of the same data, and the table's rows are the verdicts
``diagnose()`` gives each run on its own.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from diagnose import LogError, diagnose
from diagnose.errors import MissingExtra
from diagnose.load import load
from diagnose.load.history import from_dataframe
from diagnose.run import Run
from diagnose.table import (
    COLUMNS,
    detect_columns,
    diagnose_table,
    read_long,
    runs_from_long,
)

from .conftest import assert_same_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted(FIXTURES.glob("*.csv"))


def melt(wide: pd.DataFrame, run_id, dropna: bool = True) -> pd.DataFrame:
    """A CSVLogger frame in long form, MLflow's column names and order."""
    long = wide.melt(id_vars="epoch", var_name="key", value_name="value")
    if dropna:
        long = long.dropna(subset=["value"])
    long = long.rename(columns={"epoch": "step"})
    long["timestamp"] = 1_700_000_000_000 + long["step"] * 1000
    long["run_id"] = run_id
    return long[["key", "value", "step", "timestamp", "run_id"]]


def long_of_run(run: Run, run_id) -> pd.DataFrame:
    """A Run as the rows a tracker logs: one per logged value (NaN and inf included)."""
    parts = []
    for name in run.names:
        logged = run.logged[name]
        values = run.series[name].copy()
        signs = run.infinite.get(name)
        if signs is not None:
            values[signs != 0] = np.inf * signs[signs != 0]
        parts.append(pd.DataFrame({"run_id": run_id, "step": run.epochs[logged] - 1,
                                   "key": name, "value": values[logged]}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def wide() -> dict[str, pd.DataFrame]:
    return {f.stem: pd.read_csv(f) for f in FILES}


@pytest.fixture(scope="module")
def long(wide) -> pd.DataFrame:
    """Every fixture run in one long table, runs one after another.

    NaN rows are kept: a run whose every value is NaN (diabetes_high_nan)
    would have no row left without them.
    """
    return pd.concat([melt(w, name, dropna=False) for name, w in wide.items()],
                     ignore_index=True)


def assert_same_logged(actual: Run, expected: Run) -> None:
    """assert_same_run, less the series never logged (a val_loss of nothing but NA has no row)."""
    def logged(run):
        names = [n for n in run.names if run.has(n)]
        return Run(run.source, run.epochs, {n: run.series[n] for n in names},
                   {n: run.logged[n] for n in names},
                   {n: v for n, v in run.infinite.items() if n in names})
    assert_same_run(logged(actual), logged(expected))


def only_runs(items) -> list[Run]:
    items = list(items)
    errors = [i for i in items if isinstance(i, LogError)]
    assert not errors, errors[:3]
    return items


# --- runs_from_long: the same Runs as the wide loaders ---------------------------------

def test_fixture_runs_equal_the_wide_dataframe_loader(wide, long):
    runs = only_runs(runs_from_long(long))
    assert [r.source for r in runs] == list(wide)  # order of first appearance
    for run in runs:
        assert_same_run(run, from_dataframe(wide[run.source]))
        assert run.format == "long_table"


def test_melted_with_or_without_dropna_gives_the_same_runs(wide):
    """NaN rows are read by from_dataframe's rule: a melt that keeps the NaN of values
    never logged (validation every other epoch, no validation at all) changes nothing.
    (Runs that logged NaN lose those values to dropna, and are left out.)"""
    names = [f.stem for f in FILES if not any(
        np.isnan(r.series[n][r.logged[n]]).any() for r in [load(str(f))] for n in r.names)]
    assert len(names) > 70
    kept = pd.concat([melt(wide[name], name, dropna=False) for name in names])
    dropped = pd.concat([melt(wide[name], name) for name in names])
    for a, b in zip(only_runs(runs_from_long(kept)), only_runs(runs_from_long(dropped)),
                    strict=True):
        assert_same_logged(a, b)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_tracker_rows_equal_the_csv_loader(path):
    """Rows as a tracker logs them (one per logged value) make the CSVLogger file's Run.

    Series the file holds but never logged (an all-NA val_loss) have no rows;
    a val_* series logged as NaN and nothing else reads as not logged, as in a
    DataFrame. The verdict is the file's either way.
    """
    csv_run = load(str(path))
    (run,) = only_runs(runs_from_long(long_of_run(csv_run, path.stem)))
    logged = [n for n in csv_run.names if csv_run.has(n)]
    assert run.names == logged
    np.testing.assert_array_equal(run.epochs, csv_run.epochs)
    for name in logged:
        np.testing.assert_array_equal(run.series[name], csv_run.series[name], err_msg=name)
        if not (name.startswith("val_") and np.isnan(csv_run.series[name]).all()):
            np.testing.assert_array_equal(run.logged[name], csv_run.logged[name], err_msg=name)
    a, b = diagnose(run), diagnose(csv_run)
    assert a.conditions == b.conditions
    assert [f.to_dict() for f in a.findings] == [f.to_dict() for f in b.findings]


def test_interleaved_rows_make_the_same_runs(long):
    """Rows of the runs interleaved (each run's own rows in their order) make the same
    Runs; the runs come in the order they first appear."""
    ids = pd.unique(long["run_id"])
    rank = dict(zip(ids, np.random.default_rng(0).permutation(len(ids))))
    mixed = (long.assign(_pos=long.groupby("run_id").cumcount(), _rank=long["run_id"].map(rank))
             .sort_values(["_pos", "_rank"], kind="stable").drop(columns=["_pos", "_rank"]))
    expected = {r.source: r for r in only_runs(runs_from_long(long))}
    runs = only_runs(runs_from_long(mixed))
    assert [r.source for r in runs] == sorted(ids, key=rank.get)
    for run in runs:
        assert_same_run(run, expected[run.source])


def test_metrics_in_the_order_they_first_appear_step_by_step():
    frame = pd.DataFrame({"run_id": "r", "step": [1, 0, 0, 1, 1],
                          "key": ["val_loss", "loss", "accuracy", "loss", "accuracy"],
                          "value": [0.9, 1.0, 0.5, 0.8, 0.6]})
    (run,) = runs_from_long(frame)
    assert run.names == ["loss", "accuracy", "val_loss"]


# --- steps, duplicates, names ------------------------------------------------------------

def frame_of(steps, values, key="loss", run_id="r"):
    return pd.DataFrame({"run_id": run_id, "step": steps, "key": key, "value": values})


@pytest.mark.parametrize("steps, epochs", [
    ([0, 1, 2, 3], [1, 2, 3, 4]),        # a 0-based counter: Keras, CSVLogger, MLflow autolog
    ([0, 5, 10, 15], [1, 6, 11, 16]),    # sparse, still from 0
    ([1, 2, 3, 4], [1, 2, 3, 4]),        # 1-based: as given
    ([3, 4, 5, 6], [3, 4, 5, 6]),        # resumed: as given
    ([10, 20, 30, 40], [10, 20, 30, 40]),
])
def test_steps_to_epochs(steps, epochs):
    (run,) = runs_from_long(frame_of(steps, [1.0, 0.8, 0.7, 0.65]))
    assert run.epochs.tolist() == epochs


def test_steps_are_the_union_over_metrics_validation_on_its_own_steps():
    frame = pd.concat([frame_of([0, 1, 2, 3], [1.0, 0.8, 0.7, 0.6]),
                       frame_of([1, 3], [0.9, 0.75], key="val_loss")])
    (run,) = runs_from_long(frame)
    assert run.epochs.tolist() == [1, 2, 3, 4]
    assert run.logged["val_loss"].tolist() == [False, True, False, True]


def test_values_logged_again_at_one_step_keep_the_last():
    frame = frame_of([0, 1, 1, 2, 1], [1.0, 0.9, 0.8, 0.7, 0.75])
    (run,) = runs_from_long(frame)
    assert run.series["loss"].tolist() == [1.0, 0.75, 0.7]
    assert any("2 value(s) logged again at the same step: kept the last" in n for n in run.notes)


def test_lr_is_learning_rate_and_epoch_is_an_x_axis():
    frame = pd.concat([frame_of([0, 1, 2], [1.0, 0.8, 0.7]),
                       frame_of([0, 1, 2], [0.1, 0.1, 0.05], key="lr"),
                       frame_of([0, 1, 2], [0.0, 1.0, 2.0], key="epoch")])
    (run,) = runs_from_long(frame)
    assert run.names == ["loss", "learning_rate"]
    assert any("'lr' read as 'learning_rate'" in n for n in run.notes)
    assert any("metric 'epoch' is an x axis" in n for n in run.notes)


def test_nan_and_inf_are_values_logged():
    frame = frame_of([0, 1, 2, 3], [1.0, 2.0, np.inf, np.nan])
    (run,) = runs_from_long(frame)
    assert run.logged["loss"].all()
    assert run.infinite["loss"].tolist() == [0, 0, 1, 0]
    assert "lr_too_high" in diagnose(run).conditions


def test_text_values_not_logged_tokens_and_numbers():
    frame = frame_of([0, 1, 2, 3, 4], ["1.0", "0.8", "NA", " 0.6 ", "nan"])
    (run,) = runs_from_long(frame)
    assert run.logged["loss"].tolist() == [True, True, False, True, True]
    np.testing.assert_array_equal(run.series["loss"], [1.0, 0.8, np.nan, 0.6, np.nan])


def test_params_from_a_mapping_or_a_frame(long):
    params = {"cancer_low_1e-5": {"learning_rate": 1e-5, "optimizer": "sgd"}}
    by_id = {r.source: r for r in runs_from_long(long, params=params)}
    assert dict(by_id["cancer_low_1e-5"].params) == params["cancer_low_1e-5"]
    assert dict(by_id["cancer_healthy_adam"].params) == {}
    table = pd.DataFrame({"run_id": ["cancer_low_1e-5"], "learning_rate": [1e-5],
                          "units": [np.int64(32)]})
    run = next(r for r in runs_from_long(long, params=table) if r.source == "cancer_low_1e-5")
    assert dict(run.params) == {"learning_rate": 1e-5, "units": 32}
    assert type(run.params["units"]) is int
    report = diagnose(run)
    assert report.summary["params"] == {"learning_rate": 1e-5, "units": 32}


# --- bad runs: a LogError in their place, the others still come --------------------------

def test_a_bad_run_is_a_logerror_in_its_place(long):
    bad = pd.DataFrame({"key": ["loss", "loss"], "value": ["0.5", "abc"], "step": [0, 1],
                        "timestamp": 0, "run_id": "broken"})
    empty = pd.DataFrame({"key": ["loss"], "value": ["NA"], "step": [0], "timestamp": 0,
                          "run_id": "empty"})
    first, last = (long[long["run_id"] == name] for name in ("cancer_healthy_adam", "wine_overfit_noise"))
    frame = pd.concat([first, bad, empty, last], ignore_index=True)
    frame["value"] = frame["value"].astype(object)
    items = list(runs_from_long(frame))
    sources = [getattr(i, "source", None) for i in items]
    assert sources[1:3] == ["broken", "empty"]
    broken, nothing = items[1], items[2]
    assert isinstance(broken, LogError) and isinstance(nothing, LogError)
    assert "'abc' is not a number" in str(broken) and "metric 'loss'" in str(broken)
    assert str(broken).startswith(f"broken: row {len(first) + 1}, metric 'loss'")
    assert "no values logged" in str(nothing)
    assert all(isinstance(i, Run) for i in items if i not in (broken, nothing))


def test_a_bad_step_and_rows_without_run_id():
    frame = pd.concat([frame_of([0, 1, 2], [1.0, 0.8, 0.7], run_id="ok"),
                       frame_of(["0", "x"], [1.0, 0.8], run_id="bad step"),
                       frame_of([0, 1], [1.0, 0.9], run_id=None)], ignore_index=True)
    items = list(runs_from_long(frame))
    assert isinstance(items[0], Run)
    assert isinstance(items[1], LogError) and "step 'x' is not a number" in str(items[1])
    assert isinstance(items[2], LogError)
    assert "2 row(s) have no run id" in str(items[2]) and len(items) == 3


# --- bad columns: one LogError before any run, naming the column -------------------------

def test_a_missing_column_is_named_with_what_was_found(long):
    frame = long.rename(columns={"run_id": "trial"})
    with pytest.raises(LogError) as err:
        runs_from_long(frame)  # raised by the call, not on the first run
    message = str(err.value)
    assert "no column 'run_id' for the run ids (run=)" in message
    assert "'key', 'value', 'step', 'timestamp', 'trial'" in message
    assert "did you mean run='trial'?" in message


def test_an_undetectable_column_lists_the_columns():
    frame = pd.DataFrame({"who": ["a"], "step": [0], "key": ["loss"], "value": [1.0]})
    with pytest.raises(LogError, match=r"cannot tell which column holds the run ids: none of "
                       r"run_id, run, .*columns found: 'who', 'step', 'key', 'value' "
                       r"\(name it with run=\)"):
        diagnose_table(frame, run=None)


@pytest.mark.parametrize("column, values, message", [
    ("step", ["a", "b"], "column 'step' (step=) holds no numbers: found 'a', 'b'"),
    ("value", ["x", "y"], "column 'value' (value=) holds no numbers: found 'x', 'y'"),
    ("value", [True, False], "column 'value' (value=) holds true/false values, not numbers"),
])
def test_a_column_that_holds_no_numbers(column, values, message):
    frame = frame_of([0, 1], [1.0, 0.9])
    frame[column] = values
    with pytest.raises(LogError) as err:
        list(runs_from_long(frame))
    assert message in str(err.value)


def test_other_column_errors():
    frame = frame_of([0, 1], [1.0, 0.9])
    with pytest.raises(LogError, match="column 'step' is used for both step= and value="):
        list(runs_from_long(frame, value="step"))
    twice = pd.concat([frame, frame[["value"]]], axis=1)
    with pytest.raises(LogError, match="column 'value' appears twice"):
        list(runs_from_long(twice))
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        list(runs_from_long({"run_id": ["a"]}))


@pytest.mark.parametrize("names, expected", [
    (["run_id", "key", "value", "step", "timestamp"], ("run_id", "step", "key", "value")),
    (["trial", "epoch", "metric", "value"], ("trial", "epoch", "metric", "value")),
    (["Run", "Global_Step", "Metric_Name", "Metric_Value"],
     ("Run", "Global_Step", "Metric_Name", "Metric_Value")),
    (["run_uuid", "_step", "name", "value", "epoch"], ("run_uuid", "epoch", "name", "value")),
    (["run_uuid", "_step", "name", "value"], ("run_uuid", "_step", "name", "value")),
    (["run", "step", "epoch", "tag", "value"], ("run", "step", "tag", "value")),
])
def test_column_detection(names, expected):
    found = detect_columns(names)
    assert (found["run"], found["step"], found["metric"], found["value"]) == expected


# --- diagnose_table: one row per run, the verdicts of diagnose() ---------------------------

def test_table_rows_are_the_verdicts_of_diagnose(wide, long):
    table = diagnose_table(long)
    assert list(table.columns) == list(COLUMNS)
    assert table["run"].tolist() == list(wide)
    for row in table.itertuples(index=False):
        report = diagnose(str(FIXTURES / f"{row.run}.csv"))
        assert row.error is None
        assert row.conditions == ",".join(report.conditions)
        assert row.healthy == (report.conditions == ("healthy",))
        strongest = [f for f in report.findings if f.condition in report.conditions]
        main = (strongest or list(report.findings) or [None])[0]
        assert row.finding == (main.rule if main else None)
        if main is not None:
            assert row.finding_epochs.replace("-", ", ").split(", ") == [
                f"{e:g}" for e in main.epochs]
            assert row.fix in [f.action for f in report.fixes]
            assert row.fix_text in [f.text for f in report.fixes]
        s = report.summary
        assert row.epochs == s["epochs"] and row.monitor == s.get("monitor")
        if s.get("best_epoch") is None:
            assert math.isnan(row.best_epoch) and math.isnan(row.best_value)
        else:
            assert row.best_epoch == s["best_epoch"] and row.best_value == s["best_value"]


def test_table_passes_options_and_checks_them_first(long):
    table = diagnose_table(long, monitor="loss", ignore="loss-flat")
    row = table.set_index("run").loc["cancer_low_1e-5"]
    report = diagnose(str(FIXTURES / "cancer_low_1e-5.csv"), monitor="loss", ignore="loss-flat")
    assert row["conditions"] == ",".join(report.conditions) and row["monitor"] == "loss"
    with pytest.raises(TypeError, match="monitr"):
        diagnose_table(long.head(0), monitr="loss")
    with pytest.raises(ValueError, match="no-such-rule"):
        diagnose_table(long, select="no-such-rule")


def test_table_error_rows(long):
    bad = frame_of([0, 1], ["0.5", "abc"], run_id="broken")
    first, last = (long[long["run_id"] == name] for name in ("cancer_healthy_adam", "wine_overfit_noise"))
    frame = pd.concat([first, bad, last], ignore_index=True)
    frame["value"] = frame["value"].astype(object)
    table = diagnose_table(frame)
    assert table["run"].tolist() == ["cancer_healthy_adam", "broken", "wine_overfit_noise"]
    row = table.iloc[1]
    assert "'abc' is not a number" in row["error"] and row["conditions"] == ""
    assert not row["healthy"] and row["finding"] is None and pd.isna(row["epochs"])
    assert table["error"].isna().tolist() == [True, False, True]


def test_empty_table_keeps_the_columns():
    table = diagnose_table(pd.DataFrame({"run_id": [], "step": [], "key": [], "value": []}))
    assert list(table.columns) == list(COLUMNS) and len(table) == 0


def test_run_ids_keep_their_type(long):
    ids = {name: i for i, name in enumerate(pd.unique(long["run_id"]))}
    numbered = long.assign(run_id=long["run_id"].map(ids))
    table = diagnose_table(numbered)
    assert table["run"].tolist() == list(range(len(ids)))
    assert table["conditions"].tolist() == diagnose_table(long)["conditions"].tolist()


# --- files: CSV and Parquet --------------------------------------------------------------

def test_csv_round_trip(tmp_path, long):
    path = tmp_path / "metrics.csv"
    long.to_csv(path, index=False)
    frame = read_long(path)
    assert list(frame.columns) == ["run_id", "step", "key", "value"]
    pd.testing.assert_frame_equal(diagnose_table(frame), diagnose_table(long))


def test_csv_detection_separators_and_ids_as_text(tmp_path, wide):
    rows = melt(wide["digits_overfit_subset"], "007").rename(
        columns={"run_id": "trial", "step": "epoch", "key": "metric"})
    path = tmp_path / "export.txt"
    rows[["trial", "epoch", "metric", "value"]].to_csv(path, index=False, sep=";")
    frame = read_long(path)
    table = diagnose_table(frame)
    assert table["run"].tolist() == ["007"]
    assert table["conditions"].tolist() == ["overfitting"]


def test_csv_cells_read_as_pandas_reads_them(tmp_path):
    """NA, empty cells and nan are NaN, read by the NaN rule; run ids are text."""
    path = tmp_path / "t.csv"
    path.write_text("run_id,step,key,value\nr,0,loss,1.0\nr,1,loss,NA\nr,2,loss,0.5\n"
                    "r,3,loss,\nr,4,loss,nan\nNA,0,loss,1\n"
                    "blown,0,loss,1.0\nblown,1,loss,0.5\nblown,2,loss,nan\nblown,3,loss,\n")
    run, named_na, blown = runs_from_long(read_long(path))
    assert run.logged["loss"].tolist() == [True, False, True, False, False]  # gaps: not logged
    assert blown.logged["loss"].tolist() == [True] * 4  # NaN to the end: a blow-up
    assert isinstance(named_na, Run) and named_na.source == "NA"  # an id, not a missing value


def test_csv_text_values_cost_their_run_only(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("run_id,step,key,value\na,0,loss,1.0\na,1,loss,0.9\nb,0,loss,1.0\n"
                    "b,1,loss,oops\n")
    a, b = runs_from_long(read_long(path))
    assert isinstance(a, Run) and a.series["loss"].tolist() == [1.0, 0.9]
    assert isinstance(b, LogError) and str(b) == "b: row 3, metric 'loss': 'oops' is not a number"


def test_parquet_round_trip(tmp_path, long):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (the parquet extra)")
    path = tmp_path / "metrics.parquet"
    long.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(diagnose_table(read_long(path)), diagnose_table(long))
    no_suffix = tmp_path / "export"  # recognized by its magic bytes
    path.rename(no_suffix)
    assert read_long(no_suffix)["run_id"].nunique() == len(FILES)


def test_parquet_detection_error_names_the_file(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (the parquet extra)")
    path = tmp_path / "m.parquet"
    pd.DataFrame({"a": [1], "b": [2]}).to_parquet(path)
    with pytest.raises(LogError) as err:
        read_long(path)
    assert str(err.value).startswith(f"{path}: cannot tell which column holds the run ids")
    assert "columns found: 'a', 'b'" in str(err.value)


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "m.parquet"
    path.write_bytes(b"PAR1....")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtra, match=r"reading Parquet needs pyarrow: install it with "
                       r"pip install 'keras-diagnose\[parquet\]'"):
        read_long(path)


def test_read_long_file_errors(tmp_path):
    with pytest.raises(LogError, match="no such file"):
        read_long(tmp_path / "missing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    if "pyarrow" in sys.modules or _has_pyarrow():
        with pytest.raises(LogError, match="not a readable Parquet file"):
            read_long(bad)
    wrong = tmp_path / "wide.csv"
    wrong.write_text("epoch,loss,val_loss\n0,1.0,1.1\n")
    with pytest.raises(LogError, match=r"wide.csv: cannot tell which column holds the run ids"):
        read_long(wrong)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True
