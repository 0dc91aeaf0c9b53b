"""How well the engine agrees with expert reviewers on other people's real training logs.

Runs ``diagnose`` over ``../shared/realworld/`` (logs from public
repositories, labelled by independent reviewers; see its README) and prints:
files read / failed, exact-match rate against ``labels.tsv`` (a prediction
counts as exact when it equals the consensus label or an accepted
alternative), the same on high-confidence labels, per-condition
precision/recall/F1, macro-F1 over the five conditions, healthy false
alarms, and every disagreement with both verdicts.

    python benchmarks/realworld.py [--dir PATH] [--quiet]

Skips cleanly (exit 0) when the folder is absent, as it is in CI.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import labelled  # noqa: E402
from benchmarks.scoring import fmt_set  # noqa: E402

DEFAULT_DIR = labelled.REALWORLD


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--quiet", action="store_true", help="no list of disagreements")
    args = parser.parse_args(argv)
    if not (args.dir / "labels.tsv").exists():
        print(f"realworld: {args.dir} not found; skipped")
        return 0
    runs, failures = labelled.realworld(args.dir)
    score = labelled.score(runs)
    confidence = {r.run: r.confidence for r in runs}
    total = len(score.cases) + len(failures)
    print(f"files read: {len(score.cases)}/{total}, failed: {len(failures)}")
    for run_id, error in failures:
        print(f"  FAILED {run_id}: {error}")
    print(score.table())
    high = [k for k in score.cases if confidence[k.run] == "high"]
    hit, n = score.exact_match(high)
    print(f"exact match, high-confidence labels: {hit}/{n} = {hit / max(n, 1):.1%}")
    if not args.quiet:
        print("\ndisagreements (id: predicted | label [accepted] confidence: note)")
        for k in score.cases:
            if not k.exact:
                accepted = "|".join(fmt_set(a) for a in k.accepted)
                print(f"  {k.run}: {fmt_set(k.predicted)} | {fmt_set(k.truth)} [{accepted}] "
                      f"{confidence[k.run]}: {k.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
