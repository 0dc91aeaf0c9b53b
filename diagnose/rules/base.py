"""What a rule is, the registry of rules, and the catalogue built from them.

A rule is a small function from :class:`~diagnose.features.Features` to a
:class:`~diagnose.report.Finding` (or None), registered with :func:`rule`
under a kebab-case name, the condition it supports and its thresholds as
documented options. Its docstring is its catalogue entry: the first
paragraph says what it detects, the ``Why:`` paragraph why it matters. The
rule catalogue (``diagnose --list-rules``, docs/rules.md) is generated from
this registry, so the docs cannot drift from the code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from ..features import Features
from ..report import Finding


# Which data chose the defaults: scripts/calibrate.py searches every option on
# the calibration families of fixtures/corpus/ and keeps a default only when
# no value near it does better there; the held-out families never take part.
CALIBRATION_FAMILIES = ("blobs5, breast_cancer, digits, friedman1, moons, noisy_labels, "
                        "regression_unscaled, sequences")
CALIBRATED = f"corpus calibration families ({CALIBRATION_FAMILIES}), scripts/calibrate.py"


@dataclass(frozen=True)
class Option:
    """A rule threshold: its default, why the default is what it is, and which data chose it."""

    default: float
    doc: str
    chosen_on: str = CALIBRATED


@dataclass(frozen=True)
class Rule:
    name: str
    condition: str
    check: Callable[[Features, SimpleNamespace], Finding | None]
    options: Mapping[str, Option]

    @cached_property
    def _defaults(self) -> SimpleNamespace:
        # Built once: the rules run for every run of a sweep, almost always
        # with their defaults. (Rules read their options, never write them.)
        return SimpleNamespace(**{k: o.default for k, o in self.options.items()})

    @property
    def summary(self) -> str:
        return _doc_part(self.check, 0)

    @property
    def why(self) -> str:
        return _doc_part(self.check, 1)

    def params(self, overrides: Mapping[str, Any] | None = None) -> SimpleNamespace:
        if not overrides:
            return self._defaults
        values = {k: o.default for k, o in self.options.items()}
        for key, value in (overrides or {}).items():
            if key not in values:
                known = ", ".join(sorted(values)) or "none"
                raise ValueError(f"rule {self.name!r} has no option {key!r} (options: {known})")
            values[key] = value
        return SimpleNamespace(**values)


RULES: dict[str, Rule] = {}


def rule(name: str, condition: str, **options: Option):
    """Register a rule function under ``name``."""

    def register(check):
        if name in RULES:
            raise AssertionError(f"rule {name!r} registered twice")
        RULES[name] = Rule(name, condition, check, options)
        return check

    return register


def _doc_part(fn: Callable, index: int) -> str:
    paragraphs = [p.strip() for p in inspect.cleandoc(fn.__doc__ or "").split("\n\n")]
    if index == 0:
        return " ".join(paragraphs[0].split()) if paragraphs else ""
    for p in paragraphs:
        if p.startswith("Why:"):
            text = " ".join(p[4:].split())
            return text[:1].upper() + text[1:]
    return ""


def confidence(margin: float, full: float = 3.0) -> float:
    """Map how far evidence clears its threshold (margin >= 1) to 0.5..0.99.

    Just at the threshold a rule is as likely right as wrong; at ``full``
    times the threshold and beyond it is nearly certain.
    """
    if margin <= 1.0:
        return 0.5
    frac = min((margin - 1.0) / (full - 1.0), 1.0)
    return round(0.5 + 0.49 * frac, 2)


def epoch_str(epoch: float) -> str:
    """An epoch number as people write it (12, or 3.4 for step-logged runs)."""
    return f"{epoch:.0f}" if float(epoch).is_integer() else f"{epoch:.2f}"


def fmt(value: float) -> str:
    """A loss value with four significant digits."""
    return f"{value:.4g}"
