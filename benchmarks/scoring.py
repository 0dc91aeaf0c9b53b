"""Scoring diagnoses against labels: shared by accuracy.py and realworld.py.

A label is a set of conditions (``{"healthy"}``, ``{"overfitting",
"lr_too_high"}``, or ``{"unjudgeable"}`` when the log cannot support a
verdict); a prediction is scored against it per condition
(precision/recall/F1) and as a whole (exact match, where an accepted
alternative label also counts as exact).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONDITIONS = ("overfitting", "underfitting", "lr_too_high", "lr_too_low", "healthy")


def label_set(text: str) -> frozenset[str]:
    """``"lr_too_high,overfitting"`` -> frozenset; empty text -> empty set."""
    return frozenset(c.strip() for c in text.split(",") if c.strip())


def predicted_set(conditions: Sequence[str]) -> frozenset[str]:
    """A report's conditions as a label; no verdict reads as ``unjudgeable``."""
    return frozenset(conditions) or frozenset({"unjudgeable"})


@dataclass
class Case:
    run: str
    truth: frozenset[str]
    predicted: frozenset[str]
    accepted: tuple[frozenset[str], ...] = ()
    group: str = ""
    note: str = ""

    @property
    def exact(self) -> bool:
        return self.predicted == self.truth or self.predicted in self.accepted


@dataclass
class Score:
    cases: list[Case] = field(default_factory=list)

    def per_condition(self) -> dict[str, tuple[int, int, int, float, float, float]]:
        """condition -> (support, predicted, true positives, precision, recall, F1)."""
        table = {}
        for c in CONDITIONS:
            support = sum(c in k.truth for k in self.cases)
            predicted = sum(c in k.predicted for k in self.cases)
            tp = sum(c in k.truth and c in k.predicted for k in self.cases)
            p = tp / predicted if predicted else (1.0 if not support else 0.0)
            r = tp / support if support else (1.0 if not predicted else 0.0)
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            table[c] = (support, predicted, tp, p, r, f1)
        return table

    def macro_f1(self) -> float:
        rows = self.per_condition().values()
        return sum(r[5] for r in rows) / len(CONDITIONS)

    def exact_match(self, cases: Iterable[Case] | None = None) -> tuple[int, int]:
        chosen = list(self.cases if cases is None else cases)
        return sum(k.exact for k in chosen), len(chosen)

    def healthy_false_alarms(self) -> tuple[int, int]:
        """Runs labelled healthy that were given a problem condition."""
        healthy = [k for k in self.cases if k.truth == {"healthy"}]
        alarms = sum(bool(k.predicted - {"healthy", "unjudgeable"}) for k in healthy)
        return alarms, len(healthy)

    def healthy_precision(self) -> tuple[int, int]:
        """Of the runs called healthy, how many are healthy: the trust in a clean bill."""
        called = [k for k in self.cases if k.predicted == {"healthy"}]
        return sum(k.truth == {"healthy"} for k in called), len(called)

    def confusion(self) -> str:
        """Label set (rows) against verdict set (columns), counts of runs."""
        truths = sorted({fmt_set(k.truth) for k in self.cases})
        verdicts = sorted({fmt_set(k.predicted) for k in self.cases})
        short = {v: _abbreviate(v) for v in verdicts}
        width = max(len(t) for t in truths) if truths else 5
        cols = [max(len(short[v]), 3) for v in verdicts]
        lines = [" " * width + "".join(f" {short[v]:>{c}}" for v, c in zip(verdicts, cols))]
        for t in truths:
            counts = [sum(fmt_set(k.truth) == t and fmt_set(k.predicted) == v for k in self.cases)
                      for v in verdicts]
            lines.append(f"{t:<{width}}" + "".join(f" {n or '.':>{c}}" for n, c in zip(counts, cols)))
        key = ", ".join(f"{a} = {b}" for b, a in sorted({(v, short[v]) for v in verdicts if short[v] != v}))
        return "\n".join(lines + ([f"(columns: {key})"] if key else []))

    def table(self) -> str:
        lines = [f"{'condition':<14}{'support':>8}{'predicted':>10}{'precision':>10}{'recall':>8}{'F1':>7}"]
        for c, (support, predicted, _tp, p, r, f1) in self.per_condition().items():
            lines.append(f"{c:<14}{support:>8}{predicted:>10}{p:>10.2f}{r:>8.2f}{f1:>7.2f}")
        hit, n = self.exact_match()
        alarms, healthy = self.healthy_false_alarms()
        lines.append(f"macro-F1 (5 conditions): {self.macro_f1():.3f}")
        lines.append(f"exact match: {hit}/{n} = {hit / max(n, 1):.1%}")
        lines.append(f"healthy false alarms: {alarms}/{healthy} = {alarms / max(healthy, 1):.1%}")
        right, called = self.healthy_precision()
        lines.append(f"healthy precision: {right}/{called} = {right / max(called, 1):.1%}")
        return "\n".join(lines)


def fmt_set(s: frozenset[str]) -> str:
    return ",".join(sorted(s)) or "-"


_SHORT = {"overfitting": "OF", "underfitting": "UF", "lr_too_high": "HI", "lr_too_low": "LO",
          "healthy": "OK", "unjudgeable": "?"}


def _abbreviate(label: str) -> str:
    return "+".join(_SHORT.get(c, c) for c in label.split(","))
