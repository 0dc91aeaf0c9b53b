"""The cure-rate benchmark's judge and plans (benchmarks/cure.py, benchmarks/fixes.py).

No training here: the benchmark itself retrains (``python benchmarks/fixes.py --quick``).
These tests check that its judge is the corpus's own labelling and that a report's
fixes become the changes its text says.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from benchmarks.cure import (Job, chance_of, corpus_rows, history_of, judge, signature,
                             twin_measure)
from benchmarks.fixes import generic_plan, manual_spec, plan_for
from trainruns.specs import grid


@pytest.fixture(scope="module")
def corpus():
    return corpus_rows(), {s.run: s for s in grid()}


def test_the_judge_reproduces_the_corpus_labels(corpus):
    """Judged afresh from its CSV log against its twin, every 4th confirmed run gets
    exactly the label the corpus gave it: the benchmark's 'cured' is the corpus's 'healthy'."""
    rows, specs = corpus
    checked = 0
    for i, row in enumerate(sorted(rows.values(), key=lambda r: r["run"])):
        spec = specs[row["run"]]
        if row["status"] != "confirmed" or spec.is_twin or i % 4:
            continue
        twin = specs[spec.group + ".twin"]
        outcome = judge(row["history"], chance_of(spec), spec.validation_freq,
                        twin_measure(rows[twin.run], twin))
        assert sorted(outcome.conditions) == row["conditions"], row["run"]
        checked += 1
    assert checked > 200


def test_a_restored_best_epoch_is_judged_as_the_model_the_user_keeps(corpus):
    """An overfitting run cut at its best validation epoch no longer overfits."""
    rows, specs = corpus
    row = next(r for r in rows.values() if r["fault"] == "overfitting/big_model"
               and r["status"] == "confirmed" and r["validation_freq"] == 1)
    spec = specs[row["run"]]
    twin = specs[spec.group + ".twin"]
    t = twin_measure(rows[twin.run], twin)
    val = row["history"]["val_loss"]
    best = val.index(min(val)) + 1
    whole = judge(row["history"], chance_of(spec), 1, t)
    kept = judge(row["history"], chance_of(spec), 1, t, kept_epochs=best)
    assert "overfitting" in whole.conditions and "overfitting" not in kept.conditions
    assert kept.kept_loss == min(val) and kept.kept_epochs == best
    assert whole.kept_loss == val[-1] > kept.kept_loss


def test_history_of_reads_keras_csv_gaps_and_nan():
    text = "epoch,loss,val_loss\n0,1.5,NA\n1,nan,0.9\n"
    h = history_of(text)
    assert h["val_loss"] == [0.9] and h["loss"][0] == 1.5 and math.isnan(h["loss"][1])


def _spec(**kw):
    base = next(s for s in grid() if s.architecture == "mlp" and s.fault == "healthy/twin")
    return replace(base, **kw)


def test_manual_fixes_are_carried_out_as_their_text_says():
    s = _spec(hidden=(32, 16), dropout=0.0, l2=0.0)
    assert manual_spec(s, {"action": "add_regularization",
                           "params": {"dropout": 0.5, "l2": 1e-3}}).dropout == 0.5
    halved = manual_spec(replace(s, dropout=0.8, l2=1.0), {"action": "reduce_regularization",
                                                           "params": {"dropout_factor": 0.5,
                                                                      "l2_factor": 0.1}})
    assert (halved.dropout, halved.l2) == (0.4, 0.1)
    wider = manual_spec(replace(s, dropout=0.4, hidden=(1,)), {
        "action": "increase_capacity",
        "params": {"width_factor": 2, "min_units": 32, "dropout_factor": 0.5, "l2_factor": 0.1}})
    assert wider.hidden == (32,) and wider.dropout == 0.2
    linear = manual_spec(replace(s, architecture="linear", hidden=()),
                         {"action": "increase_capacity", "params": {"width_factor": 2}})
    assert linear.architecture == "mlp" and linear.hidden  # "or one more layer"
    assert manual_spec(s, {"action": "check_inputs", "params": {}}) is None


def test_plans_apply_automatic_fixes_first_and_one_manual_fix_otherwise():
    s = _spec()
    lower = {"action": "lower_learning_rate", "params": {"factor": 0.01}, "automatic": True}
    clip = {"action": "clip_gradients", "params": {"clipnorm": 1.0}, "automatic": True}
    check = {"action": "check_inputs", "params": {}, "automatic": False}
    wider = {"action": "increase_capacity", "params": {"width_factor": 2}, "automatic": False}
    assert plan_for(s, [lower, check, clip], only_first=True).rounds == ((lower,),)
    both = plan_for(s, [lower, check, clip], only_first=False)
    assert both.rounds == ((lower, clip),) and both.spec == s
    manual = plan_for(s, [check, wider], only_first=False)
    assert manual.rounds == () and manual.actions == ("increase_capacity",)
    mixed = plan_for(s, [wider, lower], only_first=False)  # a user does both
    assert mixed.rounds == ((lower,),) and mixed.actions == ("lower_learning_rate",
                                                              "increase_capacity")
    assert mixed.spec.hidden == tuple(2 * u for u in s.hidden)
    assert not plan_for(s, [check], only_first=False).changes_anything
    again = plan_for(s, [lower], only_first=False, base=both)  # round 2 stacks on round 1
    assert again.rounds == ((lower, clip), (lower,))


def test_the_generic_advice_is_the_peers_advice_for_the_true_condition():
    s = _spec(epochs=30)
    assert generic_plan(s, ["underfitting"], True).spec.epochs == 60
    (fix,), = generic_plan(s, ["lr_too_high", "overfitting"], True).rounds
    assert fix["action"] == "lower_learning_rate" and fix["params"]["factor"] == 0.1
    (fix,), = generic_plan(s, ["overfitting"], False).rounds
    assert fix["params"]["patience"] == 5 and fix["params"]["monitor"] == "loss"


def test_a_model_restored_to_its_first_epochs_is_not_cured(corpus):
    rows, specs = corpus
    row = next(r for r in rows.values() if r["fault"] == "healthy/twin")
    spec = specs[row["run"]]
    t = twin_measure(row, spec)
    outcome = judge(row["history"], chance_of(spec), spec.validation_freq, t, kept_epochs=1)
    assert not outcome.cured and outcome.kept_epochs == 1
    assert judge(row["history"], chance_of(spec), spec.validation_freq, t).cured


def test_a_cached_training_is_found_by_what_it_trains_not_by_its_name():
    s = _spec()
    lower = {"action": "lower_learning_rate", "params": {"factor": 0.01}, "automatic": True}
    a, b = Job(("run", "first"), s, ((lower,),)), Job(("run", "round1"), s, ((lower,),))
    assert signature(a) == signature(b)
    assert signature(a) != signature(Job(("run", "first"), s, ((dict(lower, params={"factor": 0.1}),),)))
    assert signature(a) != signature(Job(("run", "first"), replace(s, dropout=0.2), ((lower,),)))
