"""Invariants of the real-training corpus in fixtures/ (read only; never trains).

The corpus is produced by scripts/generate_fixtures.py; see fixtures/README.md.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CONDITIONS = {"healthy", "lr_too_high", "lr_too_low", "overfitting", "underfitting"}
COLUMNS = ["run", "conditions", "dataset", "task", "n_classes", "optimizer",
           "learning_rate", "epochs", "validation", "fault", "evidence"]


def _labels() -> list[dict]:
    with open(FIXTURES / "labels.tsv", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        assert reader.fieldnames == COLUMNS
        return list(reader)


LABELS = _labels()
RUNS = [r["run"] for r in LABELS]


def _json(run: str) -> dict:
    with open(FIXTURES / f"{run}.json") as fh:
        return json.load(fh)


def _csv(run: str) -> list[dict]:
    with open(FIXTURES / f"{run}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _num(cell: str) -> float:
    return float(cell)  # "nan" / "inf" parse too


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


def test_labels_parse():
    assert len(RUNS) == len(set(RUNS))
    for r in LABELS:
        conds = r["conditions"].split(",")
        assert conds == sorted(conds) and set(conds) <= CONDITIONS, r["run"]
        assert "healthy" not in conds or conds == ["healthy"], r["run"]
        assert r["task"] in ("classification", "regression")
        assert (r["n_classes"] == "") == (r["task"] == "regression")
        assert float(r["learning_rate"]) > 0 and int(r["epochs"]) > 0
        assert r["validation"] == "none" or 0 < float(r["validation"]) < 1
        assert r["fault"] and r["evidence"]


def test_every_run_has_both_files_and_nothing_else():
    listed = set(RUNS)
    for ext in ("csv", "json"):
        on_disk = {p.stem for p in FIXTURES.glob(f"*.{ext}")}
        assert on_disk == listed, f"{ext}: {sorted(on_disk ^ listed)}"


@pytest.mark.parametrize("run", RUNS)
def test_csv_and_json_hold_the_same_numbers(run):
    hist, rows = _json(run), _csv(run)
    label = next(r for r in LABELS if r["run"] == run)
    n = len(hist["loss"])
    assert n == int(label["epochs"]) == len(rows)
    assert [int(r["epoch"]) for r in rows] == list(range(n))
    for key, values in hist.items():
        assert key in rows[0], f"{key} missing from the CSV"
        cells = [r[key] for r in rows]
        if len(values) < n:  # validation_freq > 1: NA on epochs without validation
            cells = [c for c in cells if c != "NA"]
        assert len(cells) == len(values), key
        assert all(_same(_num(c), v) for c, v in zip(cells, values)), key
    for key in set(rows[0]) - set(hist) - {"epoch"}:  # e.g. val_* of a run without validation
        assert all(r[key] == "NA" for r in rows), key
    assert (label["validation"] == "none") == ("val_loss" not in hist)


def test_coverage_minimums():
    count = {c: sum(c in r["conditions"].split(",") for r in LABELS) for c in CONDITIONS}
    assert len(LABELS) >= 60
    assert all(v >= 10 for v in count.values()), count
    assert count["healthy"] >= 15, count
    assert len({r["dataset"] for r in LABELS}) >= 4
    assert {r["task"] for r in LABELS} == {"classification", "regression"}
    hists = {run: _json(run) for run in RUNS}
    no_val = [r for r in RUNS if "val_loss" not in hists[r]]
    assert len(no_val) >= 8
    no_val_conds = {c for r in LABELS if r["run"] in no_val for c in r["conditions"].split(",")}
    assert "overfitting" not in no_val_conds
    assert sum("learning_rate" in h for h in hists.values()) >= 8
    val_freq = [r for r, h in hists.items() if 0 < len(h.get("val_loss", [])) < len(h["loss"])]
    assert 2 <= len(val_freq) <= 3
    assert sum("out1_loss" in h and "out2_loss" in h for h in hists.values()) >= 2
    assert sum(r["optimizer"] == "sgd" for r in LABELS) >= 2
    # lr_too_high covers NaN/inf and instability without NaN
    high = [hists[r["run"]]["loss"] for r in LABELS if "lr_too_high" in r["conditions"]]
    assert any(not all(math.isfinite(x) for x in h) for h in high)
    assert sum(all(math.isfinite(x) for x in h) for h in high) >= 5
