"""The learning-rate sizing study: which multiple of a faulty run's rate cures it?

For confirmed lr_too_high and lr_too_low runs of the corpus's *calibration*
families only, retrain each at several multiples of its rate (same seed, same
initial weights) and judge the outcome against the healthy twin. The table says
which factor a fix should suggest; ``benchmarks/fixes.py`` then measures the
chosen sizing on the held-out families, which this study never sees.

    python scripts/size_lr.py --out /tmp/size_lr.jsonl      # ~15 min on 2 cores
    python scripts/size_lr.py --out /tmp/size_lr.jsonl --report

Resumable: finished (run, multiple) pairs already in --out are not retrained.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cure import Job, chance_of, corpus_rows, judge, retrain, twin_measure  # noqa: E402

HIGH = (1 / 10, 1 / 30, 1 / 100, 1 / 300, 1 / 1000)
LOW = (10, 30, 100, 300, 1000, 3000)


def pick(rows: dict, condition: str, per_fault: int, split: str) -> list[dict]:
    """Confirmed runs of one condition, up to ``per_fault`` for each way it was induced,
    spread over the families (round robin, in a fixed order)."""
    by_fault = defaultdict(list)
    for r in sorted(rows.values(), key=lambda r: r["run"]):
        if (r["split"] == split and r["status"] == "confirmed"
                and r["intended"] == [condition]):
            by_fault[r["fault"]].append(r)
    out = []
    for fault, runs in sorted(by_fault.items()):
        fams = defaultdict(list)
        for r in runs:
            fams[r["family"]].append(r)
        order = [r for i in range(max(map(len, fams.values())))
                 for f in sorted(fams) if i < len(fams[f]) for r in [fams[f][i]]]
        out += order[:per_fault]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/size_lr.jsonl")
    ap.add_argument("--per-fault", type=int, default=3)
    ap.add_argument("--split", default="calibration")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--report", action="store_true", help="only print the table")
    args = ap.parse_args(argv)
    from trainruns.specs import grid

    rows = corpus_rows()
    specs = {s.run: s for s in grid()}
    chosen = [(r, m) for r in pick(rows, "lr_too_high", args.per_fault, args.split) for m in HIGH]
    chosen += [(r, m) for r in pick(rows, "lr_too_low", args.per_fault, args.split) for m in LOW]
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(d["run"], d["m"]) for d in map(json.loads, out.open())}
    if not args.report:
        todo = [Job((r["run"], m), replace(specs[r["run"]],
                                          learning_rate=specs[r["run"]].learning_rate * m))
                for r, m in chosen if (r["run"], m) not in done]
        print(f"{len(chosen)} retrainings, {len(todo)} to do", flush=True)
        with out.open("a") as fh:
            for res in retrain(todo, args.jobs, lambda i, n, res: print(
                    f"[{i}/{n}] {res.key[0]} x{res.key[1]:g} {res.seconds:.1f}s", flush=True)):
                run, m = res.key
                row = rows[run]
                tw = specs[run].group + ".twin"
                twin = twin_measure(rows[tw], specs[tw])
                o = judge(res.history, chance_of(specs[run]), row["validation_freq"], twin)
                fh.write(json.dumps({"run": run, "fault": row["fault"], "family": row["family"],
                                     "m": m, "met": sorted(o.conditions),
                                     "kept_loss": o.kept_loss, "best_loss": o.best_loss,
                                     "csv": res.csv, "error": res.error}) + "\n")
                fh.flush()
    report(out)
    return 0


def report(out: Path) -> None:
    data = [json.loads(line) for line in out.open()]
    for cond, ms in (("lr_too_high", HIGH), ("lr_too_low", LOW)):
        sub = [d for d in data if d["fault"].startswith(cond)]
        faults = sorted({d["fault"] for d in sub})
        print(f"\n{cond}: cured (outcome healthy) / runs, by multiple of the faulty rate")
        print(f"{'fault':34}" + "".join(f"{m:>9.3g}" for m in ms))
        for f in faults + ["all"]:
            cells = []
            for m in ms:
                xs = [d for d in sub if d["m"] == m and (f == "all" or d["fault"] == f)]
                cured = sum(d["met"] == ["healthy"] for d in xs)
                cells.append(f"{cured:>4}/{len(xs):<4}")
            print(f"{f:34}" + "".join(f"{c:>9}" for c in cells))


if __name__ == "__main__":
    raise SystemExit(main())
