"""Warnings about the log rather than the training (diagnose/warnings.py, docs/warnings.md).

Each warning is shown on real logs: fixtures written by real Keras runs, some
spliced the way a resume or a logging bug splices a file (rows logged again,
rows lost, a broken line), and fixtures/leakage/, runs made to leak by
scripts/generate_leak_fixtures.py. Each must stay silent on the healthy
fixtures and on the calibration corpus, and never change a verdict.
"""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import diagnose
from diagnose import LogError
from diagnose.engine import Options
from diagnose.html import render_html, report_fragment
from diagnose.load import load
from diagnose.load.keras_console import parse as parse_console
from diagnose.load.keras_csv import parse as parse_csv
from diagnose.render import render_json, render_markdown, render_text
from diagnose.report import WARNING_KINDS, Report, RunWarning
from diagnose.run import Run
from diagnose.verdict import conclude, features_of, judge
from diagnose.warnings import LEAK_MAX_RATIO, check

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
FORMATS = FIXTURES / "formats"
LEAKAGE = FIXTURES / "leakage"
CORPUS = FIXTURES / "corpus" / "runs.jsonl.gz"
HEALTHY = sorted(FIXTURES.glob("*.csv"))


def kinds(report_or_run) -> list[str]:
    report = report_or_run if isinstance(report_or_run, Report) else judge(report_or_run, Options())
    return [w.kind for w in report.warnings]


def the(report: Report, kind: str) -> RunWarning:
    found = [w for w in report.warnings if w.kind == kind]
    assert len(found) == 1, [w.kind for w in report.warnings]
    return found[0]


def csv_lines(name: str = "digits_healthy_adam.csv") -> list[str]:
    """A real CSVLogger file's lines: a header, then epochs 0.. (30 of them)."""
    return (FIXTURES / name).read_text().splitlines()


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


# --- epochs or steps going back, repeated, restarted ------------------------------------------

def test_a_resumed_csvlogger_file_warns_went_back_and_keeps_its_note(tmp_path):
    lines = csv_lines()
    # Training crashed after epoch 20 (0-based 19) and resumed from the checkpoint of
    # epoch 15: CSVLogger(append=True) logs epochs 15.. again after 19.
    resumed = lines[:21] + lines[16:]
    report = diagnose.diagnose(write(tmp_path, "resumed.csv", resumed))
    w = the(report, "went_back")
    assert w.epochs == (16.0, 20.0)  # the Run's 1-based epochs, as the report counts them
    assert "went back from 20 to 16" in w.message and "line 22" in w.message
    assert "resumed from a checkpoint" in w.message and "later values are used" in w.message
    assert w.evidence["from"] == 20 and w.evidence["to"] == 16
    assert any("logged again" in note for note in report.notes)  # what the loader decided


def test_an_epoch_logged_twice_in_a_row_warns_repeated(tmp_path):
    lines = csv_lines()
    report = diagnose.diagnose(write(tmp_path, "twice.csv", lines[:11] + lines[10:]))
    w = the(report, "repeated")
    assert w.epochs == (10.0,) and "epoch 10 was logged twice" in w.message
    assert "went_back" not in kinds(report)


def test_appended_runs_warn_restarted_naming_the_runs_and_the_one_judged(tmp_path):
    first, second = csv_lines("digits_healthy_adam.csv"), csv_lines("digits_healthy_sgd.csv")
    path = write(tmp_path, "appended.csv", first + second[1:])  # CSVLogger(append=True)
    w = the(diagnose.diagnose(path), "restarted")
    assert "holds 2 runs" in w.message and "Only the last" in w.message and "segment=N" in w.message
    assert w.evidence == {"runs": 2}
    assert "segment=0" in the(diagnose.diagnose(path, segment=0), "restarted").message


def test_the_trainer_state_resumed_fixture_warns_with_its_steps():
    plain = diagnose.diagnose(FORMATS / "trainer_state.json")
    resumed = diagnose.diagnose(FORMATS / "trainer_state_resumed.json")
    assert "went_back" not in kinds(plain)
    w = the(resumed, "went_back")
    assert "step went back from 92 to 84" in w.message and "steps 84-92" in w.message
    assert w.evidence["from"] == 92 and w.evidence["to"] == 84
    assert len(w.epochs) == 2 and w.epochs[0] <= w.epochs[1]  # on the run's (epoch) axis


