"""How often the engine's verdicts match outcome-confirmed labels, on runs it was not tuned on.

The calibration corpus (``fixtures/corpus/runs.jsonl.gz``, real Keras runs
with faults induced and confirmed by outcome; see fixtures/corpus/README.md)
is split by dataset family. The rules' thresholds are chosen on the
calibration families (``scripts/calibrate.py``); this prints the held-out
families' figures first and the calibration half's beside them, so the
generalization gap is visible: per-condition precision/recall/F1, macro-F1,
exact match, healthy false alarms, healthy precision, and the held-out
confusion table (label set against verdict set). Then the same summary for
the 84 readable fixture runs in ``fixtures/``.

    python benchmarks/accuracy.py [--corpus PATH] [--quiet]

Targets (issue 7), on the held-out families: macro-F1 >= 0.90, exact match
>= 0.85, every condition's recall >= 0.80, healthy precision >= 0.90,
healthy false alarms <= 5%.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import labelled  # noqa: E402
from benchmarks.scoring import CONDITIONS, Score, fmt_set  # noqa: E402


def side_by_side(held: Score, cal: Score) -> str:
    head = f"{'':<14}{'held-out':^33} |{'calibration':^33} |"
    sub = f"{'condition':<14}" + f"{'support':>8}{'prec':>8}{'recall':>9}{'F1':>8} |" * 2
    lines = [head, sub]
    rows_h, rows_c = held.per_condition(), cal.per_condition()
    for c in CONDITIONS:
        cells = []
        for rows in (rows_h, rows_c):
            support, _pred, _tp, p, r, f1 = rows[c]
            cells.append(f"{support:>8}{p:>8.2f}{r:>9.2f}{f1:>8.2f} |")
        lines.append(f"{c:<14}" + "".join(cells))

    def both(label: str, fn) -> str:
        return f"{label:<30}{fn(held):>20}  |{fn(cal):>20}"

    def ratio(pair: tuple[int, int]) -> str:
        a, n = pair
        return f"{a}/{n} = {a / max(n, 1):.1%}"

    lines += [
        both("macro-F1 (5 conditions)", lambda s: f"{s.macro_f1():.3f}"),
        both("exact match", lambda s: ratio(s.exact_match())),
        both("healthy false alarms", lambda s: ratio(s.healthy_false_alarms())),
        both("healthy precision", lambda s: ratio(s.healthy_precision())),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=labelled.CORPUS)
    parser.add_argument("--quiet", action="store_true", help="no list of wrong held-out runs")
    args = parser.parse_args(argv)

    if args.corpus.exists():
        runs = labelled.corpus(args.corpus)
        with gzip.open(args.corpus, "rt", encoding="utf-8") as fh:
            total = sum(1 for _ in fh)
        held = labelled.score(r for r in runs if r.split == "heldout")
        cal = labelled.score(r for r in runs if r.split == "calibration")
        families = {s: sorted({r.group for r in runs if r.split == s})
                    for s in ("heldout", "calibration")}
        print(f"corpus: {len(runs)} confirmed runs ({total - len(runs)} ambiguous, not scored)")
        print(f"  held-out families: {', '.join(families['heldout'])}")
        print(f"  calibration families: {', '.join(families['calibration'])}\n")
        print(side_by_side(held, cal))
        print("\nconfusion on the held-out families (rows: label, columns: verdict)")
        print(held.confusion())
        if not args.quiet:
            wrong = [k for k in held.cases if not k.exact]
            print(f"\nwrong on the held-out families ({len(wrong)}): run: verdict | label")
            for k in wrong:
                print(f"  {k.run}: {fmt_set(k.predicted)} | {fmt_set(k.truth)}")
    else:
        print(f"corpus: {args.corpus} not found (python -m trainruns corpus writes it)")

    fixture_score = labelled.score(labelled.fixtures())
    print(f"\nfixtures/: {len(fixture_score.cases)} runs")
    print(fixture_score.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
