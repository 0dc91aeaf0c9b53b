"""Invariants of the calibration corpus fixtures/corpus/runs.jsonl.gz (read only).

The corpus is produced by ``python -m trainruns corpus`` (see fixtures/corpus/README.md);
these tests never train and never import ``trainruns``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus" / "runs.jsonl.gz"
CONDITIONS = {"healthy", "lr_too_high", "lr_too_low", "overfitting", "underfitting"}
SPLITS = {"calibration", "heldout"}

pytestmark = pytest.mark.skipif(
    not CORPUS.exists(), reason=f"{CORPUS} not generated (python -m trainruns corpus)")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with gzip.open(CORPUS, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_at_least_1000_confirmed_runs(rows):
    assert sum(r["status"] == "confirmed" for r in rows) >= 1000


def test_run_names_unique(rows):
    assert len({r["run"] for r in rows}) == len(rows)


def test_at_least_12_families_each_in_one_split(rows):
    split_of = {}
    for r in rows:
        assert r["split"] in SPLITS
        assert split_of.setdefault(r["family"], r["split"]) == r["split"], r["family"]
    assert len(split_of) >= 12


def test_both_splits_cover_every_condition(rows):
    got = {(r["split"], c) for r in rows if r["status"] == "confirmed" for c in r["conditions"]}
    missing = {(s, c) for s in SPLITS for c in CONDITIONS} - got
    assert not missing


def test_labels_known_and_consistent(rows):
    for r in rows:
        assert r["status"] in ("confirmed", "ambiguous"), r["run"]
        assert set(r["conditions"]) <= CONDITIONS, r["run"]
        assert set(r["intended"]) <= CONDITIONS and r["intended"], r["run"]
        assert r["why"], r["run"]
        if r["status"] == "confirmed":
            assert r["conditions"], r["run"]
            # an lr_too_high run may also overfit; otherwise the label is the intent
            extra = set(r["conditions"]) - set(r["intended"])
            assert extra <= ({"overfitting"} if r["intended"] == ["lr_too_high"] else set())


def test_every_csv_has_epoch_and_loss_columns(rows):
    for r in rows:
        table = list(csv.DictReader(io.StringIO(r["csv"])))
        assert table, r["run"]
        assert {"epoch", "loss"} <= set(table[0]), r["run"]
        assert len(table) == r["epochs"], r["run"]
        assert ("learning_rate" in table[0]) == r["lr_logged"], r["run"]


def test_every_csv_parses_with_pandas(rows):
    pd = pytest.importorskip("pandas")
    for r in rows:
        df = pd.read_csv(io.StringIO(r["csv"]))
        assert "loss" in df.columns, r["run"]
        assert len(df) == r["epochs"], r["run"]


def test_variety(rows):
    ok = [r for r in rows if r["status"] == "confirmed"]
    arch = Counter(r["architecture"] for r in ok)
    assert {"mlp", "conv1d", "conv2d", "embedding"} <= set(arch)
    assert {"lstm", "gru"} & set(arch)
    assert len({r["optimizer"] for r in ok}) >= 5
    assert any(r["validation"] is None for r in ok)
    assert any(r["validation_freq"] == 2 for r in ok)
    assert any(r["lr_logged"] for r in ok) and not all(r["lr_logged"] for r in ok)
