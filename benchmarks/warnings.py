"""How often each warning fires where it should not, and where it should.

    python -m benchmarks.warnings            # corpus, fixtures, leak fixtures, real-world logs
    python -m benchmarks.warnings --ratios   # also the validation/training ratios behind LEAK_MAX_RATIO

- ``fixtures/corpus/runs.jsonl.gz``: 1,568 real Keras runs (every one, confirmed or
  ambiguous), none of which leaks and none of which was resumed, restarted or
  cut: every warning there is a false one. Reported over all runs and over the
  runs labelled healthy.
- ``fixtures/*.csv``: the 84 fixture runs (the same: every warning is false).
- ``fixtures/leakage/``: runs made to leak (scripts/generate_leak_fixtures.py):
  the hit rate of ``possible_leakage`` per kind of leak, and its false rate on
  their honest twins.
- ``../shared/realworld``: other people's logs, when the folder is there. Any
  warning there is listed to be looked at: these logs do hold real resumes and
  a real leak or two.

The leakage threshold (diagnose.warnings.LEAK_MAX_RATIO) is read off the
``--ratios`` table: the smallest validation/training ratio any held-out run
of the corpus shows.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np

from diagnose import LogError
from diagnose.engine import Options
from diagnose.load import load
from diagnose.load.keras_csv import parse
from diagnose.report import WARNING_KINDS
from diagnose.verdict import features_of, judge

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "corpus" / "runs.jsonl.gz"
FIXTURES = ROOT / "fixtures"
LEAKAGE = FIXTURES / "leakage"
REALWORLD = ROOT.parent / "shared" / "realworld"


def corpus_runs(path: Path = CORPUS):
    """(name, conditions, Run) of every corpus run."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            yield row["run"], tuple(row["conditions"]), parse(row["csv"], row["run"])


def kinds(run) -> list[str]:
    return [w.kind for w in judge(run, Options()).warnings]


def late_ratio(run) -> tuple[float, float] | None:
    """(median validation/training ratio over the second half, share of epochs below)."""
    f = features_of(run, Options())
    if f.train is None or f.val is None:
        return None
    x, a, b = np.intersect1d(f.train.x, f.val.x, return_indices=True)
    if len(x) < 5:
        return None
    t, v = f.train.y[a], f.val.y[b]
    if not (np.all(t > 0) and np.all(v > 0)):
        return None
    half = len(x) // 2
    return float(np.median(v[half:] / t[half:])), float(np.mean(v < t))


def _rate(counter: Counter, n: int) -> str:
    if not counter:
        return "none"
    return ", ".join(f"{k} {c}/{n} ({c / n:.1%})" for k, c in sorted(counter.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratios", action="store_true", help="print the ratio distributions")
    args = parser.parse_args()

    fired, fired_healthy, n, n_healthy, n_val = Counter(), Counter(), 0, 0, 0
    ratios = []
    for name, conditions, run in corpus_runs():
        n += 1
        healthy = conditions == ("healthy",)
        n_healthy += healthy
        found = set(kinds(run))
        fired.update(found)
        if healthy:
            fired_healthy.update(found)
        r = late_ratio(run)
        if r is not None:
            n_val += 1
            ratios.append((r[0], r[1], name, conditions))
    print(f"corpus: {n} runs ({n_val} with validation to compare), none leaks or was resumed")
    print(f"  warnings on all runs:     {_rate(fired, n)}")
    print(f"  warnings on healthy runs: {_rate(fired_healthy, n_healthy)} of {n_healthy}")
    leak = fired["possible_leakage"]
    print(f"  possible_leakage false-warning rate: {leak}/{n_val} runs with validation "
          f"({leak / max(n_val, 1):.2%}); healthy {fired_healthy['possible_leakage']}/{n_healthy}")
    if args.ratios:
        ratios.sort()
        below = [r for r in ratios if r[1] >= 0.9]
        print(f"  runs with validation below training in >= 90% of epochs: {len(below)}")
        print("  smallest second-half ratios (validation/training):")
        for r, share, name, conditions in ratios[:8]:
            print(f"    {r:.3f}  below in {share:.0%}  {name} {list(conditions)}")
        confirmed = [r for r in ratios if r[3]]
        print(f"  smallest among labelled runs: {confirmed[0][0]:.3f} ({confirmed[0][2]})")

    fixtures = sorted(FIXTURES.glob("*.csv"))
    fixture_fired = Counter()
    for path in fixtures:
        fixture_fired.update(set(kinds(load(path))))
    print(f"fixtures/*.csv: {len(fixtures)} runs; warnings: {_rate(fixture_fired, len(fixtures))}")

    labels = LEAKAGE / "labels.tsv"
    if labels.exists():
        with labels.open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        per_kind: dict[str, list[bool]] = {}
        for row in rows:
            run = load(LEAKAGE / f"{row['run']}.csv")
            hit = "possible_leakage" in kinds(run)
            per_kind.setdefault(row["kind"], []).append(hit)
            if args.ratios:
                r = late_ratio(run)
                print(f"    {row['run']:28s} ratio {r[0]:.3f} below {r[1]:.0%} "
                      f"{'WARNED' if hit else ''}")
        positives = [h for k, hits in per_kind.items() if k not in ("honest", "honest_dropout")
                     for h in hits]
        honest = [h for k in ("honest", "honest_dropout") for h in per_kind.get(k, [])]
        print(f"fixtures/leakage: possible_leakage on {sum(positives)}/{len(positives)} leaking "
              f"runs ({sum(positives) / max(len(positives), 1):.0%}), "
              f"{sum(honest)}/{len(honest)} honest twins")
        for kind, hits in per_kind.items():
            print(f"    {kind:18s} {sum(hits)}/{len(hits)}")

    if (REALWORLD / "SOURCES.tsv").exists():
        with (REALWORLD / "SOURCES.tsv").open(newline="") as fh:
            sources = list(csv.DictReader(fh, delimiter="\t"))
        seen, failed, listed = Counter(), 0, []
        for row in sources:
            try:
                run = load(REALWORLD / row["file"])
            except LogError:
                failed += 1
                continue
            report = judge(run, Options())
            seen.update({w.kind for w in report.warnings})
            listed += [(row["id"], row["repo"], w) for w in report.warnings]
        total = len(sources) - failed
        print(f"realworld: {total} logs read; warnings: {_rate(seen, total)}")
        for rid, repo, w in listed:
            print(f"    {rid} {repo}: {w.kind}: {w.message[:150]}")
    print("kinds:", ", ".join(WARNING_KINDS))


if __name__ == "__main__":
    main()
