"""What a diagnosis says: findings, fixes and the report that holds them.

These are plain immutable values. ``Report.to_dict()`` is the stable JSON
contract of PRODUCT.md (``source``, ``conditions``, ``findings``, ``fixes``;
keys may be added, never repurposed; ``warnings`` was added for what is
wrong with the log rather than with the training, docs/warnings.md). Rendering to text and Markdown lives in
:mod:`diagnose.render`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the Run is numpy-backed; the report module stays import-light
    from .run import Run

CONDITIONS = ("overfitting", "underfitting", "lr_too_high", "lr_too_low", "healthy")
PROBLEMS = CONDITIONS[:-1]


@dataclass(frozen=True)
class Finding:
    """One thing a rule saw in the curves.

    Attributes:
        rule: kebab-case rule name (``"val-loss-rising"``).
        condition: the condition it supports (one of ``CONDITIONS``), or
            ``"info"`` for an observation that is no problem by itself.
        epochs: where it shows, as 1-based epoch numbers (first and last of a
            span, or the epochs of individual events).
        evidence: the numbers from the run that support it.
        message: one sentence a person reads.
        confidence: 0..1, how sure the rule is, from the margin by which the
            evidence clears its threshold.
        events: True when ``epochs`` are separate events (spikes at epochs 9
            and 12), not the first and last epoch of a stretch.
    """

    rule: str
    condition: str
    epochs: tuple[float, ...]
    evidence: dict[str, Any]
    message: str
    confidence: float
    events: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "condition": self.condition,
            "epochs": [_json_number(e) for e in self.epochs],
            "evidence": _jsonable(self.evidence),
            "message": self.message,
            "confidence": round(self.confidence, 2),
            "events": self.events,
        }


@dataclass(frozen=True)
class Fix:
    """A concrete change, sized to the run.

    Attributes:
        action: a short verb (``"lower_learning_rate"``, ``"early_stopping"``).
        params: what a program would apply (``{"factor": 0.1}``).
        text: the advice in words, with the run's numbers.
        code: a snippet to paste.
        condition: the condition it addresses.
        automatic: True when ``params`` is a complete change to the optimizer
            or to ``fit()``'s arguments (learning rate, clipping, callbacks,
            epochs) that a program can apply without judgment:
            :func:`diagnose.keras.apply_fixes` does. False for a change a
            person makes (more data, another architecture, dropout layers).
            The ``params`` of each action are documented in docs/fixes.md.
    """

    action: str
    params: dict[str, Any]
    text: str
    code: str
    condition: str
    automatic: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "params": _jsonable(self.params),
            "text": self.text,
            "code": self.code,
            "condition": self.condition,
            "automatic": self.automatic,
        }


# What a warning can be about (docs/warnings.md says when each is given).
WARNING_KINDS = (
    "possible_leakage",  # validation loss far below the training loss all along
    "went_back",         # an epoch or step logged again after later ones (a resume, a logging bug)
    "repeated",          # the same epoch logged twice in a row
    "restarted",         # the counter went back to the start: several runs in one log
    "skipped",           # epochs or steps missing from the middle of the log
    "malformed_rows",    # rows or records that could not be read, skipped
    "partly_logged",     # a series logged on some epochs only, on no validation_freq schedule
)


@dataclass(frozen=True)
class RunWarning:
    """Something about the log a person should check, that is no condition of the training.

    A warning never changes the verdict: the curves were judged as read. It
    says what was seen in the log and why it matters (a leak makes the
    validation curve meaningless; a resumed run's curve is spliced from two
    runs; skipped rows are missing points).

    Attributes:
        kind: one of ``WARNING_KINDS``.
        message: what was seen and why it matters, in words, with the run's numbers.
        epochs: where, as 1-based epoch numbers (the x axis of a step-logged run);
            the first and last of a stretch, or the epochs of separate events.
        evidence: the numbers behind it (counts, line numbers, ratios).
        events: True when ``epochs`` are separate places (the first missing
            epoch of each gap), not the first and last epoch of a stretch.
    """

    kind: str
    message: str
    epochs: tuple[float, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    events: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "epochs": [_json_number(e) for e in self.epochs],
            "evidence": _jsonable(self.evidence),
            "events": self.events,
        }


@dataclass(frozen=True)
class Action:
    """Something the live callback did to the training run, and why."""

    epoch: float
    action: str
    params: dict[str, Any]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": _json_number(self.epoch),
            "action": self.action,
            "params": _jsonable(self.params),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Report:
    """The diagnosis of one run.

    Attributes:
        source: path or name of the log.
        conditions: the verdict: problem conditions found, ``("healthy",)``,
            or empty when the data cannot support a verdict (see ``limitations``).
        findings: what the rules saw, strongest first.
        fixes: what to change, at least one per problem condition.
        limitations: what the data could not support (no validation data,
            too few epochs), said instead of guessed.
        notes: what was decided on the user's behalf: by the loader (segment
            chosen, columns renamed) or, live, by the callback (a learning
            rate it could not set, a cap it reached).
        summary: headline numbers of the run (epochs, best epoch, final losses).
        actions: what a live callback did during training.
        warnings: what is wrong with the log rather than with the training
            (a possible leak, a resumed or restarted counter, skipped epochs,
            malformed rows, a series logged on some epochs only); never part
            of the verdict. See :class:`RunWarning`.
        run: the run that was judged, kept so the report can be drawn
            (:meth:`plot`, the HTML page); not part of the JSON contract and
            not compared. None for a report built by hand.
    """

    source: str
    conditions: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    fixes: tuple[Fix, ...] = ()
    limitations: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    warnings: tuple[RunWarning, ...] = ()
    run: Run | None = field(default=None, compare=False, repr=False)

    @property
    def healthy(self) -> bool:
        return self.conditions == ("healthy",)

    @property
    def judged(self) -> bool:
        """False when the data could not support any verdict."""
        return bool(self.conditions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "conditions": list(self.conditions),
            "findings": [f.to_dict() for f in self.findings],
            "fixes": [f.to_dict() for f in self.fixes],
            "limitations": list(self.limitations),
            "notes": list(self.notes),
            "summary": _jsonable(self.summary),
            "actions": [a.to_dict() for a in self.actions],
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def __str__(self) -> str:
        from .render import render_text

        return render_text([self], color=False)

    def plot(self, **kwargs: Any):
        """The training curves with every finding drawn where its evidence is.

        Returns a ``matplotlib.figure.Figure`` (the ``plot`` extra:
        ``pip install keras-diagnose[plot]``); keywords go to
        :func:`diagnose.plot`. Raises ``ValueError`` when the report holds
        no run to draw (one built by hand or read back from JSON).
        """
        from .figure import plot

        return plot(self, **kwargs)

    def _repr_html_(self) -> str:
        """The report as an HTML fragment, for Jupyter: a bare ``report`` in a cell shows it.

        The figure is inline when matplotlib is installed; otherwise the
        findings and fixes alone.
        """
        from .html import report_fragment

        return report_fragment(self)


def _json_number(x: Any) -> Any:
    """Numbers as JSON has them: ints stay ints, NaN/inf become None."""
    if isinstance(x, bool) or x is None:
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    if not math.isfinite(f):
        return None
    if f.is_integer() and abs(f) < 2**53:
        return int(f)
    return float(f"{f:.6g}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):
        return value
    return _json_number(value)


def count(n: int, word: str, plural: str | None = None) -> str:
    """``count(1, "epoch")`` -> "1 epoch", ``count(3, "epoch")`` -> "3 epochs"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
