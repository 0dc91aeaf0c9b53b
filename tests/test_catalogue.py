"""The rule catalogue is generated from the rules and documents every option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnose.report import CONDITIONS
from diagnose.rules import RULES, catalogue_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
CURE_RATES = DOCS.with_name("cure_rates.json")


def test_docs_rules_md_is_up_to_date():
    rates = json.loads(CURE_RATES.read_text(encoding="utf-8")) if CURE_RATES.exists() else None
    assert DOCS.read_text(encoding="utf-8") == catalogue_markdown(rates), (
        "docs/rules.md is stale: run python scripts/generate_rule_docs.py")


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_is_documented(name):
    rule = RULES[name]
    assert name == name.lower() and " " not in name and "_" not in name  # kebab-case
    assert rule.condition in CONDITIONS
    assert rule.summary and rule.why, f"{name}: docstring needs a summary and a 'Why:' paragraph"
    for option in rule.options.values():
        assert len(option.doc) > 30, f"{name}: every threshold says why it is what it is"


def test_every_problem_condition_has_a_rule():
    assert {r.condition for r in RULES.values()} == set(CONDITIONS) - {"healthy"}


def test_unknown_rule_options_are_refused_with_the_known_ones():
    rule = RULES["val-loss-rising"]
    with pytest.raises(ValueError, match="min_rise"):
        rule.params({"min_raise": 0.2})