def test_two_fits_in_one_console_capture_warn_restarted():
    report = diagnose.diagnose(FORMATS / "console_keras3_v2_two_fits.log")
    w = the(report, "restarted")
    assert "holds 2 runs" in w.message and "epochs 1-6, epochs 1-8" in w.message


def test_a_console_fit_resumed_with_initial_epoch_warns_went_back():
    line = "5/5 - 0s - loss: {:.4f} - val_loss: {:.4f}\n"
    text = "".join(f"Epoch {e}/6\n" + line.format(1 / e, 1.1 / e) for e in (1, 2, 3, 4))
    text += "".join(f"Epoch {e}/6\n" + line.format(0.9 / e, 1.0 / e) for e in (3, 4, 5, 6))
    w = the(judge(parse_console(text, "capture"), Options()), "went_back")
    assert w.epochs == (3.0, 4.0) and "line 9" in w.message


def test_jsonl_steps_going_back_warn_in_the_segment_judged(tmp_path):
    rows = [{"step": s, "loss": 1.0 / s, "val_loss": 1.1 / s} for s in range(1, 8)]
    resumed = rows + [{"step": s, "loss": 0.9 / s, "val_loss": 1.0 / s} for s in range(4, 9)]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(map(json.dumps, resumed)) + "\n")
    w = the(diagnose.diagnose(path), "went_back")
    assert "step went back from 7 to 4" in w.message and "line 8" in w.message
    # A second run appended after it: the first run's resume is not the second's.
    again = resumed + [{"step": s, "loss": 2.0 / s, "val_loss": 2.0 / s} for s in range(1, 6)]
    path.write_text("\n".join(map(json.dumps, again)) + "\n")
    report = diagnose.diagnose(path)
    assert "restarted" in kinds(report) and "went_back" not in kinds(report)
    assert "went_back" in kinds(diagnose.diagnose(path, segment=0))


def test_lightning_runs_appended_warn_restarted(tmp_path):
    lines = (FORMATS / "lightning_step_epoch.csv").read_text().splitlines()
    path = write(tmp_path, "metrics.csv", lines + lines[1:])
    assert "restarted" in kinds(diagnose.diagnose(path))


