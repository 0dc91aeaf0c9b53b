"""Lightning metrics.csv, Trainer trainer_state.json and TensorBoard logs (fixtures/formats/).

The fixture files hold numbers from real Keras runs written in each tool's
layout (scripts/generate_format_fixtures.py); the error cases below are
synthetic inputs written in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diagnose import LogError, diagnose
from diagnose.load import load

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"


@pytest.mark.parametrize("name, fmt", [
    ("lightning_step_epoch.csv", "lightning_csv"),
    ("lightning_old_step_only.csv", "lightning_csv"),
    ("lightning_slash_names.csv", "lightning_csv"),
    ("trainer_state.json", "hf_trainer"),
    ("trainer_state_resumed.json", "hf_trainer"),
    ("trainer_state_no_eval.json", "hf_trainer"),
    ("tensorboard", "tensorboard"),
    ("tensorboard/train", "tensorboard"),
])
def test_each_layout_is_detected_by_content_and_diagnosed(name, fmt):
    run = load(FORMATS / name)
    assert run.format == fmt
    assert "loss" in run.series
    assert diagnose(run).conditions  # judged, whatever the verdict


def test_lightning_epoch_twins_win_test_rows_dropped_lr_renamed():
    run = load(FORMATS / "lightning_step_epoch.csv")
    assert sorted(run.series) == ["acc", "learning_rate", "loss", "val_acc", "val_loss"]
    assert list(run.epochs) == list(range(1, 9))  # Lightning epochs are 0-based
    assert run.logged["learning_rate"][0]  # the lr row without an epoch joins epoch 1
    assert any("test_loss" in note for note in run.notes)


def test_lightning_step_only_training_loss_is_averaged_per_epoch():
    run = load(FORMATS / "lightning_old_step_only.csv")
    assert sorted(run.series) == ["loss", "val_loss"]
    assert len(run) == 8 and any("averaged per epoch" in n for n in run.notes)


def test_lightning_slash_names_become_keras_names():
    assert sorted(load(FORMATS / "lightning_slash_names.csv").series) == ["loss", "val_acc", "val_loss"]


def test_lightning_bad_cell_names_line_and_column(tmp_path):
    path = tmp_path / "metrics.csv"  # synthetic
    path.write_text("epoch,step,train_loss,val_loss\n0,10,0.9,\n0,19,,oops\n")
    with pytest.raises(LogError, match=r"line 3, column 'val_loss'.*'oops' is not a number"):
        load(path)


def test_trainer_state_is_step_logged_with_eval_as_validation():
    run = load(FORMATS / "trainer_state.json")
    assert run.granularity == "step"
    assert {"loss", "val_loss", "val_accuracy", "learning_rate"} <= set(run.series)
    assert "train_runtime" not in run.series and "val_runtime" not in run.series
    assert np.all(np.diff(run.epochs) > 0)


def test_trainer_state_resumed_keeps_the_later_entries():
    plain, resumed = load(FORMATS / "trainer_state.json"), load(FORMATS / "trainer_state_resumed.json")
    assert any("resumed" in n for n in resumed.notes) and not any("resumed" in n for n in plain.notes)
    assert np.allclose(plain.epochs, resumed.epochs)


def test_trainer_state_without_eval_says_overfitting_cannot_be_judged():
    report = diagnose(FORMATS / "trainer_state_no_eval.json")
    assert any("no validation data" in x for x in report.limitations)


@pytest.mark.parametrize("state, where", [
    ({"log_history": {"loss": 1}}, "log_history"),
    ({"log_history": [{"epoch": 0.1, "loss": "high"}]}, "entry 0"),
    ({"log_history": [{"loss": 1.0}]}, "entry 0"),
    ({"log_history": [{"step": "10", "loss": 1.0}]}, "entry 0: 'step' is '10', not a number"),
    ({"log_history": [{"epoch": 1.0, "eval_thresholds": [0.2, 0.5]}]},
     "no training or evaluation values; skipped key 'eval_thresholds': entry 0 holds a list"),
])
def test_trainer_state_errors_name_the_key(tmp_path, state, where):
    path = tmp_path / "trainer_state.json"  # synthetic
    path.write_text(json.dumps(state))
    with pytest.raises(LogError, match=where):
        load(path, format_in="hf_trainer")


def test_trainer_state_keys_holding_lists_dicts_or_flags_are_skipped(tmp_path):
    entries = []
    for step in range(1, 9):
        epoch = step / 2
        entries.append({"epoch": epoch, "step": 50 * step, "loss": 2.0 / step,
                        "learning_rate": 5e-5, "grad_norm": 1.5})
        if step % 2 == 0:
            entries.append({"epoch": epoch, "step": 50 * step, "eval_loss": 2.2 / step + 0.1,
                            "eval_accuracy": 0.5 + step / 20, "eval_runtime": 3.2,
                            "eval_thresholds": [0.31, 0.52, 0.48],
                            "eval_report": {"precision": 0.8, "recall": 0.7},
                            "eval_is_best": step == 8})
    entries.append({"epoch": 4.0, "step": 400, "train_runtime": 120.0, "train_loss": 0.9})
    path = tmp_path / "trainer_state.json"  # synthetic
    path.write_text(json.dumps({"global_step": 400, "epoch": 4.0, "log_history": entries}))
    report = diagnose(path)
    assert report.conditions or report.limitations
    assert [note for note in report.notes if note.startswith("skipped")] == [
        "skipped key 'eval_thresholds': entry 2 holds a list of 3 values, not a number",
        "skipped key 'eval_report': entry 2 holds a dict, not a number",
        "skipped key 'eval_is_best': entry 2 holds true/false, not a number"]
    run = load(path)
    assert sorted(run.series) == ["grad_norm", "learning_rate", "loss", "val_accuracy",
                                  "val_loss"]
    assert run.logged["val_loss"].sum() == 4 and run.logged["loss"].sum() == 8


def test_tensorboard_reads_keras3_tensor_scalars_into_keras_names():
    run = load(FORMATS / "tensorboard")
    assert sorted(run.series) == ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert list(run.epochs) == list(range(1, 9))
    assert np.all(run.series["loss"] > 0)


def _event_file_copy(tmp_path: Path, change) -> Path:
    """The train/ events fixture, changed by ``change(bytes) -> bytes``, in tmp_path/train/."""
    source = next((FORMATS / "tensorboard" / "train").glob("events.out.tfevents.*"))
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / source.name).write_bytes(change(source.read_bytes()))
    return tmp_path


def test_truncated_event_file_keeps_the_records_read_with_a_note(tmp_path):
    intact = load(FORMATS / "tensorboard" / "train")
    run = load(_event_file_copy(tmp_path, lambda data: data[:-7]))  # cut off mid-record
    assert _values(run) == _values(intact) - 1  # the last record held one scalar
    assert any("the rest is corrupt" in note and "read " in note for note in run.notes)


def _values(run) -> int:
    return sum(int(mask.sum()) for mask in run.logged.values())


def test_a_corrupt_checksum_ends_the_reading_with_a_note(tmp_path):
    intact = load(FORMATS / "tensorboard" / "train")
    flipped = _event_file_copy(tmp_path, lambda data: data[:-40] + bytes([data[-40] ^ 0xFF])
                               + data[-39:])
    run = load(flipped)
    assert _values(run) < _values(intact)
    note = next(note for note in run.notes if "corrupt" in note)
    assert "read " in note and " of " in note


def test_an_events_file_with_every_checksum_corrupted_is_refused(tmp_path):
    def corrupt_every_crc(data: bytes) -> bytes:
        out, at = bytearray(data), 0
        while at + 12 <= len(data):
            length = int.from_bytes(data[at:at + 8], "little")
            out[at + 8] ^= 0xFF
            out[at + 12 + length] ^= 0xFF
            at += 16 + length
        return bytes(out)

    with pytest.raises(LogError, match="corrupt from the first record"):
        load(_event_file_copy(tmp_path, corrupt_every_crc))


def test_format_in_forces_a_format(tmp_path):
    with pytest.raises(LogError, match="no 'epoch' column"):
        load(FORMATS.parent / "digits_healthy_adam.json", format_in="lightning_csv")
