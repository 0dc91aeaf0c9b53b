"""Keras console output (fixtures/formats/console_*): real captures of model.fit().

Each capture comes with the History of the same fit (``<name>.history.json``,
scripts/generate_console_fixtures.py); the parsed run must hold the same
values, up to Keras' printed rounding (4 decimals). The cut, interleaved and
hostile inputs are built in tmp_path from the real captures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diagnose import LogError, diagnose
from diagnose.cli import main
from diagnose.load import load
from diagnose.load.keras_console import parse

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
CAPTURES = sorted(p.name for p in FORMATS.glob("console_keras*") if p.suffix in (".log", ".txt"))
PRINTED = 6e-5  # Keras prints "%.4f" (or "%.4e" below 0.001): off by 5e-5 at most


def _history(name: str):
    stem = name.split(".")[0].replace("_redraws_as_lines", "")
    return json.loads((FORMATS / f"{stem}.history.json").read_text())


def _assert_same_values(run, history: dict) -> None:
    n = len(next(iter(history.values())))
    assert run.epochs.tolist() == list(range(1, n + 1))
    assert sorted(run.names) == sorted("learning_rate" if k == "lr" else k for k in history)
    for key, values in history.items():
        expected = np.array(values, dtype=float)
        got = run.series["learning_rate" if key == "lr" else key]
        assert np.array_equal(np.isnan(got), np.isnan(expected)), key
        finite = ~np.isnan(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=PRINTED,
                                   err_msg=key)


def test_the_fixtures_cover_both_keras_versions_both_verbosities_and_the_odd_cases():
    assert {"console_keras3_v1.log", "console_keras3_v2_overfit.log", "console_keras2_v1.log",
            "console_keras2_v2.log", "console_keras3_v1_nan.log",
            "console_keras3_v2_two_fits.log", "console_keras3_v1_warnings.log",
            "console_keras3_v1_redraws_as_lines.txt"} <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_each_capture_is_detected_and_equals_the_history_of_the_same_fit(name):
    run = load(FORMATS / name)
    assert run.format == "keras_console" and run.granularity == "epoch"
    history = _history(name)
    _assert_same_values(run, history[-1] if isinstance(history, list) else history)


def test_verbose1_capture_holds_redraws_and_only_the_last_line_of_each_epoch_counts():
    raw = (FORMATS / "console_keras3_v1.log").read_bytes()
    assert b"\r" in raw and b"\x08" in raw and b"\x1b[" in raw  # a real terminal capture
    lines = (FORMATS / "console_keras3_v1_redraws_as_lines.txt").read_text().splitlines()
    assert sum(line.startswith(" 1/45") for line in lines) == 12  # per-batch running values
    assert load(FORMATS / "console_keras3_v1_redraws_as_lines.txt").series["loss"].tolist() \
        == load(FORMATS / "console_keras3_v1.log").series["loss"].tolist()


def test_keras2_bars_and_lr_order_are_read():
    text = (FORMATS / "console_keras2_v1.log").read_text()
    assert "[==============================]" in text and "- loss: " in text
    run = parse("Epoch 1/2\n10/10 - 0s - loss: 0.5000 - lr: 0.0010 - 5ms/epoch - 1ms/step\n"
                "Epoch 2/2\n10/10 - 0s - loss: 0.4000 - lr: 1.0000e-04 - 5ms/epoch - 1ms/step\n",
                "synthetic")
    assert run.series["learning_rate"].tolist() == [0.001, 0.0001]
    assert "'lr' read as 'learning_rate'" in run.notes


def test_nan_is_a_logged_nan():
    run = load(FORMATS / "console_keras3_v1_nan.log")
    assert run.logged["loss"].all() and np.isnan(run.series["loss"][1:]).all()
    assert np.isfinite(run.series["loss"][0])
    assert diagnose(run).conditions == ("lr_too_high",)


def test_two_fits_are_two_segments_the_last_by_default():
    path = FORMATS / "console_keras3_v2_two_fits.log"
    first, second = _history(path.name)
    run = load(path)
    _assert_same_values(run, second)
    assert any("2 fit() runs" in note and "segment=N" in note for note in run.notes)
    _assert_same_values(load(path, segment=0), first)
    _assert_same_values(load(path, segment=-2), first)
    with pytest.raises(LogError, match="segment=2 is out of range: the log holds 2 runs"):
        load(path, segment=2)


def test_warnings_callback_messages_and_evaluate_do_not_disturb_the_epochs():
    path = FORMATS / "console_keras3_v1_warnings.log"
    text = path.read_text()
    assert "UserWarning" in text and "ReduceLROnPlateau reducing" in text
    assert "early stopping" in text and "user print inside the epoch" in text
    run = load(path)  # the evaluate() bar after fit() is not an epoch
    assert "learning_rate" in run.names
    _assert_same_values(run, _history(path.name))


def test_a_resumed_fit_replaces_the_epochs_it_printed_again():
    line = "5/5 - 0s - loss: {:.4f} - val_loss: {:.4f}\n"
    text = "".join(f"Epoch {e}/6\n" + line.format(1 / e, 1.1 / e) for e in (1, 2, 3, 4))
    text += "".join(f"Epoch {e}/6\n" + line.format(0.9 / e, 1.0 / e) for e in (3, 4, 5, 6))
    run = parse(text, "synthetic")
    assert run.epochs.tolist() == [1, 2, 3, 4, 5, 6]
    assert run.series["loss"][2] == pytest.approx(0.3)
    assert any("epoch 3 printed again" in note for note in run.notes)


# --- cut short, interleaved, hostile ----------------------------------------------------------

@pytest.mark.parametrize("name", ["console_keras3_v1.log", "console_keras2_v1.log",
                                  "console_keras3_v2_overfit.log",
                                  "console_keras3_v1_redraws_as_lines.txt"])
def test_cut_anywhere_gives_a_prefix_of_the_run_or_one_log_error_never_a_wrong_value(name):
    text = (FORMATS / name).read_text()
    full = parse(text, "full")
    for cut in range(1, len(text), 11):
        try:
            run = parse(text[:cut], "cut")
        except LogError as exc:
            assert "no " in str(exc)
            continue
        n = len(run)
        assert run.epochs.tolist() == full.epochs[:n].tolist()
        for key in run.names:
            logged = run.logged[key]
            assert not (logged & ~full.logged[key][:n]).any()
            assert (logged[:-1] == full.logged[key][:n - 1]).all()  # only the last may lack
            assert np.array_equal(run.series[key][logged], full.series[key][:n][logged],
                                  equal_nan=True), (cut, key)


def test_the_last_epoch_cut_mid_line_is_dropped_with_a_note(tmp_path):
    text = (FORMATS / "console_keras3_v2_overfit.log").read_text()
    cut = text.rstrip("\n").rsplit(" - val_loss", 1)[0]  # the last line, without val_loss
    path = tmp_path / "cut.log"
    path.write_text(cut)
    run = load(path)
    assert len(run) == 39
    assert any(note.startswith("dropped epoch 40") and "cut short" in note for note in run.notes)
    mid_bar = (FORMATS / "console_keras3_v1.log").read_text()
    mid_bar = mid_bar[:mid_bar.rindex("Epoch 12/12")] + "Epoch 12/12\n\r 7/45 ━━━━ 0s - loss: 0.3\n"
    run = parse(mid_bar, "interrupted")
    assert len(run) == 11
    assert any("dropped epoch 12" in note and "batch 7 of 45" in note for note in run.notes)


def test_interleaved_lines_change_nothing():
    text = (FORMATS / "console_keras3_v2_overfit.log").read_text()
    noisy = []
    for i, line in enumerate(text.splitlines(keepends=True)):
        noisy.append(line)
        if i % 3 == 0:
            noisy.append("/usr/lib/python3/site.py:12: UserWarning: something: 1/2 done\n")
        if i % 5 == 0:
            noisy.append("Epoch 4: val_loss improved from 0.31 to 0.29, saving model to m.keras\n")
    a, b = parse(text, "a"), parse("".join(noisy), "b")
    for key in a.names:
        assert np.array_equal(a.series[key], b.series[key], equal_nan=True)


@pytest.mark.parametrize("text, fragment", [
    ("Epoch 1/3\n", "the capture ends before its values"),
    ("Epoch 1/3\nEpoch 2/3\n", "no epoch finished"),
    ("Epoch 1/3\n32/32 - 0s - loss: abc - val_loss: 0.1000\n", "no epoch finished"),
    ("Epoch 1/3\n32/32 ━━━━ 0s 2ms/step\n", "no epoch finished"),
    ("32/32 - 0s - loss: 0.4100\n", "no 'Epoch k/N' line"),
    ("Epoch 1/3\n" + "\x1b[" * 5000, "no epoch finished"),
])
def test_hostile_console_text_is_one_log_error(text, fragment):
    with pytest.raises(LogError, match=fragment):
        parse(text, "hostile")


def test_sniffing_takes_console_text_and_leaves_csv_and_json_alone():
    from diagnose.load import keras_console

    fixtures = FORMATS.parent
    for path in [*fixtures.glob("*.csv"), *fixtures.glob("*.json"), *FORMATS.glob("*.csv"),
                 *FORMATS.glob("*.json*")]:
        head = path.read_text(errors="replace")[:4096]
        assert not keras_console.sniff(path, head), path
    for name in CAPTURES:
        assert keras_console.sniff(FORMATS / name, (FORMATS / name).read_text()[:4096]), name


def test_cli_reads_a_capture_and_format_in_forces_it(capsys):
    code = main(["--format-in", "keras_console", str(FORMATS / "console_keras3_v1_nan.log")])
    assert code == 0 and "lr_too_high" in capsys.readouterr().out
    code = main([str(FORMATS / "console_keras3_v2_overfit.log")])
    assert code == 0 and "overfitting" in capsys.readouterr().out


def test_a_capture_with_no_finished_epoch_costs_one_line_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "crashed.log"
    path.write_text("Epoch 1/20\n\r 3/32 ━━━━ 1s - loss: 2.3")
    code = main([str(path), str(FORMATS / "console_keras2_v2.log")])
    captured = capsys.readouterr()
    assert code == 2 and "console_keras2_v2.log  healthy" in captured.out
    assert len(captured.err.splitlines()) == 1 and "crashed.log" in captured.err
    assert "Traceback" not in captured.err


# --- the Hugging Face Trainer's printed logs ------------------------------------------------

def test_trainer_printed_dicts_are_read_as_its_log_history():
    run = load(FORMATS / "console_hf_trainer.txt")
    history = _history("console_hf_trainer.txt")
    assert run.format == "keras_console" and run.granularity == "step"
    assert {"loss", "val_loss", "val_accuracy", "learning_rate"} <= set(run.names)
    assert "train_runtime" not in run.names
    val = run.series["val_loss"][run.logged["val_loss"]]
    np.testing.assert_allclose(val, history["val_loss"], rtol=1e-12)
    assert run.epochs[run.logged["val_loss"]].tolist() == list(range(1, 9))
    assert any("Hugging Face Trainer printed" in note for note in run.notes)


def test_trainer_lines_with_nan_are_logged_nan():
    text = "".join(f"{{'loss': {v}, 'learning_rate': 5e-05, 'epoch': {e}}}\n"
                   for e, v in ((0.5, 0.9), (1.0, 0.7), (1.5, "nan"), (2.0, "nan")))
    run = parse(text, "synthetic")
    assert run.logged["loss"].all() and np.isnan(run.series["loss"][2:]).all()
