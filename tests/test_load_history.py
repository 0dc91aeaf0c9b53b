"""Loading Keras History objects, history dicts, their JSON dumps, and DataFrames.

All inputs are synthetic. The central property: a History dict loads into
exactly the Run that RunBuilder (the live callback's path) builds from the
same epochs' logs, validation keys absent on epochs without validation.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diagnose import LogError, diagnose
from diagnose.load import load
from diagnose.run import Run, RunBuilder

from .conftest import assert_same_run

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

HISTORY = {"loss": [1.0, 0.8, 0.7], "accuracy": [0.5, 0.6, 0.7],
           "val_loss": [1.1, 0.9, 0.95], "val_accuracy": [0.45, 0.55, 0.6]}


class SyntheticHistory:
    """Duck-typed like keras.callbacks.History: ``.history`` and ``.epoch``."""

    def __init__(self, history: dict, first_epoch: int = 0):
        self.history = history
        n = max(len(v) for v in history.values())
        self.epoch = list(range(first_epoch, first_epoch + n))


def built(epoch_logs: list[dict]) -> Run:
    builder = RunBuilder()
    for logs in epoch_logs:
        builder.append(logs)
    return builder.run()


def error_of(source, **kwargs) -> str:
    with pytest.raises(LogError) as info:
        load(source, **kwargs)
    return str(info.value)


def write_json(tmp_path, text: str, name: str = "synthetic_history.json"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the same Run as the live callback's ---------------------------------------------------

def test_history_dict_is_the_runbuilder_run():
    run = load(HISTORY)
    assert run.format == "history" and run.notes == ()
    logs = [{k: v[i] for k, v in HISTORY.items()} for i in range(3)]
    assert_same_run(run, built(logs))


def test_history_object_is_duck_typed_and_keeps_its_epochs():
    run = load(SyntheticHistory(HISTORY, first_epoch=10))
    assert run.epochs.tolist() == [11.0, 12.0, 13.0]
    assert run.source == "History"


metric_values = st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf),
                          st.just(-math.inf))


@SETTINGS
@given(n=st.integers(1, 40), freq=st.integers(1, 6), data=st.data(),
       metrics=st.lists(st.sampled_from(["loss", "accuracy", "auc", "out1_loss"]),
                        min_size=1, max_size=3, unique=True),
       with_lr=st.booleans())
def test_validation_freq_history_equals_runbuilder(n, freq, data, metrics, with_lr):
    # Some lengths fit several frequencies (3 epochs, 1 value: k = 2 or 3); Keras'
    # usual runs end on a validation epoch, where the frequency is certain.
    fits = [k for k in range(2, n + 1) if n // k == n // freq]
    assume(freq == 1 or n % freq == 0 or fits == [freq])
    epoch_logs = []
    for epoch in range(1, n + 1):
        logs = {m: data.draw(metric_values) for m in metrics}
        if with_lr:
            logs["lr"] = 0.01
        if epoch % freq == 0:
            logs.update({f"val_{m}": data.draw(metric_values) for m in metrics})
        epoch_logs.append(logs)
    history: dict[str, list] = {}
    for logs in epoch_logs:  # what keras.callbacks.History.on_epoch_end does
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
    assert_same_run(load(SyntheticHistory(history)), built(epoch_logs))
    assert_same_run(load(history), built(epoch_logs))


# --- alignment of shorter lists ------------------------------------------------------------

def test_validation_freq_places_values_on_every_kth_epoch():
    run = load({"loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4], "val_loss": [1.0, 0.8, 0.7]})
    assert run.logged["val_loss"].tolist() == [False, True, False, True, False, True, False]
    assert run.series["val_loss"][[1, 3, 5]].tolist() == [1.0, 0.8, 0.7]
    assert any("'val_loss'" in note and "validation_freq=2" in note for note in run.notes)


def test_otherwise_short_validation_is_spread_evenly_to_the_end():
    run = load({"loss": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
                "val_loss": [0.95, 0.85, 0.75, 0.65]})
    assert np.flatnonzero(run.logged["val_loss"]).tolist() == [2, 4, 7, 9]
    assert any("evenly spaced, ending at the last epoch" in note for note in run.notes)


def test_short_training_lists_cover_the_first_epochs_and_their_val_twins_follow():
    run = load({"a_loss": [1.0, 0.9, 0.8, 0.7], "a_val_loss": [1.1, 1.0, 0.9, 0.8],
                "b_loss": [2.0, 1.5], "b_val_loss": [2.1, 1.6]})
    assert run.logged["b_loss"].tolist() == [True, True, False, False]
    assert run.logged["b_val_loss"].tolist() == [True, True, False, False]
    assert any("'b_loss', 'b_val_loss': 2 values for 4 epochs" in note for note in run.notes)


@pytest.mark.parametrize(("epochs", "values", "expected"), [
    (37, 3, [10, 20, 30]),  # stopped between validations: the round frequency
    (12, 2, [6, 12]),  # ended on a validation epoch
    (10, 5, [2, 4, 6, 8, 10]),
])
def test_ambiguous_validation_freq(epochs, values, expected):
    run = load({"loss": [1.0] * epochs, "val_loss": [1.0] * values})
    assert (np.flatnonzero(run.logged["val_loss"]) + 1).tolist() == expected


# --- values --------------------------------------------------------------------------------

def test_values_none_strings_and_numpy_scalars():
    run = load({"loss": [np.float32(1.5), np.float64(1.0), 1, "0.5", None, "NaN"],
                "accuracy": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])})
    assert run.series["loss"][:4].tolist() == [1.5, 1.0, 1.0, 0.5]
    assert run.logged["loss"].tolist() == [True, True, True, True, False, True]
    assert run.series["accuracy"].tolist() == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_inf_is_logged_with_its_sign():
    run = load({"loss": [1.0, math.inf, -math.inf]})
    assert run.infinite["loss"].tolist() == [0, 1, -1]
    assert run.logged["loss"].all() and np.isnan(run.series["loss"][1:]).all()


def test_lr_is_renamed():
    run = load({"loss": [1.0, 0.5], "lr": [0.1, 0.1]})
    assert run.names == ["loss", "learning_rate"]
    assert "'lr' read as 'learning_rate'" in run.notes


NO_SERIES = "no key holds a per-epoch series of numbers: "


@pytest.mark.parametrize(("history", "where"), [
    ({"loss": [1.0, "abc"]}, "key 'loss', item 1: 'abc' is not a number"),
    ({"loss": 0.5}, f"{NO_SERIES}key 'loss' is a single number"),
    ({"loss": [1.0, {"a": 1}]}, f"{NO_SERIES}key 'loss' is a list holding a dict at item 1"),
    ({"loss": [[0.1, 0.2], 0.5]},
     f"{NO_SERIES}key 'loss' is a list mixing numbers and lists (item 0 is a list)"),
    ({"loss": [True, False]}, f"{NO_SERIES}key 'loss' is true/false flags per epoch (item 0)"),
    ({}, "no log keys"),
    ({"loss": [None, None]}, "no values logged"),
])
def test_bad_history_names_the_key(history, where):
    assert f"history dict: {where}" in error_of(history)


def test_per_class_metric_is_ignored_with_a_note():
    run = load({"loss": [1.0, 0.5], "f1_score": [np.array([0.1, 0.2]), np.array([0.3, 0.4])]})
    assert run.names == ["loss"]
    assert any("'f1_score'" in note and "per-class" in note for note in run.notes)


def test_keys_that_are_no_series_are_skipped_with_a_note():
    history = dict(HISTORY, name="resnet", test_accuracy=0.91, early_stopped=True,
                   config={"optimizer": "adam"}, best_epoch=None,
                   confusion=[1.0, {"tp": 3}, 2.0], flags=[False, True, None],
                   per_class_f1=[[0.1, 0.2], 0.5, [0.3, 0.4]],
                   epoch_time=["12:01:05", "12:01:09", None])
    run = load(history)
    assert_same_run(run, load(HISTORY))
    for key, what in [("name", "text"), ("test_accuracy", "a single number"),
                      ("early_stopped", "a single true/false value"), ("config", "a dict"),
                      ("best_epoch", "null"), ("confusion", "a list holding a dict at item 1"),
                      ("flags", "true/false flags per epoch (item 0)"),
                      ("per_class_f1", "a list mixing numbers and lists (item 0 is a list)"),
                      ("epoch_time", "text per epoch")]:
        assert f"skipped key {key!r}: {what}, not a per-epoch series of numbers" in run.notes


def test_only_keys_that_are_no_series_is_an_error_naming_them():
    message = error_of({"test_loss": 0.31, "test_accuracy": 0.91, "model": "resnet50"})
    assert message == ("history dict: no key holds a per-epoch series of numbers: key "
                       "'test_loss' is a single number; key 'test_accuracy' is a single number; "
                       "key 'model' is text")


def test_a_scalar_epoch_key_is_skipped_and_epochs_counted():
    run = load(dict(HISTORY, epoch=3))
    assert run.epochs.tolist() == [1.0, 2.0, 3.0]
    assert any("skipped key 'epoch': a single number" in note for note in run.notes)


def test_unsupported_objects():
    assert "cannot read an int as a training log" in error_of(42)
    assert "cannot read a list" in error_of([1.0, 2.0])


def test_format_in_is_for_files():
    assert "format_in='keras_csv' applies to files only" in error_of(HISTORY, format_in="keras_csv")


@pytest.mark.parametrize("segment", [None, 0, -1])
def test_single_run_sources_accept_segment_zero(segment):
    assert len(load(HISTORY, segment=segment)) == 3


def test_single_run_sources_refuse_other_segments():
    assert "segment=1 is out of range: the log holds 1 run" in error_of(HISTORY, segment=1)


# --- JSON files ----------------------------------------------------------------------------

def test_json_dump_of_history(tmp_path):
    path = write_json(tmp_path, json.dumps(HISTORY))
    run = load(path)
    assert run.format == "history_json" and run.source == str(path)
    assert_same_run(run, load(HISTORY))


def test_json_wrapper_with_nan_and_infinity_tokens(tmp_path):
    text = '{"history": {"loss": [1.0, NaN, Infinity, null]}, "epoch": [4, 5, 6, 7], "params": {}}'
    run = load(write_json(tmp_path, text))
    assert run.epochs.tolist() == [5.0, 6.0, 7.0, 8.0]
    assert run.logged["loss"].tolist() == [True, True, True, False]
    assert run.infinite["loss"].tolist() == [0, 0, 1, 0]


def test_json_records_and_json_lines(tmp_path):
    records = [{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.8, "val_loss": 0.9}]
    expected = Run.from_columns("x", {"loss": [1.0, 0.8], "val_loss": [None, 0.9]})
    assert_same_run(load(write_json(tmp_path, json.dumps(records))), expected)
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    assert_same_run(load(write_json(tmp_path, lines, "synthetic_log.jsonl")), expected)
    assert_same_run(load(records), expected)


def test_json_lines_cut_short_drops_the_last_line(tmp_path):
    text = '{"epoch": 0, "loss": 1.0}\n{"epoch": 1, "loss": 0.8}\n{"epoch": 2, "lo'
    run = load(write_json(tmp_path, text))
    assert len(run) == 2 and "dropped line 3, cut short" in run.notes


@pytest.mark.parametrize("orient", ["columns", "index"])
def test_pandas_to_json_dumps(tmp_path, orient):
    frame = pd.DataFrame(HISTORY)
    run = load(write_json(tmp_path, frame.to_json(orient=orient)))
    assert_same_run(run, load(HISTORY))


def test_invalid_json_names_line_and_column(tmp_path):
    path = write_json(tmp_path, '{\n  "loss": [1.0, 0.5,\n  "val_loss": [1]\n}')
    message = error_of(path)
    assert str(path) in message and "line 3, column" in message and "invalid JSON" in message


def test_json_file_key_errors_name_the_file(tmp_path):
    path = write_json(tmp_path, '{"loss": [1.0, "x"]}')
    assert f"{path}: key 'loss', item 1: 'x' is not a number" in error_of(path)


def test_json_dump_with_summary_scalars_is_diagnosed(tmp_path):
    # Real dumps keep summaries beside the curves: {"accuracy": [...], ...,
    # "final_val_accuracy": 0.88, "timestamp": "...", "config": {...}}.
    document = dict(HISTORY, test_accuracy=0.91, final_val_accuracy=0.6, final_val_loss=0.95,
                    timestamp="2025-12-26T20:40:47.760495",
                    config={"batch_size": 32, "learning_rate": 0.001, "augment": True})
    path = write_json(tmp_path, json.dumps(document, indent=2))
    report = diagnose(path)
    assert report.conditions or report.limitations
    assert report.summary["epochs"] == 3
    skipped = [note for note in report.notes if note.startswith("skipped key")]
    assert skipped == [
        "skipped key 'test_accuracy': a single number, not a per-epoch series of numbers",
        "skipped key 'final_val_accuracy': a single number, not a per-epoch series of numbers",
        "skipped key 'final_val_loss': a single number, not a per-epoch series of numbers",
        "skipped key 'timestamp': text, not a per-epoch series of numbers",
        "skipped key 'config': a dict, not a per-epoch series of numbers"]
    assert_same_run(load(path), load(write_json(tmp_path, json.dumps(HISTORY), "plain.json")))


def test_json_wrapper_and_lines_skip_keys_that_are_no_series(tmp_path):
    wrapped = {"history": dict(HISTORY, test_loss=0.9, best_weights="model.h5"),
               "epoch": [0, 1, 2], "params": {"epochs": 3}}
    run = load(write_json(tmp_path, json.dumps(wrapped)))
    assert run.names == load(HISTORY).names
    assert any("'test_loss': a single number" in note for note in run.notes)
    assert any("'best_weights': text" in note for note in run.notes)
    records = [{"epoch": 0, "loss": 1.0, "lr": 0.01, "improved": True, "cm": [[5, 1], [2, 4]]},
               {"epoch": 1, "loss": 0.8, "lr": 0.01, "improved": False, "cm": [[6, 0], [1, 5]]},
               {"epoch": 2, "loss": 0.7, "lr": 0.001, "improved": None, "cm": {"tp": 6}}]
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    run = load(write_json(tmp_path, lines, "synthetic_log.jsonl"))
    assert run.names == ["loss", "learning_rate"]
    assert run.series["loss"].tolist() == [1.0, 0.8, 0.7]
    assert any("'improved': true/false flags per epoch" in note for note in run.notes)
    assert any("'cm': a list holding a dict at item 2" in note for note in run.notes)


def test_json_null_entries_stay_not_logged_beside_skipped_keys(tmp_path):
    text = '{"loss": [1.0, null, 0.6], "val_loss": [1.1, 0.9, null], "test_loss": 0.7}'
    run = load(write_json(tmp_path, text))
    assert run.logged["loss"].tolist() == [True, False, True]
    assert run.logged["val_loss"].tolist() == [True, True, False]
    assert any("'test_loss'" in note for note in run.notes)


def test_json_file_with_only_scalars_is_an_error_naming_the_file(tmp_path):
    path = write_json(tmp_path, '{"test_loss": 0.31, "test_accuracy": 0.91, "timestamp": "x"}')
    message = error_of(path)
    assert message.startswith(f"{path}: no key holds a per-epoch series of numbers: ")
    assert "key 'test_accuracy' is a single number" in message
    assert "key 'timestamp' is text" in message


def test_json_file_segment(tmp_path):
    path = write_json(tmp_path, json.dumps(HISTORY))
    assert "out of range" in error_of(path, segment=2)


# --- DataFrames ----------------------------------------------------------------------------

def test_dataframe_of_a_history():
    run = load(pd.DataFrame(HISTORY))
    assert run.format == "dataframe" and run.source == "DataFrame"
    assert_same_run(run, load(HISTORY))


def test_dataframe_epoch_column_or_index_gives_the_epochs():
    frame = pd.DataFrame({"epoch": [3, 4, 5], **HISTORY})
    assert load(frame).epochs.tolist() == [4.0, 5.0, 6.0]
    assert load(frame.set_index("epoch")).epochs.tolist() == [4.0, 5.0, 6.0]
    assert "epoch" not in load(frame).names


def test_dataframe_read_from_a_csvlogger_file_with_na_cells(tmp_path):
    path = tmp_path / "synthetic_log.csv"
    path.write_text("epoch,loss,val_acc,val_loss\n0,1.0,NA,NA\n1,0.8,NA,0.9\n2,0.7,NA,NA\n"
                    "3,0.6,NA,0.8\n4,0.5,NA,NA\n")
    run = load(pd.read_csv(path))
    assert run.logged["val_loss"].tolist() == [False, True, False, True, False]
    assert not run.logged["val_acc"].any()
    assert_same_run(run, load(path))


def test_dataframe_with_nullable_floats():
    frame = pd.DataFrame({"loss": pd.array([1.0, 0.8, None], dtype="Float64")})
    assert load(frame).logged["loss"].tolist() == [True, True, False]


def test_dataframe_duplicate_columns():
    frame = pd.DataFrame([[1.0, 2.0]], columns=["loss", "loss"])
    assert "DataFrame: column 'loss': appears twice" in error_of(frame)


def test_dataframe_nan_that_ends_a_loss_is_logged():
    run = load(pd.DataFrame({"loss": [1.0, 0.8, math.nan, math.nan], "Unnamed: 0": [0, 1, 2, 3]}))
    assert run.names == ["loss"]
    assert run.logged["loss"].all()


# --- the live path -------------------------------------------------------------------------

def test_records_with_missing_keys_match_runbuilder():
    logs = [{"loss": 1.0}, {"loss": 0.9, "val_loss": 1.0}, {"loss": 0.8},
            {"val_loss": 0.7, "loss": 0.7}]
    assert_same_run(load(logs), built(logs))


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(
        st.sampled_from(["loss", "val_loss", "epoch", "history", "lr", "0", "1"]), children,
        max_size=5),
    max_leaves=30)


@SETTINGS
@given(document=json_values)
def test_any_json_document_gives_a_run_or_a_log_error(tmp_path, document):
    path = write_json(tmp_path, json.dumps(document))
    for source in (path, document):
        try:
            run = load(source)
        except LogError as exc:
            assert str(exc)
        else:
            assert len(run) >= 1 and np.all(np.diff(run.epochs) > 0)
