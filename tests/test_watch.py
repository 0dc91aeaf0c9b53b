"""``diagnose --watch``: a writer process appends a real run line by line; the watcher says
each finding once, at the epoch the live callback would, and stops or reports as asked."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from diagnose.engine import Analyzer
from diagnose.live import Notices
from diagnose.load import load

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DIVERGING = FIXTURES / "cls5_high_adam_diverge.csv"  # overfitting at 5, lr_too_high at 8
HEALTHY = FIXTURES / "digits_healthy_sgd.csv"


def callback_notices(path: Path) -> list[str]:
    """The notices the live callback would print for this run: the same epochs fed to the
    callback's streaming engine (Analyzer) one at a time."""
    run = load(str(path))
    analyzer, notices, said = Analyzer(), Notices(), []
    for i, epoch in enumerate(run.epochs):
        logs = {name: float(run.series[name][i]) for name in run.names if run.logged[name][i]}
        analyzer.add_epoch(logs, epoch)
        said += [f"Epoch {n.epoch}: {n.text}" for n in notices.update(int(epoch),
                                                                      analyzer.report())]
    return said


def start_watcher(path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "diagnose", "--watch", str(path),
                             "--interval", "0.05", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_writer(source: Path, target: Path, delay: float = 0.05,
                 then_truncate_with: Path | None = None) -> subprocess.Popen:
    """A separate process appending ``source`` to ``target`` one line at a time, as
    CSVLogger does after each epoch (optionally then starting over with another run)."""
    code = textwrap.dedent(f"""
        import time
        def write(src, mode):
            lines = open(src).read().splitlines(True)
            with open({str(target)!r}, mode) as f:
                for line in lines:
                    f.write(line); f.flush(); time.sleep({delay})
        write({str(source)!r}, "a")
        if {str(then_truncate_with)!r} != "None":
            time.sleep(0.5)
            write({str(then_truncate_with)!r}, "w")
    """)
    return subprocess.Popen([sys.executable, "-c", code])


def test_notices_are_the_callbacks_and_fail_on_exits_1_at_the_first(tmp_path):
    target = tmp_path / "training.log.csv"
    watcher = start_watcher(target, "--fail-on", "lr_too_high")
    time.sleep(0.5)  # the watcher waits for a file that is not there yet
    writer = start_writer(DIVERGING, target)
    out, err = watcher.communicate(timeout=120)
    writer.wait(timeout=60)
    expected = callback_notices(DIVERGING)
    upto = next(i for i, line in enumerate(expected) if "lr_too_high" in line)
    assert watcher.returncode == 1
    # The notices up to lr_too_high's, as the callback says them; the stop comes once the
    # verdict has held lr_too_high FAIL_PERSIST epochs (no notice is due in between).
    assert out.splitlines() == expected[:upto + 1]
    assert "not there yet" in err and "lr_too_high found (--fail-on)" in err


def test_ctrl_c_ends_with_the_report_of_what_was_read(tmp_path):
    target = tmp_path / "log.csv"
    target.write_bytes(HEALTHY.read_bytes())
    watcher = start_watcher(target)
    time.sleep(2.0)
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err
    assert out.startswith(f"{target}  healthy") and "Traceback" not in err
    assert "To keep it that way" in out


def test_a_line_caught_half_written_is_read_when_it_is_complete(tmp_path):
    target = tmp_path / "log.csv"
    lines = DIVERGING.read_text().splitlines(True)
    target.write_text("".join(lines[:4]) + lines[4][:7])  # epoch 4 cut mid-number
    watcher = start_watcher(target, "--fail-on", "lr_too_high")
    time.sleep(1.0)
    with open(target, "a") as f:
        f.write(lines[4][7:] + "".join(lines[5:]))
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1
    expected = callback_notices(DIVERGING)
    upto = next(i for i, line in enumerate(expected) if "lr_too_high" in line)
    assert out.splitlines() == expected[:upto + 1]
    assert "Error" not in err and "not a number" not in err


def test_truncation_starts_over_and_judges_the_new_run(tmp_path):
    target = tmp_path / "log.csv"
    writer = start_writer(HEALTHY, target, delay=0.02, then_truncate_with=DIVERGING)
    watcher = start_watcher(target, "--fail-on", "lr_too_high")
    out, err = watcher.communicate(timeout=120)
    writer.wait(timeout=60)
    assert watcher.returncode == 1
    assert "truncated: following it from its start" in err or "replaced" in err
    assert out.splitlines()[-1] == next(x for x in callback_notices(DIVERGING) if "lr_too_high" in x)


@pytest.mark.parametrize("args", [["a.csv", "b.csv"], ["-"]], ids=["two files", "stdin"])
def test_watch_takes_exactly_one_file(args, capsys):
    from diagnose.cli import main

    assert main(["--watch", *args]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_fail_on_waits_for_a_condition_to_hold_and_never_stops_on_underfitting(tmp_path):
    from diagnose.watch import FAIL_PERSIST, _stop_on
    from diagnose.report import Finding, Report

    def report(*conditions, rule="loss-spikes"):
        findings = tuple(Finding(rule, c, (1.0,), {}, "m", 0.9) for c in conditions)
        return Report("r", conditions, findings)

    streaks: dict = {}
    fail_on = frozenset({"lr_too_low", "underfitting"})
    said = [_stop_on(report("lr_too_low", "underfitting"), fail_on, streaks)
            for _ in range(FAIL_PERSIST)]
    assert said == [None] * (FAIL_PERSIST - 1) + ["lr_too_low"]
    streaks.clear()
    assert all(_stop_on(report("underfitting"), frozenset({"underfitting"}), streaks) is None
               for _ in range(10))
    # a blow-up stops at once
    assert _stop_on(report("lr_too_high", rule="loss-nan"), frozenset({"lr_too_high"}), {}) \
        == "lr_too_high"


def test_a_file_copied_over_in_place_is_followed_from_its_start(tmp_path):
    target = tmp_path / "log.csv"
    target.write_text("".join(HEALTHY.read_text().splitlines(True)[:6]))
    watcher = start_watcher(target, "--fail-on", "lr_too_high")
    time.sleep(1.5)
    with open(target, "r+") as f:  # same inode, new content, larger
        f.write(DIVERGING.read_text())
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1
    assert "replaced: following it from its start" in err
