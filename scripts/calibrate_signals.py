#!/usr/bin/env python3
"""Choose the signal rules' thresholds on the calibration families; measure them on held-out ones.

The rules in ``diagnose/rules/signals.py`` read the gradient norm and the
learning-rate schedule (and how the loss's zig-zag grows). Their data:

- ``fixtures/signals/runs.jsonl.gz`` (``python -m trainruns.signals``): real
  Keras runs that log ``grad_norm`` and ``learning_rate``, labelled by the
  corpus's own outcome criteria against a healthy twin. Each run is judged
  twice: as logged per epoch (its CSVLogger file) and as a Trainer-style step
  log (five rows an epoch; the engine bins it). Scored: the confirmed runs,
  and the runs of the collapsing schedules whose outcome met exactly one
  condition (there the question is whether the collapse hurt, which is what
  the outcome measures: it did, underfitting or flat, or it did not, healthy).
- ``fixtures/corpus/runs.jsonl.gz``: the corpus's confirmed runs (no gradient
  norm; a learning rate on the schedule runs), so that the rules are checked
  where their signals are absent or ordinary.
- ``../shared/realworld``: other people's logs. Never fitted: the report
  lists every verdict the new rules change there.

The search changes only the new rules' options: each over a fixed grid,
coordinate by coordinate (two passes), on the calibration families of both
sets; the objective is ``scripts/calibrate.py``'s (macro-F1 and exact match,
penalties for healthy false alarms and a healthy precision below 90%), the
mean over the three calibration sets, with each searched rule's own F1 (its
condition among the runs it fires on) as a tie-breaker a thousand times
smaller. The held-out families are only reported.

    python scripts/calibrate_signals.py            # search, then report
    python scripts/calibrate_signals.py --report   # report the shipped defaults
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import labelled  # noqa: E402
from benchmarks.labelled import Labelled  # noqa: E402
from benchmarks.scoring import Case, Score, fmt_set, predicted_set  # noqa: E402
from diagnose.engine import Options  # noqa: E402
from diagnose.load import load  # noqa: E402
from diagnose.load.keras_csv import parse  # noqa: E402
from diagnose.rules import RULES  # noqa: E402
from diagnose.rules import signals as signal_rules  # noqa: E402
from diagnose.verdict import conclude, features_of  # noqa: E402
from scripts.calibrate import objective  # noqa: E402

SIGNALS = ROOT / "fixtures" / "signals" / "runs.jsonl.gz"
NEW = tuple(name for name, r in RULES.items() if r.check.__module__ == signal_rules.__name__)
# The trainruns.signals schedules that collapse long before the end.
COLLAPSING = {"cosine_epochs", "cosine_fifth", "exp_per_step", "exp_fast"}
GRID = {
    ("grad-norm-spikes", "min_ratio"): (3, 5, 7, 10, 15, 20, 30, 50, 100),
    ("grad-norm-nonfinite", "min_points"): (1, 2, 3, 5),
    # "Vanishing": a fall of five times at least.
    ("grad-norm-vanishing", "max_fall"): (0.02, 0.05, 0.1, 0.2),
    ("grad-norm-vanishing", "max_relative"): (0.05, 0.1, 0.2, 0.3, 0.5),
    ("grad-norm-vanishing", "min_loss_kept"): (0.01, 0.02, 0.05, 0.1, 0.2),
    ("lr-schedule-collapsed", "max_fraction"): (0.005, 0.01, 0.02, 0.05),
    ("lr-schedule-collapsed", "max_position"): (0.5, 0.6, 0.7, 0.8, 0.9),
    ("lr-schedule-collapsed", "min_promise"): (0.5, 1.0, 1.5, 2.0, 3.0, 5.0),
    ("lr-schedule-collapsed", "max_realized"): (0.05, 0.1, 0.2, 0.3),
    ("lr-zero", "max_realized"): (0.05, 0.1, 0.2, 0.3),
    # Below 2, a ratio of two spreads from 8-13 points each is within chance.
    ("loss-oscillation-growing", "min_growth"): (2.0, 3.0, 4.0, 6.0),
    ("loss-oscillation-growing", "min_amplitude"): (0.02, 0.05, 0.1, 0.2, 0.3),
}


def signal_runs(path: Path = SIGNALS) -> tuple[list[Labelled], list[Labelled]]:
    """The scored signal runs, as logged per epoch and as step logs."""
    epoch, step = [], []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            outcome = frozenset(row["conditions"])
            if not (row["status"] == "confirmed"
                    or row["lr_schedule"] in COLLAPSING and len(outcome) == 1):
                continue
            for views, run in ((epoch, parse(row["csv"], row["run"])),
                               (step, load(Path(row["run"] + ".jsonl"), format_in="jsonl",
                                           data=row["steps"].encode()))):
                views.append(Labelled(row["run"], outcome, features_of(run, Options()),
                                      group=row["family"], split=row["split"], note=row["fault"]))
    return epoch, step


def judge(runs, rules=None, ignore=()) -> tuple[Score, dict[str, set[str]]]:
    """The score of the verdicts, and which new rules' findings each run's report keeps."""
    options = Options(rules=dict(rules or {}), ignore=tuple(ignore))
    score, fired = Score(), {}
    for r in runs:
        report = conclude(r.features, options)
        score.cases.append(Case(r.run, r.truth, predicted_set(report.conditions), r.accepted,
                                r.group, r.note))
        fired[r.run] = {x.rule for x in report.findings if x.rule in NEW}
    return score, fired


def rule_figures(name: str, score: Score, fired: dict) -> tuple[int, float, float]:
    """(runs it fires on, precision, recall) of one rule against its condition."""
    condition = RULES[name].condition
    hits = [k for k in score.cases if name in fired[k.run]]
    positives = [k for k in score.cases if condition in k.truth]
    tp = sum(condition in k.truth for k in hits)
    precision = tp / len(hits) if hits else float("nan")
    recall = sum(name in fired[k.run] for k in positives) / len(positives) if positives else 0.0
    return len(hits), precision, recall


def search(groups: list[list[Labelled]], passes: int = 2) -> dict[str, dict[str, float]]:
    """Coordinate search over GRID; returns every searched option's chosen value."""
    chosen: dict[str, dict[str, float]] = {}
    pooled = [r for g in groups for r in g]

    def value(trial) -> float:
        verdicts = sum(objective(judge(g, trial)[0]) for g in groups) / len(groups)
        return verdicts

    def tiebreak(trial, name) -> float:
        score, fired = judge(pooled, trial)
        n, p, r = rule_figures(name, score, fired)
        return 0.0 if n == 0 else 2 * p * r / (p + r) if p + r else 0.0

    best = value(chosen)
    print(f"start: objective {best:.4f} on {' + '.join(str(len(g)) for g in groups)} runs")
    for _ in range(passes):
        changed = False
        for (name, key), values in GRID.items():
            current = chosen.get(name, {}).get(key, RULES[name].options[key].default)
            scored = []
            for v in values:
                trial = {**chosen, name: {**chosen.get(name, {}), key: v}}
                scored.append((value(trial), tiebreak(trial, name), v))
            top = max(s[0] for s in scored)
            # Within 0.001 of the best objective, the rule's own F1 decides;
            # then the value nearest the middle of the grid (no edge chasing).
            near = [s for s in scored if s[0] >= top - 1e-3]
            pick = max(near, key=lambda s: (round(s[0] + 1e-3 * s[1], 6),
                                            -abs(values.index(s[2]) - len(values) // 2)))
            if pick[2] != current:
                print(f"  {name}.{key}: {current:g} -> {pick[2]:g} "
                      f"(objective {best:.4f} -> {pick[0]:.4f}, rule F1 {pick[1]:.2f})")
                changed = True
            chosen.setdefault(name, {})[key] = pick[2]
            best = pick[0]
        if not changed:
            break
    print(f"end: objective {best:.4f}")
    return chosen


def decided(runs, rules, name) -> tuple[int, int]:
    """(verdicts made exact, verdicts spoiled) by ``name`` alone: with every rule vs without it."""
    with_, _ = judge(runs, rules)
    without, _ = judge(runs, rules, (name,))
    gained = sum(k.exact and not k0.exact for k, k0 in zip(with_.cases, without.cases))
    lost = sum(k0.exact and not k.exact for k, k0 in zip(with_.cases, without.cases))
    return gained, lost


def report(sets: dict[str, tuple[list[Labelled], list[Labelled]]], rules, real, fixtures) -> None:
    print("\nper rule: runs fired on, precision and recall of its condition, and the exact "
          "verdicts it alone adds (+) and spoils (-) (held-out | calibration)")
    for name in NEW:
        cells = []
        for label, (held, cal) in sets.items():
            row = []
            for runs in (held, cal):
                n, p, r = rule_figures(name, *judge(runs, rules))
                plus, minus = decided(runs, rules, name)
                row.append((f"{n:>3} {p:>5.2f} {r:>5.2f}" if n else f"{0:>3}   -   {r:>5.2f}")
                           + f"  +{plus} -{minus}")
            cells.append(f"{label}: {row[0]} | {row[1]}")
        print(f"  {name} [{RULES[name].condition}]")
        for c in cells:
            print(f"      {c}")
    print("\nverdicts with the new rules (without them): macro-F1, exact match")
    for label, (held, cal) in sets.items():
        parts = []
        for half, runs in (("held-out", held), ("calibration", cal)):
            with_, _ = judge(runs, rules)
            without, _ = judge(runs, rules, NEW)
            (a, n), (b, _n) = with_.exact_match(), without.exact_match()
            parts.append(f"{half} {with_.macro_f1():.3f} ({without.macro_f1():.3f}), "
                         f"{a}/{n} ({b}/{n})")
        print(f"  {label}: " + "; ".join(parts))
    for label, runs in (("real world", real), ("fixtures/", fixtures)):
        with_, fired = judge(runs, rules)
        without, _ = judge(runs, rules, NEW)
        (a, n), (b, _n) = with_.exact_match(), without.exact_match()
        print(f"\n{label}: {len(runs)} logs; exact match {a}/{n} with the new rules, {b}/{n} "
              f"without; macro-F1 {with_.macro_f1():.3f} ({without.macro_f1():.3f})")
        for k, k0 in zip(with_.cases, without.cases):
            if fired[k.run] or k.predicted != k0.predicted:
                change = ("better" if k.exact and not k0.exact else "WORSE" if k0.exact and
                          not k.exact else "same")
                rules_fired = ", ".join(sorted(fired[k.run]))
                print(f"  {k.run}: {fmt_set(k0.predicted)} -> {fmt_set(k.predicted)} "
                      f"[{change}] label {fmt_set(k.truth)}; fired {rules_fired}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=Path, default=SIGNALS)
    parser.add_argument("--corpus", type=Path, default=labelled.CORPUS)
    parser.add_argument("--report", action="store_true", help="no search: the shipped defaults")
    args = parser.parse_args(argv)
    t0 = time.time()
    epoch, step = signal_runs(args.signals)
    corpus = labelled.corpus(args.corpus)
    split = {label: ([r for r in runs if r.split == "heldout"],
                     [r for r in runs if r.split == "calibration"])
             for label, runs in (("signals, per epoch", epoch), ("signals, step log", step),
                                 ("corpus", corpus))}
    for label, (held, cal) in split.items():
        print(f"{label}: {len(held)} held-out runs, {len(cal)} calibration runs")
    rules = None
    if not args.report:
        rules = search([cal for _held, cal in split.values()])
        print("\nchosen (the defaults in diagnose/rules/signals.py should read):")
        for name, values in rules.items():
            for key, value in values.items():
                default = RULES[name].options[key].default
                print(f"  {name}.{key} = {value:g}" + ("" if value == default
                                                     else f"  (now {default:g})"))
    real, _failures = labelled.realworld()
    report(split, rules, real, labelled.fixtures())
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
