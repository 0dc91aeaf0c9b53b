"""Rendering hand-built reports: numbers and fixes appear, no NaN in JSON, colour only on request."""

from __future__ import annotations

import json
import math

from diagnose.render import render_json, render_markdown, render_text
from diagnose.report import Finding, Fix, Report
from diagnose.sweep import advice, ranking

FINDING = Finding("loss-nan", "lr_too_high", (12.0,), {"first_bad_epoch": 12, "last_finite": math.nan},
                  "loss became NaN at epoch 12", 0.95)
FIX = Fix("lower_learning_rate", {"factor": 0.18, "from": 0.1, "to": 0.018},
          "Lower the learning rate from 0.1 to 0.01-0.032.", "keras.optimizers.Adam(learning_rate=0.018)",
          "lr_too_high")


def report(source="run.csv", conditions=("lr_too_high",), lr=0.1, best=0.5, findings=(FINDING,)):
    return Report(source, conditions, findings, (FIX,) if findings else (), ("no validation data",), (),
                  {"epochs": 20, "monitor": "val_loss", "best_value": best, "best_epoch": 5.0,
                   "final_value": 0.9, "learning_rate": lr})


def test_text_has_numbers_fix_and_code_without_ansi():
    text = render_text([report()], color=False)
    assert "run.csv  lr_too_high" in text and "epoch 12" in text
    assert "0.1 to 0.01-0.032" in text and "keras.optimizers.Adam(learning_rate=0.018)" in text
    assert "no validation data" in text and "\033[" not in text
    assert "\033[31m" in render_text([report()], color=True)


def test_json_never_contains_nan():
    doc = json.loads(render_json([report()], errors=[("bad.csv", "bad.csv: line 3: not a number")]))
    assert doc["runs"][0]["findings"][0]["evidence"]["last_finite"] is None
    assert doc["errors"] == [{"source": "bad.csv", "error": "bad.csv: line 3: not a number"}]


def test_markdown_has_table_and_code():
    md = render_markdown([report()])
    assert "| `lr_too_high` | `loss-nan` |" in md and "```python" in md


def test_sweep_ranks_best_first_and_relates_verdicts_to_learning_rates():
    runs = [report("a.csv", ("lr_too_high",), 0.1, 2.0),
            report("b.csv", ("healthy",), 1e-3, 0.3, ()),
            report("c.csv", ("lr_too_low",), 1e-5, 1.5, ())]
    assert [r.source for r in ranking(runs)] == ["b.csv", "c.csv", "a.csv"]
    said = " ".join(advice(runs))
    # one run each side: said of that run, not as a law about a range of rates
    assert "the run with learning_rate 0.1 was unstable (lr_too_high)" in said
    assert "the run with learning_rate 1e-05 barely moved (lr_too_low)" in said
    assert "the best, b.csv, used learning_rate 0.001" in said


def swept(name, conditions, params, best):
    return Report(name, conditions, (), (), (), (),
                  {"epochs": 10, "monitor": "val_loss", "best_value": best, "best_epoch": 4.0,
                   "params": params})


def test_sweep_advice_reads_the_hyperparameters_that_separate_the_verdicts():
    # Hand-built reports of a 6-trial search: the three fastest rates blew up.
    runs = [swept(f"t{i}", c, {"learning_rate": lr, "units": u}, b) for i, (c, lr, u, b) in
            enumerate([(("lr_too_high",), 0.3, 32, 2.0), (("lr_too_high",), 0.1, 64, 1.9),
                       (("lr_too_high",), 0.03, 32, 1.8), (("healthy",), 0.003, 64, 0.3),
                       (("healthy",), 0.001, 32, 0.35), (("lr_too_low",), 1e-5, 64, 1.2)])]
    said = advice(runs)
    assert "runs with learning_rate >= 0.03 were unstable (lr_too_high: 3 of 3)" in said
    assert "the best, t3, used learning_rate 0.003, units 64 (val_loss 0.3, healthy)" in said
    # units does not separate anything: never named as a cause
    assert not any("units >=" in line or "units <=" in line for line in said)


def test_sweep_advice_when_every_run_overfits_names_the_range_searched():
    runs = [swept(f"t{i}", ("overfitting",), {"dropout": d, "learning_rate": 1e-3}, 0.5 + d)
            for i, d in enumerate([0.0, 0.1, 0.2, 0.3])]
    said = " ".join(advice(runs))
    assert "all 4 runs show overfitting, across dropout 0-0.3: the range searched did not help" \
        in said


def test_sweep_table_shows_the_settings_that_vary():
    runs = [swept("a", ("healthy",), {"units": 32, "optimizer": "adam"}, 0.3),
            swept("b", ("overfitting",), {"units": 64, "optimizer": "adam"}, 0.4)]
    from diagnose.sweep import sweep_table

    table = sweep_table(runs)
    assert "units" in table.splitlines()[0] and "optimizer" not in table
    assert table.splitlines()[1].rstrip().endswith("32")


def test_markdown_says_what_the_callback_did_as_the_text_does():
    from diagnose.report import Action

    done = Action(7.0, "lower_learning_rate", {"factor": 0.5}, "val_loss stalled for 3 epochs")
    r = Report("live run", ("overfitting",), actions=(done,), summary={"epochs": 9})
    assert "epoch 7: lower_learning_rate - val_loss stalled for 3 epochs" in render_text([r])
    assert "- epoch 7: `lower_learning_rate` - val_loss stalled for 3 epochs" in render_markdown([r])


def test_sweep_advice_names_the_setting_the_scores_follow_when_verdicts_are_missing():
    # Hand-built: ten trials not judged (a tuner kept one epoch each); val_loss rises with the
    # learning rate, units vary at random.
    units = [32, 64, 16, 64, 32, 16, 64, 32, 16, 64]
    runs = [Report(f"t{i}", (), (), (), (), (), {"epochs": 1, "monitor": "val_loss",
                                                "best_value": 0.2 + 0.1 * i, "best_epoch": 3.0,
                                                "params": {"learning_rate": 1e-4 * 2 ** i,
                                                           "units": units[i]}})
            for i in range(10)]
    said = advice(runs)
    assert any(line.startswith("lower learning_rate scored better: across 10 runs")
               for line in said), said
    assert not any("units scored" in line for line in said)
    # too few runs to say it
    assert not any("scored better" in line for line in advice(runs[:5]))


def test_sweep_bounds_round_so_the_run_itself_stays_inside():
    from diagnose.sweep import _show

    assert _show(0.500566, "down") == "0.5" and _show(0.500566, "up") == "0.501"
    assert _show(0.00456012) == "0.00456"


def test_a_runs_name_is_not_a_setting():
    from diagnose.sweep import varying

    runs = [swept(f"r{i}", ("healthy",), {"run_name": f"bright-fox-{i}", "units": u}, 0.3)
            for i, u in enumerate([32, 64, 32])]
    assert varying(runs) == ["units"]


def test_a_score_trend_is_not_claimed_where_the_verdicts_speak():
    units = [32, 64, 16, 64, 32, 16, 64, 32, 16, 64]
    runs = [Report(f"t{i}", ("healthy",), (), (), (), (), {
        "epochs": 10, "monitor": "val_loss", "best_value": 0.2 + 0.1 * i, "best_epoch": 3.0,
        "params": {"learning_rate": 1e-4 * 2 ** i, "units": units[i]}}) for i in range(10)]
    assert not any("scored better" in line for line in advice(runs))
