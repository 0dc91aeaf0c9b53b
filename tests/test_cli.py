"""The diagnose command as a user meets it: output, exit codes, errors, colour, start-up imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diagnose.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HEALTHY = FIXTURES / "digits_healthy_adam.csv"
OVERFIT = FIXTURES / "digits_overfit_subset.csv"
NAN = FIXTURES / "digits_high_sgd_nan.csv"


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diagnose", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=FIXTURES.parent)


def test_text_report_leads_with_the_verdict_and_gives_the_early_stopping_call(capsys):
    assert main([str(OVERFIT)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("overfitting")
    assert "val-loss-rising" in out
    assert 'keras.callbacks.EarlyStopping(monitor="val_loss"' in out
    assert "\033[" not in out  # not a terminal: no colour


def test_json_follows_the_contract(capsys):
    assert main(["--format", "json", str(OVERFIT), str(HEALTHY)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["conditions"] for r in doc["runs"]] == [["overfitting"], ["healthy"]]
    finding = doc["runs"][0]["findings"][0]
    assert {"rule", "condition", "epochs", "evidence", "message"} <= set(finding)
    fix = doc["runs"][0]["fixes"][0]
    assert {"action", "params", "text", "code"} <= set(fix)
    assert fix["action"] == "early_stopping" and fix["params"]["restore_best_weights"] is True
    assert doc["sweep"]["ranking"][0].endswith("digits_healthy_adam.csv")


def test_markdown_has_a_findings_table_and_fenced_code(capsys):
    main(["--format", "markdown", str(OVERFIT)])
    out = capsys.readouterr().out
    assert "| condition | rule |" in out and "```python" in out


def test_fail_on_exits_1_only_when_the_condition_is_found():
    assert main(["--fail-on", "lr_too_high", str(NAN)]) == 1
    assert main(["--fail-on", "lr_too_high,underfitting", str(HEALTHY)]) == 0


def test_unknown_fail_on_condition_is_a_usage_error(capsys):
    assert main(["--fail-on", "lr_to_high", str(HEALTHY)]) == 2
    assert "lr_to_high" in capsys.readouterr().err


def test_bad_file_among_good_ones_one_line_on_stderr_others_still_diagnosed(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("epoch,loss\n0,0.5\n1,abc\n2,0.3\n")
    result = run_cli(str(HEALTHY), str(bad), str(OVERFIT))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "broken.csv" in result.stderr and "line 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert "digits_healthy_adam.csv  healthy" in result.stdout
    assert "digits_overfit_subset.csv  overfitting" in result.stdout


def test_missing_file_is_exit_2_with_a_clear_message():
    result = run_cli("no/such/log.csv")
    assert result.returncode == 2 and "no such file" in result.stderr


def test_directory_argument_diagnoses_every_log_and_ranks_them(tmp_path):
    for src in (HEALTHY, OVERFIT):
        (tmp_path / src.name).write_bytes(src.read_bytes())
    (tmp_path / "notes.txt").write_text("not a log")
    result = run_cli(str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "rank" in result.stdout and result.stdout.count("healthy") >= 2


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    main([str(OVERFIT)])
    assert "\033[33m" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    main([str(OVERFIT)])
    assert "\033[" not in capsys.readouterr().out


def test_list_rules_prints_the_catalogue(capsys):
    assert main(["--list-rules"]) == 0
    out = capsys.readouterr().out
    assert "val-loss-rising" in out and "loss-nan" in out


def test_unknown_rule_in_select_is_a_usage_error(capsys):
    assert main(["--select", "no-such-rule", str(HEALTHY)]) == 2
    assert "no-such-rule" in capsys.readouterr().err


def test_lr_option_makes_learning_rate_fixes_absolute(capsys):
    main(["--format", "json", "--lr", "0.5", str(NAN)])
    fixes = json.loads(capsys.readouterr().out)["runs"][0]["fixes"]
    lower = next(f for f in fixes if f["action"] == "lower_learning_rate")
    assert lower["params"]["from"] == 0.5 and lower["params"]["to"] < 0.5


def test_the_command_never_imports_heavy_libraries():
    code = ("import sys; from diagnose.cli import main; main([%r]); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'pandas', 'scipy') "
            "if m in sys.modules))" % str(HEALTHY))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_no_arguments_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "give at least one log" in capsys.readouterr().err


def test_unknown_output_format_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["--format", "yaml", "x.csv"])
    assert exit_info.value.code == 2