def test_tensorboard_epochs_logged_in_two_event_files_warn_went_back(tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(FORMATS / "tensorboard", logdir)
    train = next((logdir / "train").iterdir())
    shutil.copy(train, train.with_name(train.name + ".resumed"))  # a second file, same epochs
    plain = diagnose.diagnose(FORMATS / "tensorboard")
    report = diagnose.diagnose(logdir)
    assert "went_back" not in kinds(plain)
    w = the(report, "went_back")
    assert "logged more than once in the event files" in w.message
    assert w.epochs == (1.0, float(len(report.run)))


# --- malformed rows ---------------------------------------------------------------------------

def test_malformed_jsonl_lines_are_counted_and_named(tmp_path):
    lines = (FORMATS / "metrics_epochs.jsonl").read_text().splitlines()
    lines.insert(4, '{"epoch": 2, "step": 135, "loss": 0.8')  # cut mid-write, not at the end
    lines.insert(8, '{"epoch": 3, "step": 180, "loss": "oops", "accuracy": "nan?"}')
    path = write(tmp_path, "metrics.jsonl", lines)
    report = diagnose.diagnose(path)
    w = the(report, "malformed_rows")
    assert w.evidence == {"count": 2, "lines": [5, 9]}
    assert "2 malformed lines skipped" in w.message
    assert "line 5: not JSON" in w.message and "line 9:" in w.message
    assert "missing from the curves" in w.message
    assert any("skipped 2 malformed lines" in note for note in report.notes)


def test_a_wandb_row_with_extra_cells_is_a_malformed_row(tmp_path):
    lines = (FORMATS / "wandb_history.csv").read_text().splitlines()
    lines[5] += ",1,2,3"
    w = the(diagnose.diagnose(write(tmp_path, "wandb.csv", lines)), "malformed_rows")
    assert w.evidence["count"] == 1 and "line 6" in w.message


def test_an_unreadable_epoch_inside_a_console_capture_is_a_malformed_row():
    line = "5/5 - 0s - loss: {} - val_loss: {}\n"
    text = "".join(f"Epoch {e}/5\n" + line.format(f"{1 / e:.4f}", f"{1.1 / e:.4f}")
                   for e in (1, 2, 4, 5))
    text = text.replace("Epoch 4/5", "Epoch 3/5\n" + line.format("0.3#33", "0.3666") + "Epoch 4/5")
    report = judge(parse_console(text, "capture"), Options())
    w = the(report, "malformed_rows")
    assert "epoch 3: a value is not a number" in w.message


def test_a_corrupt_tensorboard_tail_is_a_malformed_row(tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(FORMATS / "tensorboard", logdir)
    train = next((logdir / "train").iterdir())
    data = bytearray(train.read_bytes())
    data[-200] ^= 0xFF  # a flipped byte near the end: that record's checksum fails
    train.write_bytes(bytes(data))
    w = the(diagnose.diagnose(logdir), "malformed_rows")
    assert "corrupt" in w.message and w.evidence["read"] > 0


def test_a_last_line_cut_short_is_a_note_not_a_warning(tmp_path):
    lines = csv_lines()
    lines[-1] = lines[-1][:12]  # a crash mid-write: the log of a run still going
    path = tmp_path / "cut.csv"
    path.write_text("\n".join(lines))
    report = diagnose.diagnose(path)
    assert report.warnings == () and any("cut short" in note for note in report.notes)


# --- skipped epochs ---------------------------------------------------------------------------

def test_epochs_missing_from_the_middle_warn_skipped(tmp_path):
    lines = csv_lines()
    report = diagnose.diagnose(write(tmp_path, "gap.csv", lines[:11] + lines[15:]))  # 10-13 lost
    w = the(report, "skipped")
    assert w.epochs == (11.0, 14.0) and not w.events
    assert "from epoch 10 to 15 (epochs 11-14 missing)" in w.message
    assert w.evidence["missing"] == 4 and w.evidence["gaps"] == [[10.0, 15.0]]


def test_epochs_logged_every_k_are_no_gap(tmp_path):
    lines = csv_lines()
    every5 = [lines[0]] + lines[1::5]  # epochs 0, 5, 10, ...: a logger writing every 5 epochs
    assert kinds(diagnose.diagnose(write(tmp_path, "every5.csv", every5))) == []
    gaps = [lines[0]] + lines[1:4] + lines[6:9] + lines[12:]  # two gaps
    w = the(diagnose.diagnose(write(tmp_path, "gaps.csv", gaps)), "skipped")
    assert w.events and w.epochs == (3.0, 8.0)


def test_a_run_that_starts_late_is_not_skipped(tmp_path):
    lines = csv_lines()  # a resumed run logged to a new file: it starts at epoch 11
    assert kinds(diagnose.diagnose(write(tmp_path, "late.csv", [lines[0]] + lines[11:]))) == []


# --- a series logged only on some epochs ------------------------------------------------------

def test_a_metric_logged_on_some_epochs_warns_partly_logged(tmp_path):
    rows = list(csv.reader(csv_lines()))
    column = rows[0].index("val_accuracy")
    for i in (4, 5, 6, 13, 22):  # lost on epochs 4-6, 13 and 22 (1-based)
        rows[i][column] = "NA"
    lines = [",".join(r) for r in rows]
    w = the(diagnose.diagnose(write(tmp_path, "holes.csv", lines)), "partly_logged")
    assert w.message.startswith("val_accuracy was logged on 25 of 30 epochs")
    assert "epochs 1-3, 7-12, 14-21, 23-30" in w.message
    assert w.evidence == {"series": ["val_accuracy"], "logged": 25, "epochs": 30}


@pytest.mark.parametrize("name", ["cls5_healthy_valfreq2", "cls5_overfit_valfreq2",
                                  "digits_low_valfreq2"])
def test_validation_freq_says_nothing(name):
    for suffix in (".csv", ".json"):  # NA cells, and the shorter lists of history.history
        assert kinds(diagnose.diagnose(FIXTURES / (name + suffix))) == [], suffix


def test_validation_freq_5_and_a_missing_last_epoch_say_nothing(tmp_path):
    rows = list(csv.reader(csv_lines()))
    cols = [rows[0].index(c) for c in ("val_accuracy", "val_loss")]
    freq = [r[:] for r in rows]
    for i in range(1, len(rows)):
        if i % 5:  # validation_freq=5: epochs 5, 10, ... (1-based)
            for c in cols:
                freq[i][c] = "NA"
    assert kinds(diagnose.diagnose(write(tmp_path, "f5.csv", [",".join(r) for r in freq]))) == []
    for c in cols:  # stopped inside the last epoch, before its validation
        rows[-1][c] = "NA"
    assert kinds(diagnose.diagnose(write(tmp_path, "last.csv", [",".join(r) for r in rows]))) == []


def test_a_series_that_starts_late_or_stops_early_is_partly_logged():
    n = 20
    loss = [1 / (e + 1) for e in range(n)]
    late = diagnose.diagnose({"loss": loss, "val_loss": [x * 1.1 for x in loss],
                              "accuracy": [None] * 8 + [0.9] * 12,
                              "learning_rate": [None] * 8 + [1e-3] * 12})  # a setting: unchecked
    w = the(late, "partly_logged")
    assert "accuracy was logged on 12 of 20 epochs (epochs 9-20)" in w.message
    run = Run.from_columns("early", {"loss": loss, "val_loss": [x * 1.1 for x in loss[:12]]
                                     + [None] * 8})
    assert "val_loss was logged on 12 of 20 epochs (epochs 1-12)" in \
        the(judge(run, Options()), "partly_logged").message


def test_step_logged_runs_are_not_checked_for_partly_logged_series():
    for name in ("trainer_state.json", "metrics_steps.jsonl", "lightning_step_epoch.csv"):
        assert "partly_logged" not in kinds(diagnose.diagnose(FORMATS / name)), name


# --- possible leakage -------------------------------------------------------------------------

def leak_rows() -> list[dict]:
    with (LEAKAGE / "labels.tsv").open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_the_leak_fixtures_are_real_runs_with_honest_twins():
    rows = leak_rows()
    assert len(rows) >= 40
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
        text = (LEAKAGE / f"{row['run']}.csv").read_text()
        assert text.startswith("epoch,") and len(text.splitlines()) == 61  # CSVLogger, 60 epochs
    assert {"honest", "honest_dropout", "overlap", "overlap_dropout", "easy_val"} <= set(by_kind)
    assert all(row["leak"] == "0" for k in ("honest", "honest_dropout") for row in by_kind[k])


def test_possible_leakage_fires_on_leaks_and_never_on_their_honest_twins():
    hits, honest = [], []
    for row in leak_rows():
        report = diagnose.diagnose(LEAKAGE / f"{row['run']}.csv")
        fired = "possible_leakage" in kinds(report)
        (hits if row["leak"] == "1" else honest).append((row["run"], fired))
    assert not any(fired for _, fired in honest), honest
    found = {name for name, fired in hits if fired}
    # Memorized overlap under dropout, and a validation set of the easiest rows, both
    # beyond any held-out run of the corpus (docs/warnings.md has the full table).
    assert {"digits_overlap_dropout", "cancer_easy_val"} <= found
    assert len(found) >= 4


def test_the_leakage_warning_says_what_it_saw_and_why_it_matters():
    report = diagnose.diagnose(LEAKAGE / "digits_overlap_dropout.csv")
    w = the(report, "possible_leakage")
    assert w.epochs == (1.0, 60.0)
    assert w.evidence["ratio"] <= LEAK_MAX_RATIO and w.evidence["below_share"] >= 0.9
    assert "val_loss stayed below loss in" in w.message
    assert "also be in the training data" in w.message and "says little about new data" in w.message


@pytest.mark.parametrize("path", HEALTHY, ids=[p.stem for p in HEALTHY])
def test_no_warning_on_any_fixture_run(path):
    assert kinds(diagnose.diagnose(path)) == []


@pytest.mark.skipif(not CORPUS.exists(), reason="corpus not generated")
def test_the_corpus_gets_no_warning_at_all():
    """1,568 real runs, none resumed, cut, or leaking: every warning would be a false one.

    ``python -m benchmarks.warnings`` prints the same rates (and the ratios the
    leakage threshold was read from).
    """
    fired, with_validation = [], 0
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            run = parse_csv(row["csv"], row["run"])
            features = features_of(run, Options())
            with_validation += features.val is not None and len(features.val) >= 5
            fired += [(row["run"], w.kind) for w in check(run, features)]
    assert with_validation > 1000
    assert fired == []


# --- never the verdict; every output shows them -----------------------------------------------

def test_warnings_never_change_the_verdict():
    for name in ("digits_overlap_dropout", "cancer_easy_val", "digits_honest"):
        run = load(LEAKAGE / f"{name}.csv")
        report = judge(run, Options())
        plain = conclude(features_of(run, Options()), Options())
        assert report.conditions == plain.conditions and report.findings == plain.findings
        assert report.fixes == plain.fixes


@pytest.fixture(scope="module")
def warned() -> Report:
    report = diagnose.diagnose(LEAKAGE / "digits_overlap_dropout.csv")
    extra = RunWarning("partly_logged", "<script>alert(1)</script> | was logged on 3 of 60 epochs",
                       (1.0, 3.0), {"series": ["<script>"]})
    return replace(report, warnings=(*report.warnings, extra))


def test_json_has_a_warnings_list_per_run(warned):
    doc = json.loads(render_json([warned]))
    run = doc["runs"][0]
    assert list(run)[:4] == ["source", "conditions", "findings", "fixes"]  # the contract's keys
    first = run["warnings"][0]
    assert set(first) == {"kind", "message", "epochs", "evidence", "events"}
    assert first["kind"] == "possible_leakage" and first["epochs"] == [1, 60]
    assert all(w["kind"] in WARNING_KINDS for w in run["warnings"])
    clean = json.loads(render_json([diagnose.diagnose(FIXTURES / "digits_healthy_adam.csv")]))
    assert clean["runs"][0]["warnings"] == []


def test_text_shows_warnings_after_the_fixes_before_the_notes(warned):
    text = render_text([replace(warned, notes=("a note",))])
    assert text.index("EarlyStopping") < text.index("Warnings") < text.index("Notes")
    assert "  possible_leakage · epochs 1-60" in text
    assert "val_loss stayed below loss" in text
    assert "Warnings" not in render_text([diagnose.diagnose(FIXTURES / "digits_healthy_adam.csv")])


def test_markdown_shows_warnings_escaped(warned):
    md = render_markdown([warned])
    assert "**Warnings:**" in md and "- `possible_leakage` (epochs 1-60): " in md
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\|" in md


def test_html_shows_warnings_in_each_run_escaped(warned):
    for page in (report_fragment(warned, figure=False), render_html([warned, warned], figures=False)):
        assert '<h3>Warnings</h3><ul class="warnings">' in page
        assert '<li data-kind="possible_leakage"><code>possible_leakage</code> (epochs 1-60): ' in page
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


# --- hostile and degenerate input -------------------------------------------------------------

@pytest.mark.parametrize("columns", [
    {"loss": [0.5]},                                         # one epoch
    {"loss": [float("nan")] * 6, "val_loss": [float("nan")] * 6},
    {"loss": [-1.0, -2, -3, -4, -5, -6], "val_loss": [-9.0, -9, -9, -9, -9, -9]},  # negative
    {"loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], "val_loss": [0.0] * 6},   # zero validation loss
    {"loss": [float("inf")] * 3 + [1, 2, 3], "val_loss": [1e-300] * 6},
    {"val_loss": [None, None, 1.0, None, 0.5, None]},        # no training loss
])
def test_degenerate_runs_give_warnings_that_serialize_or_none(columns):
    report = diagnose.diagnose(columns)
    json.dumps(report.to_dict(), allow_nan=False)
    assert all(w.kind in WARNING_KINDS for w in report.warnings)
    assert "possible_leakage" not in kinds(report)


def test_a_huge_run_is_checked_on_its_epochs_not_its_bins():
    n = 30_000
    loss = 1 / np.arange(1, n + 1)
    run = Run.from_columns("long", {"loss": loss.tolist(), "val_loss": (loss * 1.1).tolist()},
                           epochs=[e for e in range(1, n + 2) if e != 20_000])
    w = the(judge(run, Options()), "skipped")
    assert w.epochs == (20_000.0, 20_000.0) and "epoch 20000 missing" in w.message


def test_hostile_logs_still_give_one_clear_error(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n{also not\n[1, 2]\n")
    with pytest.raises(LogError, match="not a training log in a known format"):
        load(broken)
    with pytest.raises(LogError, match=r"no line holds a JSON object of metrics \(line 1: not JSON"):
        load(broken, format_in="jsonl")
    bad = tmp_path / "bad.csv"
    lines = csv_lines()
    bad.write_text("\n".join(lines[:21] + lines[16:18] + ["16,abc,1,1,1"] + lines[18:]) + "\n")
    with pytest.raises(LogError, match="line 24, column 'accuracy'"):
        load(bad)


def test_loader_warnings_are_bounded(tmp_path):
    lines = csv_lines()
    spliced = lines[:11]
    for _ in range(40):  # a logger gone wrong: epochs 6-10 written again 40 times
        spliced += lines[6:11]
    report = diagnose.diagnose(write(tmp_path, "loop.csv", spliced))
    assert [w.kind for w in report.warnings] == ["went_back"] * 12
