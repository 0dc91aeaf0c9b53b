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


# Which data chose the defaults (docs/rules.md prints it beside each option).
# Every default was then put to scripts/calibrate.py, which searches each
# option on the corpus's calibration families; the moves it found were kept
# only if they did not lose on data the search never saw (see CALIBRATION).
FIRST_VERSION = "fixtures/ and ../shared/realworld (v1)"
THIS_VERSION = ("corpus calibration families (blobs5, breast_cancer, digits, friedman1, moons, "
                "noisy_labels, regression_unscaled, sequences), ../shared/realworld as a guard")
CALIBRATION = (
    "Every default was then searched by `scripts/calibrate.py`, option by option, on the "
    "corpus's calibration families. The moves it found on those families alone raised the "
    "healthy false alarms on the held-out families from 5.4% to 10.8% and on the real-world "
    "logs from 6.8% to 23% (they fit the way the corpus induces its faults), and with the "
    "real-world logs weighing half of the objective they gained 0.003 macro-F1 on the "
    "held-out families while losing 2 of 84 fixture runs; neither set was taken.")


@dataclass(frozen=True)
class Option:
    """A rule threshold: its default, why the default is what it is, and which data chose it."""

    default: float
    doc: str
    chosen_on: str = FIRST_VERSION


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


def share(ratio: float) -> str:
    """A ratio as people say it, before "the whole": "45% of" below ten times, then "12 times",
    "2.1e+22 times" (never "20010552716695071451250688%")."""
    if ratio < 10:
        return f"{ratio:.0%} of"
    return f"{ratio:.0f} times" if ratio < 1e4 else f"{ratio:.2g} times"


def times_said(n: int) -> str:
    """"once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(n, f"{n} times")
