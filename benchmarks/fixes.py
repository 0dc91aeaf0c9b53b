"""Do the fixes work? Apply the report's fixes to faulty runs, retrain, count the cures.

For each faulty run of the corpus (outcome-confirmed; by default from the
held-out families, which no threshold or fix size was chosen on):

1. diagnose its CSV log, exactly as a user would;
2. **first**: apply the report's first fix alone and retrain from the same seed
   and initial weights;
3. **round 1**: apply all its automatic fixes (``diagnose.keras.apply_fixes``)
   and its first manual fix that a spec can carry out, the way its text says
   (``Dropout(0.2)`` after each hidden block; twice the units and half the
   regularization; half the dropout and L2);
4. **round 2**: when the round-1 run is still diagnosed faulty, apply the fixes
   of its new report on top, and retrain once more;
5. **generic**: the advice peers print, given the true condition: divide the
   rate by 10 (lr_too_high), multiply it by 10 (lr_too_low),
   ``EarlyStopping(patience=5)`` (overfitting), twice the epochs (underfitting).

A run is *cured* when its outcome meets the healthy criteria against the
healthy twin of its group (``trainruns.labels``: the criteria that labelled the
corpus), never by the tool's own verdict; with ``restore_best_weights`` the
epochs after the restored one are not the user's model and are not judged.
*Better* / *worse*: the monitored loss of the kept model (``val_loss``, else
``loss``; NaN counts as infinite) at least 1% below / above the faulty run's.

    python benchmarks/fixes.py            # ~130 runs, about 25 minutes on 2 cores
    python benchmarks/fixes.py --quick    # 20 runs, a few minutes
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cure import (Job, Outcome, chance_of, corpus_rows, judge,  # noqa: E402
                             retrain, twin_measure)

CONDITIONS = ("lr_too_high", "lr_too_low", "overfitting", "underfitting")
GENERIC = {
    "lr_too_high": {"action": "lower_learning_rate", "params": {"factor": 0.1}},
    "lr_too_low": {"action": "raise_learning_rate", "params": {"factor": 10.0}},
    "overfitting": {"action": "early_stopping",
                    "params": {"monitor": "val_loss", "mode": "min", "patience": 5,
                               "restore_best_weights": True}},
    "underfitting": None,  # twice the epochs: a spec change
}
# Manual fixes the benchmark can carry out on a spec; the others (check the inputs,
# check that the model can learn, run a range test) need a person.
MANUAL = ("add_regularization", "reduce_regularization", "increase_capacity")
BETTER = 0.01


def pick(rows: dict, split: str, per_fault: int, quick: bool) -> list[dict]:
    """Faulty confirmed runs: up to ``per_fault`` per way of inducing each fault, spread
    over the families in a fixed order; ``quick``: 5 per condition over the faults."""
    by_fault = defaultdict(list)
    for r in sorted(rows.values(), key=lambda r: r["run"]):
        if r["split"] == split and r["status"] == "confirmed" and r["intended"] != ["healthy"]:
            by_fault[r["fault"]].append(r)
    spread = {}
    for fault, runs in by_fault.items():
        fams = defaultdict(list)
        for r in runs:
            fams[r["family"]].append(r)
        spread[fault] = [fams[f][i] for i in range(max(map(len, fams.values())))
                         for f in sorted(fams) if i < len(fams[f])]
    if not quick:
        return [r for fault in sorted(spread) for r in spread[fault][:per_fault]]
    out = []
    for cond in CONDITIONS:  # 5 per condition, each from another family and way of inducing it
        runs = [r for f in sorted(spread) if f.startswith(cond) for r in spread[f]]
        families = sorted({r["family"] for r in runs})
        faults = sorted({r["fault"] for r in runs})
        for k in range(min(5, len(runs))):
            fam, fault = families[k % len(families)], faults[k % len(faults)]
            pool = [r for r in runs if r["family"] == fam and r not in out]
            out.append(next((r for r in pool if r["fault"] == fault), pool[0] if pool else
                            next(r for r in runs if r not in out)))
    return out


def diagnose_csv(text: str, name: str):
    from diagnose.api import diagnose
    from diagnose.load.keras_csv import parse

    return diagnose(parse(text, name))


def manual_spec(spec, fix: dict):
    """The spec with a manual fix carried out as its text says, or None if it cannot be."""
    action, params = fix["action"], fix["params"]
    if action == "add_regularization":
        return replace(spec, dropout=max(spec.dropout, params.get("dropout", 0.2)))
    if action in ("reduce_regularization", "increase_capacity"):
        spec = replace(spec, dropout=spec.dropout * params.get("dropout_factor", 1.0),
                       l2=spec.l2 * params.get("l2_factor", 1.0))
    if action == "reduce_regularization":
        return spec
    if action == "increase_capacity":
        floor = params.get("min_units", 1)
        if spec.architecture == "linear" or not spec.hidden:  # "or one more layer"
            return replace(spec, architecture="mlp" if spec.architecture == "linear"
                           else spec.architecture, hidden=(max(32, floor),))
        wider = params.get("width_factor", 2)
        return replace(spec, hidden=tuple(max(wider * u, floor) for u in spec.hidden),
                       width=max(wider * spec.width, floor))
    return None


@dataclass
class Plan:
    """What one arm changes: the spec after manual fixes, and the automatic fixes by round."""

    spec: object
    rounds: tuple = ()
    actions: tuple = ()       # the actions applied, for the per-action table

    @property
    def changes_anything(self) -> bool:
        return bool(self.actions)


def plan_for(spec, fixes: list[dict], only_first: bool, base: Plan | None = None) -> Plan:
    """Apply ``fixes`` (a report's, as dicts) on top of ``base``: its automatic fixes and
    its first manual fix the benchmark can carry out, as a user reading it would
    (``only_first``: the first fix alone)."""
    base = base or Plan(spec)
    chosen = fixes[:1] if only_first else fixes
    auto = tuple(f for f in chosen if f.get("automatic"))
    new_spec, actions = base.spec, tuple(f["action"] for f in auto)
    for f in chosen:
        changed = manual_spec(base.spec, f) if f["action"] in MANUAL else None
        if changed is not None:
            new_spec, actions = changed, actions + (f["action"],)
            break
    rounds = base.rounds + ((auto,) if auto else ())
    return Plan(new_spec, rounds, base.actions + actions)


def generic_plan(spec, truth: list[str], has_val: bool) -> Plan:
    cond = "lr_too_high" if "lr_too_high" in truth else truth[0]
    if cond == "underfitting":
        return Plan(replace(spec, epochs=2 * spec.epochs), (), ("double_epochs",))
    fix = dict(GENERIC[cond], automatic=True, text="", code="", condition=cond)
    if cond == "overfitting" and not has_val:
        fix["params"] = dict(fix["params"], monitor="loss")
    return Plan(spec, ((fix,),), (fix["action"],))


@dataclass
class Case:
    row: dict
    spec: object
    twin: dict
    chance: float
    before: Outcome
    report: object = None
    arms: dict = field(default_factory=dict)       # arm -> Outcome
    actions: dict = field(default_factory=dict)    # arm -> actions applied
    seconds: dict = field(default_factory=dict)
    twin_final: float = math.inf   # the twin's final monitored loss

    @property
    def truth(self) -> list[str]:
        return self.row["conditions"]


def _job(key, plan: Plan) -> Job:
    return Job(key, plan.spec, plan.rounds)


def _judge(case: Case, res) -> Outcome:
    if res.error:
        print(f"  retraining failed: {res.key}: {res.error}", flush=True)
        return Outcome(frozenset({"error"}), 0, 0, math.inf, math.inf)
    try:
        return judge(res.history, case.chance, case.spec.validation_freq, case.twin,
                     res.kept_epochs)
    except Exception as exc:  # one run the criteria cannot read must not lose the others
        print(f"  cannot judge {res.key}: {type(exc).__name__}: {exc}", flush=True)
        return Outcome(frozenset({"error"}), 0, 0, math.inf, math.inf)


CACHE = Path(__file__).resolve().parents[1] / ".cache" / "fixes.jsonl"


def run(cases: list[Case], jobs: int, cache: Path | None = CACHE) -> None:
    """Train every arm: first, round 1 and generic together, then round 2."""
    def progress(i, n, res):
        print(f"[{i}/{n}] {res.key[0]} {res.key[1]} {res.seconds:.1f}s", flush=True)

    plans: dict = {}
    for c in cases:
        fixes = [f.to_dict() for f in c.report.fixes]
        first, round1 = plan_for(c.spec, fixes, True), plan_for(c.spec, fixes, False)
        plans[(c.row["run"], "first")] = first
        plans[(c.row["run"], "round1")] = round1
        plans[(c.row["run"], "generic")] = generic_plan(c.spec, c.truth,
                                                        bool(c.row["validation"]))
    by_run = {c.row["run"]: c for c in cases}
    todo, same = [], {}
    for key, plan in plans.items():
        c = by_run[key[0]]
        c.actions[key[1]] = plan.actions
        if not plan.changes_anything:
            c.arms[key[1]] = c.before  # nothing to apply: the run stays as it was
        elif key[1] == "round1" and plan.actions == plans[(key[0], "first")].actions:
            same[key] = (key[0], "first")  # the first fix was the only one: same training
        else:
            todo.append(_job(key, plan))
    results = {}
    for res in retrain(todo, jobs, progress, cache):
        results[res.key] = res
        by_run[res.key[0]].arms[res.key[1]] = _judge(by_run[res.key[0]], res)
        by_run[res.key[0]].seconds[res.key[1]] = res.seconds
    for key, src in same.items():
        c = by_run[key[0]]
        c.arms["round1"], c.seconds["round1"] = c.arms["first"], 0.0
        if src in results:
            results[key] = results[src]
    # Round 2: diagnose the round-1 run as the user would and apply its fixes on top.
    todo = []
    for c in cases:
        key = (c.row["run"], "round1")
        res = results.get(key)
        if res is None or res.error or not res.csv:
            c.arms["round2"] = c.arms["round1"]
            c.actions["round2"] = c.actions["round1"]
            continue
        report = diagnose_csv(res.csv, c.row["run"] + ".round1")
        if report.healthy or not report.judged:
            c.arms["round2"], c.actions["round2"] = c.arms["round1"], c.actions["round1"]
            continue
        plan = plan_for(c.spec, [f.to_dict() for f in report.fixes], False,
                        base=plans[key])
        c.actions["round2"] = plan.actions
        if plan.actions == plans[key].actions:
            c.arms["round2"] = c.arms["round1"]
        else:
            todo.append(_job((c.row["run"], "round2"), plan))
    for res in retrain(todo, jobs, progress, cache):
        c = by_run[res.key[0]]
        c.arms["round2"], c.seconds["round2"] = _judge(c, res), res.seconds


# --- the tables ----------------------------------------------------------------------

def _condition(c: Case) -> str:
    return "lr_too_high" if "lr_too_high" in c.truth else c.truth[0]


def _better(before: Outcome, after: Outcome) -> bool:
    return after.kept_loss < (1 - BETTER) * before.kept_loss


def _worse(before: Outcome, after: Outcome) -> bool:
    return after.kept_loss > (1 + BETTER) * before.kept_loss


def _pct(k: int, n: int) -> str:
    return f"{k:>3}/{n:<3} {100 * k / n:3.0f}%" if n else "      -    "


ARMS = ("first", "round1", "round2", "generic")


def summary(cases: list[Case]) -> dict:
    """The figures of both tables, as plain numbers (``--save`` writes them)."""
    by_condition = {}
    groups = [(cond, [c for c in cases if _condition(c) == cond]) for cond in CONDITIONS]
    for name, cs in groups + [("all", cases)]:
        if not cs:
            continue
        by_condition[name] = {
            "runs": len(cs),
            **{f"cured_{arm}": sum(c.arms[arm].cured for c in cs) for arm in ARMS},
            "cured_by_manual": sum(c.arms["round2"].cured and bool(set(c.actions["round2"]) & set(MANUAL))
                                   for c in cs),
            "better": sum(_better(c.before, c.arms["round2"]) for c in cs),
            "worse": sum(_worse(c.before, c.arms["round2"]) for c in cs),
            "vs_twin": _vs_twin(cs, "round2"),
            "after_before": _after_before(cs, "round2"),
            "generic_after_before": _after_before(cs, "generic"),
            "generic_better": sum(_better(c.before, c.arms["generic"]) for c in cs),
            "generic_worse": sum(_worse(c.before, c.arms["generic"]) for c in cs),
            "generic_vs_twin": _vs_twin(cs, "generic"),
        }
    by_action: dict = {}
    for c in cases:
        fixes = c.report.fixes
        key = fixes[0].action if fixes else "(none: diagnosed healthy)"
        row = by_action.setdefault(key, {"automatic": bool(fixes and fixes[0].automatic),
                                         "runs": 0, "cured_alone": 0, "cured_2_rounds": 0,
                                         "worse_alone": 0})
        row["runs"] += 1
        row["cured_alone"] += c.arms["first"].cured
        row["cured_2_rounds"] += c.arms["round2"].cured
        row["worse_alone"] += _worse(c.before, c.arms["first"])
    minutes = {arm: round(sum(c.seconds.get(arm, 0.0) for c in cases) / 60, 1) for arm in ARMS}
    return {"by_condition": by_condition, "by_action": by_action, "training_minutes": minutes}


def table(s: dict) -> list[str]:
    lines = [f"{'condition':13} {'runs':>4}  {'first fix':>12} {'round 1':>12} {'2 rounds':>12}"
             f" {'manual':>6}  {'better':>12} {'worse':>12} {'ratio':>5} {'vs twin':>7} |"
             f" {'generic':>12} {'better':>12} {'worse':>12} {'ratio':>5} {'vs twin':>7}"]
    for name, r in s["by_condition"].items():
        n = r["runs"]
        lines.append(f"{name:13} {n:>4}  {_pct(r['cured_first'], n):>12} "
                     f"{_pct(r['cured_round1'], n):>12} {_pct(r['cured_round2'], n):>12} "
                     f"{r['cured_by_manual']:>6}  "
                     f"{_pct(r['better'], n):>12} {_pct(r['worse'], n):>12} "
                     f"{_ratio(r['after_before']):>5} {_ratio(r['vs_twin']):>7} | "
                     f"{_pct(r['cured_generic'], n):>12} {_pct(r['generic_better'], n):>12} "
                     f"{_pct(r['generic_worse'], n):>12} {_ratio(r['generic_after_before']):>5} "
                     f"{_ratio(r['generic_vs_twin']):>7}")
    m = s["training_minutes"]
    lines.append("first fix: the report's first fix alone; round 1: all its automatic fixes and its "
                 "first manual one; 2 rounds: once more when still diagnosed faulty; manual: of "
                 "those cured, how many needed a manual fix (carried out through the spec). better / "
                 "worse: after 2 rounds; ratio: median of the kept model's monitored loss after / "
                 "before; vs twin: median of it over the healthy twin's final one. generic: the "
                 "peers' advice for the true condition.")
    lines.append("minutes of training: " + ", ".join(f"{arm} {m[arm]:g}" for arm in ARMS))
    return lines


def action_table(s: dict) -> list[str]:
    lines = [f"{'first fix':34} {'runs':>4}  {'cured alone':>12} {'2 rounds':>12} {'worse':>12}"]
    for action, r in sorted(s["by_action"].items(), key=lambda kv: -kv[1]["runs"]):
        n = r["runs"]
        name = action + ("" if action.startswith("(") else
                         " (auto)" if r["automatic"] else " (manual)")
        lines.append(f"{name:34} {n:>4}  {_pct(r['cured_alone'], n):>12} "
                     f"{_pct(r['cured_2_rounds'], n):>12} {_pct(r['worse_alone'], n):>12}")
    return lines


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _after_before(cs: list[Case], arm: str) -> float | None:
    """Median of the kept model's monitored loss after / before (runs finite both times)."""
    ratios = [c.arms[arm].kept_loss / c.before.kept_loss for c in cs
              if math.isfinite(c.arms[arm].kept_loss) and math.isfinite(c.before.kept_loss)
              and c.before.kept_loss > 0]
    return statistics.median(ratios) if ratios else None


def _vs_twin(cs: list[Case], arm: str) -> float | None:
    ratios = [c.arms[arm].kept_loss / c.twin_final for c in cs
              if math.isfinite(c.arms[arm].kept_loss) and c.twin_final > 0]
    return statistics.median(ratios) if ratios else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 runs, a few minutes")
    ap.add_argument("--split", default="heldout", choices=("heldout", "calibration"))
    ap.add_argument("--per-fault", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="write per-run results here")
    ap.add_argument("--save", help="write the summary tables here (docs/cure_rates.json)")
    ap.add_argument("--no-cache", action="store_true",
                    help=f"train everything again (default: reuse the deterministic trainings "
                         f"in {CACHE.relative_to(CACHE.parents[1])})")
    args = ap.parse_args(argv)
    from trainruns.specs import grid

    t0 = time.time()
    rows = corpus_rows()
    specs = {s.run: s for s in grid()}
    cases = []
    for row in pick(rows, args.split, args.per_fault, args.quick):
        spec = specs[row["run"]]
        twin_spec = specs[spec.group + ".twin"]
        twin = twin_measure(rows[twin_spec.run], twin_spec)
        chance = chance_of(spec)
        before = judge(row["history"], chance, spec.validation_freq, twin)
        case = Case(row, spec, twin, chance, before,
                    report=diagnose_csv(row["csv"], row["run"]))
        case.twin_final = judge(rows[twin_spec.run]["history"], chance_of(twin_spec),
                                twin_spec.validation_freq, twin).kept_loss
        cases.append(case)
    print(f"{len(cases)} faulty runs from the {args.split} families", flush=True)
    run(cases, args.jobs, None if args.no_cache else CACHE)
    minutes = (time.time() - t0) / 60
    train_min = sum(sum(c.seconds.values()) for c in cases) / 60
    s = summary(cases)
    print()
    print("\n".join(table(s)))
    print()
    print("\n".join(action_table(s)))
    if args.save:
        Path(args.save).write_text(json.dumps(
            {"split": args.split, "runs": len(cases), "quick": args.quick, **s}, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps([{
            "run": c.row["run"], "fault": c.row["fault"], "truth": c.truth,
            "verdict": list(c.report.conditions),
            "fixes": [f.action for f in c.report.fixes],
            "actions": {k: list(v) for k, v in c.actions.items()},
            "before": _outcome_dict(c.before),
            "arms": {k: _outcome_dict(v) for k, v in c.arms.items()},
            "twin_final": c.twin_final} for c in cases], indent=1))
    cured = sum(c.arms["round2"].cured for c in cases)
    worse = sum(_worse(c.before, c.arms["round2"]) for c in cases)
    print(f"\n{minutes:.1f} min wall, {train_min:.1f} min of training")
    print(f"cured {cured} of {len(cases)}, worse {worse}")
    return 0


def _outcome_dict(o: Outcome) -> dict:
    return {"conditions": sorted(o.conditions), "kept_epochs": o.kept_epochs,
            "epochs_run": o.epochs_run,
            "kept_loss": o.kept_loss if math.isfinite(o.kept_loss) else None}


if __name__ == "__main__":
    raise SystemExit(main())
