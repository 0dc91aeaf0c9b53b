"""How often the engine gets the labels of the real Keras fixture runs right.

For every run in ``fixtures/labels.tsv`` (real training runs with a fault
induced and confirmed by outcome; see fixtures/README.md) it diagnoses the
CSVLogger file and prints per-condition precision/recall/F1, the exact-match
rate, the macro-F1 and the healthy false-alarm rate, then the runs it got
wrong. It also checks that the History JSON of the same run gets the same
verdict as the CSV.

    python benchmarks/accuracy.py [--fixtures DIR] [--quiet]

Targets (issue 2): macro-F1 >= 0.9, healthy false alarms <= 5%.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scoring import Case, Score, fmt_set, label_set, predicted_set  # noqa: E402
from diagnose import diagnose  # noqa: E402


def evaluate(folder: Path) -> tuple[Score, list[str]]:
    score, mismatched = Score(), []
    with (folder / "labels.tsv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        report = diagnose(folder / f"{row['run']}.csv")
        score.cases.append(Case(row["run"], label_set(row["conditions"]),
                                predicted_set(report.conditions), group=row.get("dataset", ""),
                                note=row.get("fault", "")))
        twin = folder / f"{row['run']}.json"
        if twin.exists() and diagnose(twin).conditions != report.conditions:
            mismatched.append(row["run"])
    return score, mismatched


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT / "fixtures")
    parser.add_argument("--quiet", action="store_true", help="no list of wrong runs")
    args = parser.parse_args(argv)
    score, mismatched = evaluate(args.fixtures)
    print(f"runs: {len(score.cases)} (fixtures/labels.tsv)")
    print(score.table())
    print(f"CSV and JSON of the same run disagree: {len(mismatched)} {' '.join(mismatched)}")
    if not args.quiet:
        wrong = [k for k in score.cases if not k.exact]
        print(f"\nwrong ({len(wrong)}): run: predicted | label (fault)")
        for k in wrong:
            print(f"  {k.run}: {fmt_set(k.predicted)} | {fmt_set(k.truth)} ({k.note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
