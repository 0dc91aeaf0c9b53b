"""The verdicts on runs the thresholds were not chosen on stay as good as the README says.

Scores the engine on the corpus's held-out families (real Keras runs with
outcome-confirmed labels; the thresholds were chosen on the other families
by scripts/calibrate.py) and on the 84 readable fixture runs. The floors are
the figures published in the README, rounded down: a change that loses
accuracy on unseen runs fails here, not in a user's hands.
"""

from __future__ import annotations

import pytest

from benchmarks import labelled

pytestmark = pytest.mark.skipif(not labelled.CORPUS.exists(),
                                reason=f"{labelled.CORPUS} not generated (python -m trainruns corpus)")

# Held-out families (README "How well it works").
HELD_OUT_FLOORS = {"macro_f1": 0.86, "exact": 0.85, "healthy_precision": 0.78, "min_recall": 0.70}
HELD_OUT_MAX_FALSE_ALARMS = 0.06
FIXTURES_EXACT_FLOOR = 0.89


@pytest.fixture(scope="module")
def held_out():
    return labelled.score(r for r in labelled.corpus() if r.split == "heldout")


def test_held_out_families_meet_the_published_figures(held_out):
    hit, n = held_out.exact_match()
    right, called = held_out.healthy_precision()
    recalls = {c: row[4] for c, row in held_out.per_condition().items()}
    assert held_out.macro_f1() >= HELD_OUT_FLOORS["macro_f1"]
    assert hit / n >= HELD_OUT_FLOORS["exact"]
    assert right / called >= HELD_OUT_FLOORS["healthy_precision"]
    assert min(recalls.values()) >= HELD_OUT_FLOORS["min_recall"], recalls


def test_healthy_runs_are_rarely_flagged(held_out):
    alarms, healthy = held_out.healthy_false_alarms()
    assert alarms / healthy <= HELD_OUT_MAX_FALSE_ALARMS


def test_no_regression_on_the_fixture_runs():
    hit, n = labelled.score(labelled.fixtures()).exact_match()
    assert hit / n >= FIXTURES_EXACT_FLOOR
