"""diagnose.dask on a real cluster: two worker processes, the same results as one process.

The cluster is a ``LocalCluster`` of 2 worker processes with one thread each,
started once for the module (a few seconds); every run judged on it must
come back equal to what :func:`diagnose.diagnose` and
:func:`diagnose.table.diagnose_table` give in this process.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import diagnose.dask as ddx
from diagnose import LogError, diagnose
from diagnose.errors import MissingExtra
from diagnose.table import diagnose_table

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted(FIXTURES.glob("*.csv"))

HAS_DASK = all(importlib.util.find_spec(m) is not None for m in ("dask", "distributed"))
needs_dask = pytest.mark.skipif(
    not HAS_DASK, reason="dask[distributed] is not installed (pip install 'keras-diagnose[dask]')")


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield client


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    """Every fixture run in long form, plus what a real table also has: a run with a
    value that is not a number, values logged twice at one step, rows with no run id."""
    parts = []
    for f in FILES:
        w = pd.read_csv(f).melt(id_vars="epoch", var_name="key", value_name="value")
        parts.append(w.rename(columns={"epoch": "step"}).assign(run_id=f.stem))
    frame = pd.concat(parts, ignore_index=True)[["run_id", "step", "key", "value"]]
    frame["value"] = frame["value"].astype(object)
    extra = pd.DataFrame({"run_id": ["broken", "broken", None, "cancer_low_1e-5"],
                          "step": [0, 1, 3, 5], "key": "loss",
                          "value": [0.5, "abc", 1.0, 0.25]})
    return pd.concat([frame.iloc[:5000], extra, frame.iloc[5000:]], ignore_index=True)


@needs_dask
def test_bag_equals_one_process(client, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("epoch,loss\n0,abc\n")
    paths = [*FILES, bad]
    got = ddx.diagnose_bag(paths, npartitions=4).compute()
    assert got[:-1] == [diagnose(str(p)).to_dict() for p in FILES]
    assert got[-1] == {"source": str(bad), "error": _error(bad)}
    assert {w["nthreads"] for w in client.scheduler_info()["workers"].values()} == {1}


def _error(path) -> str:
    with pytest.raises(LogError) as err:
        diagnose(str(path))
    return str(err.value)


@needs_dask
def test_bag_glob_and_options(client):
    got = ddx.diagnose_bag(str(FIXTURES / "cancer_*.csv"), monitor="loss").compute()
    expected = sorted(FIXTURES.glob("cancer_*.csv"))
    assert [r["source"] for r in got] == [str(p) for p in expected]
    assert got == [diagnose(str(p), monitor="loss").to_dict() for p in expected]
    with pytest.raises(TypeError, match="monitr"):
        ddx.diagnose_bag(FILES, monitr="loss")


@needs_dask
@pytest.mark.parametrize("npartitions", [1, 5])
def test_table_equals_one_process(client, long, npartitions):
    import dask.dataframe as dd

    expected = diagnose_table(long)
    assert "broken" in expected["run"].tolist() and expected["error"].notna().sum() == 2
    got = ddx.diagnose_table(dd.from_pandas(long, npartitions=npartitions, sort=False))
    pd.testing.assert_frame_equal(got, expected)


@needs_dask
def test_table_from_pandas_with_options_and_detection(client, long):
    frame = long.rename(columns={"run_id": "trial", "key": "metric"})
    got = ddx.diagnose_table(frame, run=None, metric=None, npartitions=3, monitor="loss")
    expected = diagnose_table(frame, run=None, metric=None, monitor="loss")
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(LogError, match="no column 'run_id' for the run ids"):
        ddx.diagnose_table(frame)


@needs_dask
def test_table_keeps_the_last_value_logged_at_a_step(client):
    """The shuffle must not reorder a run's rows: the last of two values at a step wins."""
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    loss = np.exp(-np.arange(30) / 10) + 0.01 * rng.random(30)
    frame = pd.DataFrame({"run_id": "r", "step": np.arange(30), "key": "loss", "value": loss})
    late = frame.assign(value=frame["value"] * 100)  # logged again, later: a blow-up
    both = pd.concat([frame, late], ignore_index=True)
    got = ddx.diagnose_table(dd.from_pandas(both, npartitions=4, sort=False))
    pd.testing.assert_frame_equal(got, diagnose_table(both))
    assert got["best_value"].iloc[0] == pytest.approx(late["value"].min())


def test_without_dask_one_line_says_what_to_install(monkeypatch):
    for name in ("dask", "dask.bag", "dask.dataframe"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtra, match=r"install it with pip install "
                       r"'keras-diagnose\[dask\]'"):
        ddx.diagnose_bag(FILES)
    with pytest.raises(MissingExtra, match=r"keras-diagnose\[dask\]"):
        ddx.diagnose_table(pd.DataFrame())
