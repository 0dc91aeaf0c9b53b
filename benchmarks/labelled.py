"""Labelled runs for scoring and calibration: the corpus, the fixtures and the real-world logs.

Each source becomes a list of :class:`Labelled` runs whose curve features
are computed once (:func:`diagnose.verdict.features_of`); :func:`score`
then judges them under any rule thresholds without recomputing a feature,
which is what makes a threshold search over a thousand runs take seconds.

- ``fixtures/corpus/runs.jsonl.gz``: the calibration corpus (``python -m
  trainruns corpus``): real Keras runs with outcome-confirmed labels, split
  by dataset family into a calibration half and a held-out half.
- ``fixtures/``: the 84 readable fixture runs.
- ``../shared/realworld``: other people's logs with reviewers' labels,
  grouped by repository (the unit of cross-validation).
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scoring import Case, Score, label_set, predicted_set
from diagnose import LogError
from diagnose.engine import Options
from diagnose.features import Features
from diagnose.load import load
from diagnose.load.keras_csv import parse
from diagnose.verdict import conclude, features_of

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "corpus" / "runs.jsonl.gz"
FIXTURES = ROOT / "fixtures"
REALWORLD = ROOT.parent / "shared" / "realworld"


@dataclass
class Labelled:
    """One run with its label and its precomputed features."""

    run: str
    truth: frozenset[str]
    features: Features
    accepted: tuple[frozenset[str], ...] = ()
    group: str = ""  # dataset family (corpus, fixtures) or repository (real world)
    split: str = ""  # "calibration" or "heldout" (corpus only)
    confidence: str = ""  # the reviewers' "high", "medium" or "low" (real world only)
    note: str = ""


def corpus(path: Path = CORPUS) -> list[Labelled]:
    """The confirmed runs of the corpus (ambiguous ones carry no label to score)."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["status"] != "confirmed":
                continue
            run = parse(row["csv"], row["run"])
            out.append(Labelled(row["run"], frozenset(row["conditions"]),
                                features_of(run, Options()), group=row["family"],
                                split=row["split"], note=row["fault"]))
    return out


def fixtures(folder: Path = FIXTURES) -> list[Labelled]:
    """The readable fixture runs (``fixtures/labels.tsv``), judged from their CSV files."""
    out = []
    for row in _tsv(folder / "labels.tsv"):
        run = load(folder / f"{row['run']}.csv")
        out.append(Labelled(row["run"], label_set(row["conditions"]), features_of(run, Options()),
                            group=row["dataset"], note=row["fault"]))
    return out


def realworld(folder: Path = REALWORLD) -> tuple[list[Labelled], list[tuple[str, str]]]:
    """The reviewers' labelled logs, and the (id, error) of any that cannot be read."""
    sources = {row["id"]: row for row in _tsv(folder / "SOURCES.tsv")}
    out, failures = [], []
    for row in _tsv(folder / "labels.tsv"):
        source = sources.get(row["id"])
        if source is None:
            failures.append((row["id"], "not listed in SOURCES.tsv"))
            continue
        try:
            run = load(folder / source["file"])
        except LogError as exc:
            failures.append((row["id"], str(exc)))
            continue
        accepted = tuple(label_set(a) for a in row["accepted"].split("|") if a.strip())
        out.append(Labelled(row["id"], label_set(row["conditions"]), features_of(run, Options()),
                            accepted, group=source["repo"], confidence=row["confidence"],
                            note=row["note"]))
    return out, failures


def score(runs: Iterable[Labelled], rules: Mapping[str, Mapping[str, Any]] | None = None) -> Score:
    """Judge every run under the given rule thresholds and score the verdicts."""
    options = Options(rules=dict(rules or {}))
    result = Score()
    for r in runs:
        report = conclude(r.features, options)
        result.cases.append(Case(r.run, r.truth, predicted_set(report.conditions), r.accepted,
                                 r.group, r.note))
    return result


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))
