"""``diagnose --check``: what was read, what was skipped, what to log next time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from diagnose.check import ADVICE, check
from diagnose.cli import main
from diagnose.load import load

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_every_series_is_counted_as_the_loader_read_it():
    path = FIXTURES / "kerastuner" / "random_search" / "trial_02" / "trial.json"  # NaN from 6
    info = check(str(path))
    run = load(str(path))
    by_name = {s["name"]: s for s in info["series"]}
    assert set(by_name) == set(run.names)
    for name in run.names:
        logged = run.logged[name]
        assert by_name[name]["logged"] == int(logged.sum())
        assert by_name[name]["nan_or_inf"] == int((logged & ~np.isfinite(run.series[name])).sum())
    assert by_name["loss"]["nan_or_inf"] > 0
    assert by_name["loss"]["role"] == "training loss (judged)"
    assert "monitored" in by_name["val_loss"]["role"]
    assert info["params"]["optimizer"] == "sgd" and info["verdict"] == ["lr_too_high"]


def test_advice_names_what_is_missing_and_only_that():
    no_val = check(str(FIXTURES / "digits_low_1e-5_noval.csv"))
    assert ADVICE["validation"] in no_val["next_time"]
    assert ADVICE["learning_rate"] in no_val["next_time"]
    with_rate = check(str(FIXTURES / "digits_healthy_plateau.csv"))  # ReduceLROnPlateau logged
    assert ADVICE["learning_rate"] not in with_rate["next_time"]
    assert ADVICE["validation"] not in with_rate["next_time"]


def test_the_segment_chosen_is_said():
    info = check(str(FIXTURES / "formats" / "console_keras3_v2_two_fits.log"))
    assert any("2 fit() runs" in note for note in info["read"])


def test_cli_check_text_json_and_a_bad_file(tmp_path, capsys):
    good = str(FIXTURES / "digits_overfit_noise.csv")
    assert main(["--check", good]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{good}: read as keras_csv: 60 epochs, 1 to 60")
    assert "Log next time" in out and "verdict: overfitting" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n0,abc\n")
    assert main(["--check", good, str(bad), "--format", "json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [c["source"] for c in doc["checks"]] == [good]
    assert captured.err.count("\n") == 1 and "bad.csv" in captured.err
