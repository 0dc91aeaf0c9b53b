"""JSON Lines metric logs and W&B CSV exports (fixtures/formats/metrics_*, wandb_*).

The fixtures hold real Keras fits: the JSONL files were written by a small
callback during the fit, the W&B files lay the fit's numbers out in W&B's
column layouts (scripts/generate_console_fixtures.py); the History of the
same fit sits beside each. Odd and hostile inputs are built in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diagnose import LogError, diagnose
from diagnose.load import load

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


def _history(stem: str):
    return json.loads((FORMATS / f"{stem}.history.json").read_text())


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- JSONL --------------------------------------------------------------------------------

def test_epoch_rows_split_into_training_and_evaluation_rows_equal_the_history():
    run = load(FORMATS / "metrics_epochs.jsonl")
    history = _history("metrics_epochs")
    assert run.format == "jsonl" and run.granularity == "epoch"
    assert run.epochs.tolist() == list(range(1, 13))
    for key, values in history.items():
        np.testing.assert_array_equal(run.series[key], values)
    assert run.logged["learning_rate"].all()


def test_step_rows_are_averaged_per_epoch_and_evaluation_rows_kept():
    run = load(FORMATS / "metrics_steps.jsonl")
    history = _history("metrics_steps")
    assert sorted(run.names) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    np.testing.assert_array_equal(run.series["val_loss"], history["val_loss"])
    # the mean of every batch's own loss is the epoch's loss (the last batch is smaller)
    np.testing.assert_allclose(run.series["loss"], history["loss"], rtol=0.05)
    assert any("averaged" in note for note in run.notes)
    assert any("train/loss -> loss" in note for note in run.notes)
    assert "time" not in run.names  # a clock, not a curve


def test_malformed_rows_are_counted_and_named_not_silently_skipped(tmp_path):
    lines = (FORMATS / "metrics_epochs.jsonl").read_text().splitlines()
    lines[3] = lines[3][:25]  # a row cut by a crash in the middle of the file
    lines[6] = '{"epoch": 3, "step": "x", "loss": 0.5}'
    lines[8] = '{"epoch": 4, "loss": "oops", "accuracy": 0.9}'
    lines.insert(10, "[1, 2, 3]")
    run = load(_write(tmp_path, "m.jsonl", "\n".join(lines) + "\n"))
    note = next(n for n in run.notes if n.startswith("skipped 4 malformed lines"))
    assert "line 4: not JSON" in note and "line 7: 'step'" in note
    assert "line 9: 'loss' is 'oops'" in note and "line 11: list, not an object" in note
    assert len(run) == 12 and run.logged["accuracy"][4]


def test_a_last_line_cut_short_is_dropped(tmp_path):
    text = (FORMATS / "metrics_steps.jsonl").read_text()
    run = load(_write(tmp_path, "m.jsonl", text[:-30]))
    assert any(n.startswith("dropped line") and "cut short" in n for n in run.notes)


def test_steps_going_back_split_runs_or_replace_a_resumed_range(tmp_path):
    rows = [{"step": s, "loss": 1 / s, "val_loss": 1.1 / s} for s in range(1, 7)]
    resumed = rows + [{"step": s, "loss": 0.9 / s, "val_loss": 1.0 / s} for s in range(4, 9)]
    run = load(_write(tmp_path, "r.jsonl", "\n".join(map(json.dumps, resumed)) + "\n"))
    assert run.epochs.tolist() == list(range(1, 9))
    assert run.series["loss"][4] == pytest.approx(0.9 / 5)
    assert any("the step went back" in note for note in run.notes)
    appended = rows + rows[:4]
    path = _write(tmp_path, "a.jsonl", "\n".join(map(json.dumps, appended)) + "\n")
    assert len(load(path)) == 4 and len(load(path, segment=0)) == 6
    assert any("2 runs appended" in note for note in load(path).notes)


def test_step_logged_rows_with_sparse_evaluation_are_step_granularity(tmp_path):
    rows = []
    for s in range(1, 201):
        rows.append({"global_step": s, "train/loss": 2.0 / s ** 0.5, "lr": 1e-3})
        if s % 50 == 0:
            rows.append({"global_step": s, "eval/loss": 2.2 / s ** 0.5, "eval/acc": 0.8})
    run = load(_write(tmp_path, "s.jsonl", "\n".join(map(json.dumps, rows)) + "\n"))
    assert run.granularity == "step" and len(run) == 200
    assert sorted(run.names) == ["learning_rate", "loss", "val_acc", "val_loss"]
    assert run.logged["val_loss"].sum() == 4
    assert diagnose(run).conditions


def test_plain_keras_json_lines_read_as_history_reads_them(tmp_path):
    records = [{"epoch": 0, "loss": 1.0, "lr": 0.01}, {"epoch": 1, "loss": 0.8, "val_loss": 0.9,
                                                      "lr": 0.01}]
    run = load(_write(tmp_path, "k.jsonl", "\n".join(map(json.dumps, records)) + "\n"))
    assert run.format == "jsonl" and run.names == ["loss", "learning_rate", "val_loss"]


@pytest.mark.parametrize("text, fragment", [
    ('{"step": 1, "loss": "a"}\n{"step": 2, "loss": "b"}\n', "no metric keys"),
    ('{"step": 1}\n{"step": 2}\n', "no metric keys"),
    ('{"step": 1, "loss": [1, 2]}\n{"step": 2, "loss": [3]}\n', "no metric keys"),
    ('{"step": 1, "loss": null}\n{"step": 2, "loss": null}\n', "no values logged"),
    ('{"step": "a", "loss": 1}\n{"step": "b", "loss": 2}\n', "no values logged"),
    ('{"step": 1, "loss": 1}\n' + "{" * 5000 + "\n", "no values logged|one|"),
])
def test_hostile_json_lines_are_one_log_error_or_a_report(tmp_path, text, fragment):
    path = _write(tmp_path, "h.jsonl", text)
    try:
        report = diagnose(path)
    except LogError as exc:
        assert "internal error" not in str(exc)
        assert any(f in str(exc) for f in fragment.split("|") if f), str(exc)
    else:
        assert report.source == str(path)


# --- W&B ----------------------------------------------------------------------------------

def test_wandb_history_export_merges_training_rows_into_epochs():
    run = load(FORMATS / "wandb_history.csv")
    history = _history("wandb_history")
    assert run.format == "wandb_csv" and run.epochs.tolist() == list(range(1, 11))
    assert sorted(run.names) == ["acc", "learning_rate", "loss", "val_acc", "val_loss"]
    np.testing.assert_array_equal(run.series["val_loss"], history["val_loss"])
    np.testing.assert_array_equal(run.series["val_acc"], history["val_accuracy"])
    assert "_runtime" not in run.names and "_timestamp" not in run.names
    assert any("'lr' read as 'learning_rate'" in note for note in run.notes)


def test_wandb_chart_export_reads_each_run_as_a_segment():
    runs = _history("wandb_chart_export")
    path = FORMATS / "wandb_chart_export.csv"
    names = list(runs)
    for segment, name in enumerate(names):
        run = load(path, segment=segment)
        assert sorted(run.names) == ["loss", "val_loss"]
        np.testing.assert_array_equal(run.series["loss"], runs[name]["loss"])
        np.testing.assert_array_equal(run.series["val_loss"], runs[name]["val_loss"])
        assert run.epochs.tolist() == list(range(1, 16))
    default = load(path)
    assert any(names[-1] in note and "2 runs" in note for note in default.notes)
    assert any("__MIN/__MAX" in note for note in default.notes)
    with pytest.raises(LogError, match="segment=2 is out of range"):
        load(path, segment=2)


def test_wandb_chart_export_with_step_axis_and_grouped_runs(tmp_path):
    header = '"Step","Group: lr=0.1 - train/loss","Group: lr=0.1 - train/loss__MIN",' \
             '"Group: lr=0.1 - train/loss__MAX"\n'
    rows = "".join(f'"{s}","{1 / s}","{0.9 / s}","{1.1 / s}"\n' for s in range(1, 30))
    run = load(_write(tmp_path, "wandb_export_2026-01-01T00_00_00.000+00_00.csv", header + rows))
    assert run.format == "wandb_csv" and run.names == ["loss"]
    assert run.granularity == "epoch"  # consecutive steps holding every metric: one per epoch


@pytest.mark.parametrize("name", ["wandb_history.csv", "wandb_chart_export.csv",
                                  "metrics_steps.jsonl", "metrics_epochs.jsonl"])
def test_verdict_equals_the_verdict_on_the_history_of_the_same_fit(name):
    stem = name.split(".")[0]
    history = _history(stem)
    if stem == "wandb_chart_export":
        for segment, hist in enumerate(history.values()):
            assert diagnose(FORMATS / name, segment=segment).conditions == \
                diagnose(hist).conditions
    else:
        assert diagnose(FORMATS / name).conditions == diagnose(history).conditions


def test_sniffers_do_not_steal_other_formats():
    from diagnose.load import jsonl, wandb

    fixtures = FORMATS.parent
    others = [*fixtures.glob("*.csv"), *fixtures.glob("*.json"),
              *FORMATS.glob("lightning_*.csv"), *FORMATS.glob("trainer_state*.json"),
              *FORMATS.glob("console_*")]
    for path in others:
        head = path.read_text(errors="replace")[:4096]
        assert not jsonl.sniff(path, head) and not wandb.sniff(path, head), path
    for path in FORMATS.glob("wandb_*.csv"):
        assert load(path).format == "wandb_csv"
    for path in FORMATS.glob("metrics_*.jsonl"):
        assert load(path).format == "jsonl"


def test_wandb_bad_cells_are_named(tmp_path):
    text = "_step,_runtime,train/loss,val/loss\n0,1.0,0.9,1.0\n1,2.0,abc,0.8\n2,3.0,0.5,0.7\n"
    run = load(_write(tmp_path, "w.csv", text))
    assert any("line 3: 'train/loss' is 'abc'" in note for note in run.notes)
    with pytest.raises(LogError, match="no values logged|no metric keys"):
        load(_write(tmp_path, "e.csv", "_step,_runtime\n0,1.0\n1,2.0\n"))
