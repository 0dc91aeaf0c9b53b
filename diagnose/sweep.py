"""Several runs at once: a ranking and what the differences between them say.

A sweep is a folder of runs that differ in a setting (most often the
learning rate). Pure functions over reports: one line per run with its
verdict, runs ranked by their best monitored value, and advice drawn from
how the verdicts line up with the learning rates.
"""

from __future__ import annotations

from collections.abc import Sequence

from .report import Report

_LOWER_IS_BETTER = ("loss", "error", "mae", "mse")


def _lower_is_better(monitor: str) -> bool:
    return any(word in monitor for word in _LOWER_IS_BETTER)


def ranking(reports: Sequence[Report]) -> list[Report]:
    """Runs ordered best first by their best monitored value; runs without one last.

    Runs monitoring different series are not comparable: they are grouped by
    monitor name (the most common first), each group ranked on its own.
    """
    groups: dict[str, list[Report]] = {}
    for r in reports:
        groups.setdefault(r.summary.get("monitor") or "", []).append(r)
    ordered: list[Report] = []
    for monitor, runs in sorted(groups.items(), key=lambda kv: (kv[0] == "", -len(kv[1]), kv[0])):
        sign = 1.0 if _lower_is_better(monitor) else -1.0
        ordered += sorted(runs, key=lambda r: (r.summary.get("best_value") is None,
                                               sign * (r.summary.get("best_value") or 0.0)))
    return ordered


def learning_rate_advice(reports: Sequence[Report]) -> list[str]:
    """What the runs' learning rates and verdicts say together (needs logged or given rates)."""
    with_lr = [r for r in reports if r.summary.get("learning_rate")]
    rates = {r.summary["learning_rate"] for r in with_lr}
    if len(rates) < 2:
        return []
    advice = []
    high = [r for r in with_lr if "lr_too_high" in r.conditions]
    low = [r for r in with_lr if "lr_too_low" in r.conditions]
    if high:
        floor = min(r.summary["learning_rate"] for r in high)
        advice.append(f"runs with lr >= {floor:g} were unstable (lr_too_high): {len(high)} run(s)")
    if low:
        ceiling = max(r.summary["learning_rate"] for r in low)
        advice.append(f"runs with lr <= {ceiling:g} barely moved (lr_too_low): {len(low)} run(s)")
    ranked = [r for r in ranking(with_lr) if r.summary.get("best_value") is not None]
    if ranked:
        best = ranked[0]
        advice.append(f"the best, {best.source}, used lr {best.summary['learning_rate']:g} "
                      f"({best.summary.get('monitor')} {best.summary['best_value']:.4g}, "
                      f"{', '.join(best.conditions) or 'not judged'})")
    return advice


def sweep_table(reports: Sequence[Report]) -> str:
    """The ranking as a fixed-width table, then the learning-rate advice."""
    ranked = ranking(reports)
    width = max(len(r.source) for r in ranked)
    lines = [f"{'rank':>4}  {'run':<{width}}  {'verdict':<26} {'epochs':>6}  {'best (epoch)':<22} lr"]
    for i, r in enumerate(ranked, 1):
        s = r.summary
        best = (f"{s['monitor']} {s['best_value']:.4g} ({s.get('best_epoch', 0):.0f})"
                if s.get("best_value") is not None else "-")
        lr = f"{s['learning_rate']:g}" if s.get("learning_rate") else "-"
        verdict = ", ".join(r.conditions) or "not judged"
        lines.append(f"{i:>4}  {r.source:<{width}}  {verdict:<26} {s.get('epochs', 0):>6}  {best:<22} {lr}")
    advice = learning_rate_advice(reports)
    if advice:
        lines += [""] + [f"- {a}" for a in advice]
    return "\n".join(lines) + "\n"


def sweep_dict(reports: Sequence[Report]) -> dict:
    """The sweep for the JSON output."""
    return {"ranking": [r.source for r in ranking(reports)],
            "advice": learning_rate_advice(reports)}
