"""Loading Keras CSVLogger files, and detecting formats by content.

Every input here is synthetic, written by the test into tmp_path, shaped
like the files people really have (separators, line ends, NA cells,
appended runs, pandas dumps, cut-off last lines).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import diagnose.load as loaders
from diagnose import LogError
from diagnose.load import load
from diagnose.run import Run

from .conftest import assert_same_run

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

KERAS_CSV = (
    "epoch,accuracy,loss,val_accuracy,val_loss\n"
    "0,0.50,1.20,0.55,1.10\n"
    "1,0.60,0.90,0.62,0.95\n"
    "2,0.70,0.70,0.66,0.90\n"
)


def write(tmp_path, text: str | bytes, name: str = "synthetic_log.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def expected_basic() -> Run:
    return Run.from_columns("x", {
        "accuracy": [0.5, 0.6, 0.7], "loss": [1.2, 0.9, 0.7],
        "val_accuracy": [0.55, 0.62, 0.66], "val_loss": [1.1, 0.95, 0.9]})


def error_of(path, **kwargs) -> str:
    with pytest.raises(LogError) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    return message


# --- the plain file ------------------------------------------------------------------------

def test_csvlogger_file_epochs_are_one_based(tmp_path):
    run = load(write(tmp_path, KERAS_CSV))
    assert run.format == "keras_csv"
    assert run.source.endswith("synthetic_log.csv")
    assert run.notes == ()
    assert_same_run(run, expected_basic())


def test_path_may_be_str_or_pathlike(tmp_path):
    path = write(tmp_path, KERAS_CSV)
    assert_same_run(load(str(path)), load(path))


@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r\r\n", "\r"])
def test_separators_and_line_ends(tmp_path, separator, line_end):
    text = KERAS_CSV.replace(",", separator).replace("\n", line_end)
    assert_same_run(load(write(tmp_path, text)), expected_basic())


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_byte_order_mark(tmp_path, encoding):
    assert_same_run(load(write(tmp_path, KERAS_CSV.encode(encoding))), expected_basic())


def test_error_line_numbers_count_physical_lines_with_crcrlf(tmp_path):
    path = write(tmp_path, KERAS_CSV.replace("0.62", "abc").replace("\n", "\r\r\n"))
    assert "line 3, column 'val_accuracy': 'abc' is not a number" in error_of(path)


# --- cells -------------------------------------------------------------------------------

def test_na_and_empty_are_not_logged_nan_and_inf_are_logged(tmp_path):
    text = ("epoch,a_loss,b_loss,c_loss,loss\n"
            "0,NA,nan,inf,1.0\n"
            "1,,NaN,-inf,0.9\n"
            "2,0.5,0.4,Infinity,0.8\n")
    run = load(write(tmp_path, text))
    assert run.logged["a_loss"].tolist() == [False, False, True]
    assert run.logged["b_loss"].all() and np.isnan(run.series["b_loss"][:2]).all()
    assert run.logged["c_loss"].all() and np.isnan(run.series["c_loss"]).all()
    assert run.infinite["c_loss"].tolist() == [1, -1, 1]
    assert set(run.infinite) == {"c_loss"}


def test_non_numeric_cell_names_line_and_column(tmp_path):
    lines = KERAS_CSV.splitlines()
    lines += ["3,0.71,0.69,0.67,0.88", "4,0.72,0.68,0.68,0.87", "5,0.73,0.67,0.69,abc",
              "6,0.74,0.66,0.7,0.86"]
    message = error_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert "line 7, column 'val_loss': 'abc' is not a number" in message


def test_decimal_commas_with_semicolons(tmp_path):
    text = KERAS_CSV.replace(",", ";").replace(".", ",")
    run = load(write(tmp_path, text))
    assert_same_run(run, expected_basic())
    assert any("decimal comma" in note for note in run.notes)


def test_list_valued_metric_column_is_ignored_with_a_note(tmp_path):
    text = ('epoch,f1_score,loss\n'
            '0,"""[0.1, 0.2, 0.3]""",1.0\n'
            '1,"""[0.2, 0.3, 0.4]""",0.8\n')
    run = load(write(tmp_path, text))
    assert run.names == ["loss"]
    assert any("'f1_score'" in note and "per-class" in note for note in run.notes)


# --- columns -----------------------------------------------------------------------------

def test_column_order_does_not_matter(tmp_path):
    shuffled = ("val_loss,loss,epoch,val_accuracy,accuracy\n"
                "1.10,1.20,0,0.55,0.50\n"
                "0.95,0.90,1,0.62,0.60\n"
                "0.90,0.70,2,0.66,0.70\n")
    assert_same_run(load(write(tmp_path, shuffled)), expected_basic())


def test_uppercase_first_sorted_header(tmp_path):
    text = ("epoch,AUC,Loss_total,loss,val_AUC,val_loss\n"
            "0,0.6,2.0,1.0,0.55,1.1\n1,0.7,1.5,0.8,0.6,1.0\n")
    run = load(write(tmp_path, text))
    assert run.names == ["AUC", "Loss_total", "loss", "val_AUC", "val_loss"]


@pytest.mark.parametrize("column", ["lr", "learning_rate"])
def test_learning_rate_is_always_named_learning_rate(tmp_path, column):
    run = load(write(tmp_path, f"epoch,loss,{column}\n0,1.0,0.01\n1,0.8,0.001\n"))
    assert run.names == ["learning_rate", "loss"]
    assert run.series["learning_rate"].tolist() == [0.01, 0.001]
    assert any("'lr' read as 'learning_rate'" in note for note in run.notes) == (column == "lr")


def test_lr_and_learning_rate_both_logged_keeps_learning_rate(tmp_path):
    run = load(write(tmp_path, "epoch,learning_rate,loss,lr\n0,0.01,1.0,0.5\n1,0.01,0.8,0.5\n"))
    assert run.series["learning_rate"].tolist() == [0.01, 0.01]
    assert "lr" not in run.names


def test_old_acc_names_are_kept(tmp_path):
    run = load(write(tmp_path, "epoch,acc,loss,val_acc,val_loss\n0,0.5,1.0,0.4,1.1\n"))
    assert run.names == ["acc", "loss", "val_acc", "val_loss"]


def test_duplicate_column_name(tmp_path):
    assert "line 1: column 'loss' appears twice" in error_of(
        write(tmp_path, "epoch,loss,loss\n0,1.0,1.0\n"))


@pytest.mark.parametrize("header", [",loss,val_loss", "Unnamed: 0,loss,val_loss", "loss,val_loss"])
def test_pandas_dumps_get_epochs_one_to_n(tmp_path, header):
    rows = ["1.0,1.1", "0.8,0.9", "0.7,0.85"]
    if header.startswith(("Unnamed", ",")):
        rows = [f"{i},{row}" for i, row in enumerate(rows)]
    run = load(write(tmp_path, header + "\n" + "\n".join(rows) + "\n"))
    assert run.names == ["loss", "val_loss"]
    assert run.epochs.tolist() == [1.0, 2.0, 3.0]
    assert run.series["val_loss"].tolist() == [1.1, 0.9, 0.85]


def test_trailing_separator_is_tolerated(tmp_path):
    text = "epoch,loss,\n0,1.0,\n1,0.8,\n"
    assert load(write(tmp_path, text)).names == ["loss"]


# --- rows and epochs ---------------------------------------------------------------------

def test_resumed_run_keeps_its_epoch_numbers(tmp_path):
    run = load(write(tmp_path, "epoch,loss\n10,0.5\n11,0.45\n12,0.44\n"))
    assert run.epochs.tolist() == [11.0, 12.0, 13.0]


def test_skipped_epochs_are_fine(tmp_path):
    run = load(write(tmp_path, "epoch,loss\n0,0.5\n1,0.45\n4,0.4\n9,0.3\n"))
    assert run.epochs.tolist() == [1.0, 2.0, 5.0, 10.0]
    assert run.notes == ()


def test_duplicated_epoch_row_keeps_the_last(tmp_path):
    run = load(write(tmp_path, "epoch,loss\n0,0.5\n1,0.45\n2,0.44\n2,0.43\n3,0.42\n"))
    assert run.epochs.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert run.series["loss"].tolist() == [0.5, 0.45, 0.43, 0.42]
    assert any("epoch 3 logged again from line 5" in note for note in run.notes)


def test_resume_from_an_earlier_checkpoint_replaces_the_relogged_epochs(tmp_path):
    text = "epoch,loss\n0,0.9\n1,0.8\n2,0.7\n3,0.6\n4,0.5\n2,0.65\n3,0.55\n4,0.45\n5,0.4\n"
    run = load(write(tmp_path, text))
    assert run.epochs.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert run.series["loss"].tolist() == [0.9, 0.8, 0.65, 0.55, 0.45, 0.4]
    assert any("epochs 3-5 logged again from line 7" in note and "lines 4-6" in note
               for note in run.notes)


def appended(*lengths: int, header_each_time: bool = False) -> str:
    lines = ["epoch,loss,val_loss"]
    for k, n in enumerate(lengths):
        if header_each_time and k:
            lines.append(lines[0])
        lines += [f"{e},{1.0 + k + 1 / (e + 1)},{2.0 + k}" for e in range(n)]
    return "\n".join(lines) + "\n"


def test_appended_runs_diagnose_the_last_with_a_note(tmp_path):
    run = load(write(tmp_path, appended(30, 30, 29)))
    assert len(run) == 29
    assert run.series["val_loss"][0] == 4.0
    assert ("file holds 3 runs appended (rows 2-31, 32-61, 62-90); diagnosing the last; "
            "choose with segment=") in run.notes[0]


@pytest.mark.parametrize(("segment", "first_val"), [(0, 2.0), (1, 3.0), (-1, 4.0), (-3, 2.0)])
def test_segment_chooses_another_run(tmp_path, segment, first_val):
    run = load(write(tmp_path, appended(5, 6, 7)), segment=segment)
    assert run.series["val_loss"][0] == first_val
    assert len(run) == {2.0: 5, 3.0: 6, 4.0: 7}[first_val]


@pytest.mark.parametrize("segment", [3, -4])
def test_segment_out_of_range_says_how_many(tmp_path, segment):
    message = error_of(write(tmp_path, appended(5, 6, 7)), segment=segment)
    assert f"segment={segment} is out of range" in message and "3 runs" in message


def test_segment_must_be_an_int(tmp_path):
    with pytest.raises(TypeError):
        load(write(tmp_path, appended(5, 6)), segment="1")


def test_repeated_header_starts_a_new_run(tmp_path):
    run = load(write(tmp_path, appended(4, 5, header_each_time=True)))
    assert len(run) == 5
    assert "file holds 2 runs appended (rows 2-5, 7-11)" in run.notes[0]
    assert len(load(run.source, segment=0)) == 4


def test_repeated_header_may_bring_other_columns(tmp_path):
    text = "epoch,loss\n0,1.0\n1,0.9\nepoch,acc,loss\n0,0.5,1.1\n1,0.6,0.9\n"
    run = load(write(tmp_path, text))
    assert run.names == ["acc", "loss"]
    assert load(run.source, segment=0).names == ["loss"]


def test_files_joined_with_cat_keep_their_inner_bom_out_of_the_names(tmp_path):
    one = KERAS_CSV.encode("utf-8-sig")
    run = load(write(tmp_path, one + one))
    assert_same_run(run, expected_basic())
    assert "2 runs appended (rows 2-4, 6-8)" in run.notes[0]


def test_pandas_dump_appended_with_its_header(tmp_path):
    text = ",loss,val_loss\n0,1.0,1.1\n1,0.9,1.0\n,loss,val_loss\n0,2.0,2.1\n"
    run = load(write(tmp_path, text))
    assert run.series["loss"].tolist() == [2.0]
    assert "2 runs appended (rows 2-3, 5)" in run.notes[0]


def test_epoch_that_falls_below_the_run_start_starts_a_new_run(tmp_path):
    run = load(write(tmp_path, "epoch,loss\n5,1.0\n6,0.9\n7,0.8\n3,0.7\n4,0.6\n"))
    assert run.epochs.tolist() == [4.0, 5.0]
    assert "2 runs appended" in run.notes[0]


@pytest.mark.parametrize("ending", ["\n\n", "\n\n\n", "\r\n\r\n", "\n,,\n"])
def test_trailing_blank_lines(tmp_path, ending):
    text = KERAS_CSV.rstrip("\n") + ending
    assert_same_run(load(write(tmp_path, text)), expected_basic())


def test_truncated_last_line_is_dropped_with_a_note(tmp_path):
    run = load(write(tmp_path, KERAS_CSV + "3,0.75,0.6"))
    assert_same_run(run, expected_basic())
    assert any("dropped line 5, cut short" in note for note in run.notes)


def test_last_line_cut_mid_number_is_dropped(tmp_path):
    run = load(write(tmp_path, KERAS_CSV + "3,0.75,0.6,0.7,1e-"))
    assert_same_run(run, expected_basic())
    assert any("dropped line 5" in note for note in run.notes)


def test_short_line_in_the_middle_is_an_error(tmp_path):
    text = KERAS_CSV.replace("1,0.60,0.90,0.62,0.95", "1,0.60,0.90")
    assert "line 3: 3 cells, but the header (line 1) has 5" in error_of(write(tmp_path, text))


def test_long_line_is_an_error(tmp_path):
    text = KERAS_CSV.replace("1,0.60,0.90,0.62,0.95", "1,0.60,0.90,0.62,0.95,7")
    assert "line 3: 6 cells" in error_of(write(tmp_path, text))


def test_trailing_nul_bytes_from_a_crash_are_ignored(tmp_path):
    path = write(tmp_path, KERAS_CSV.encode() + b"\x00" * 64)
    assert_same_run(load(path), expected_basic())


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("epoch,loss,val_loss\n", "line 1: no data rows"),
    ("epoch\n0\n1\n", "no metric columns"),
    ("epoch,loss,val_loss\n0,NA,NA\n1,,\n", "no values logged"),
    ("0,1.0,2.0\n1,0.9,1.9\n", "line 1: no header row"),
    ("epoch,loss\nNA,1.0\n", "line 2, column 'epoch': no epoch number"),
])
def test_unusable_files(tmp_path, text, problem):
    assert problem in error_of(write(tmp_path, text), format_in="keras_csv")


def test_unusable_files_are_refused_when_detected_too(tmp_path):
    assert "no data rows" in error_of(write(tmp_path, "epoch,loss,val_loss\n"))
    assert "empty file" in error_of(write(tmp_path, ""))


# --- properties --------------------------------------------------------------------------

NAMES = ["accuracy", "loss", "val_accuracy", "val_loss", "lr", "mae", "Top5"]
cell_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.none(),
)


@st.composite
def tables(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    n = draw(st.integers(1, 12))
    columns = {name: draw(st.lists(cell_values, min_size=n, max_size=n)) for name in names}
    if all(v is None for column in columns.values() for v in column):
        columns[names[0]][0] = 1.0
    first_epoch = draw(st.integers(0, 50))
    return columns, first_epoch


def render(columns: dict, first_epoch: int, order: list[str], separator: str, line_end: str,
           na: str) -> str:
    def cell(value):
        return na if value is None else repr(value)
    n = len(next(iter(columns.values())))
    lines = [separator.join(order)]
    for i in range(n):
        lines.append(separator.join(
            str(first_epoch + i) if name == "epoch" else cell(columns[name][i]) for name in order))
    return line_end.join(lines) + line_end


def expected_from(columns: dict, first_epoch: int) -> Run:
    renamed = {("learning_rate" if k == "lr" else k): v for k, v in sorted(columns.items())}
    n = len(next(iter(columns.values())))
    return Run.from_columns("x", dict(sorted(renamed.items())),
                            epochs=[first_epoch + 1 + i for i in range(n)])


@SETTINGS
@given(table=tables(), data=st.data(),
       separator=st.sampled_from([",", ";", "\t"]),
       line_end=st.sampled_from(["\n", "\r\n", "\r\r\n"]),
       bom=st.booleans(), na=st.sampled_from(["NA", ""]))
def test_any_layout_of_the_same_table_gives_the_same_run(tmp_path, table, data, separator,
                                                         line_end, bom, na):
    columns, first_epoch = table
    order = data.draw(st.permutations(["epoch", *columns]))
    text = render(columns, first_epoch, order, separator, line_end, na)
    path = write(tmp_path, text.encode("utf-8-sig" if bom else "utf-8"))
    assert_same_run(load(path), expected_from(columns, first_epoch))


@SETTINGS
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5), data=st.data())
def test_every_appended_run_can_be_chosen(tmp_path, lengths, data):
    path = write(tmp_path, appended(*lengths))
    k = data.draw(st.integers(-len(lengths), len(lengths) - 1))
    run = load(path, segment=k)
    assert len(run) == lengths[k]
    assert run.series["val_loss"][0] == 2.0 + (k % len(lengths))
    assert np.all(np.diff(run.epochs) > 0)


@SETTINGS
@given(junk=st.binary(max_size=300))
def test_random_bytes_give_a_run_or_a_log_error(tmp_path, junk):
    path = write(tmp_path, junk)
    try:
        run = load(path)
    except LogError as exc:
        assert str(path) in str(exc)
    else:
        assert len(run) >= 1


@SETTINGS
@given(junk=st.text(alphabet=st.sampled_from(list("0123456789.,;\t\n\r-+eEnaNAif \"[]x")),
                    max_size=200))
def test_random_csv_like_text_gives_a_run_or_a_log_error(tmp_path, junk):
    path = write(tmp_path, "epoch,loss,val_loss\n" + junk)
    try:
        run = load(path, format_in="keras_csv")
    except LogError as exc:
        assert str(path) in str(exc)
    else:
        assert np.all(np.diff(run.epochs) > 0)
        assert all(len(v) == len(run) for v in run.series.values())


# --- detection and the boundary ----------------------------------------------------------

def test_detection_is_by_content_not_extension(tmp_path):
    assert load(write(tmp_path, KERAS_CSV, "log.txt")).format == "keras_csv"
    assert load(write(tmp_path, KERAS_CSV, "log.json")).format == "keras_csv"
    history = '{"loss": [1.0, 0.8], "val_loss": [1.1, 0.9]}'
    assert load(write(tmp_path, history, "history.csv")).format == "history_json"


def test_format_in_forces_the_format(tmp_path):
    path = write(tmp_path, '{"loss": [1.0, 0.8]}', "history.csv")
    message = error_of(path, format_in="keras_csv")
    assert "line 1" in message


def test_unknown_format_in(tmp_path):
    message = error_of(write(tmp_path, KERAS_CSV), format_in="excel")
    assert "unknown format_in='excel'" in message and "keras_csv" in message


def test_missing_format_module_is_skipped_or_reported(tmp_path, monkeypatch):
    formats = {"synthetic_missing": "no_such_module", **loaders.FORMATS}
    monkeypatch.setattr(loaders, "FORMATS", formats)
    assert load(write(tmp_path, KERAS_CSV)).format == "keras_csv"
    message = error_of(write(tmp_path, KERAS_CSV), format_in="synthetic_missing")
    assert "'synthetic_missing' is not available" in message


def test_unrecognized_content_lists_the_formats_tried(tmp_path):
    message = error_of(write(tmp_path, "just some words\nand more words\n"))
    assert "not a training log in a known format" in message
    assert "keras_csv" in message and "history_json" in message


@pytest.mark.parametrize("setup", ["missing", "directory", "undecodable"])
def test_file_problems_become_log_errors(tmp_path, setup):
    path = tmp_path / "synthetic_log.csv"
    if setup == "directory":
        path.mkdir()
    elif setup == "undecodable":
        path.write_bytes(KERAS_CSV.encode() + b"3,\xff\xfe\xfa,1\n")
    message = error_of(path)
    assert {"missing": "no such file", "directory": "is a directory",
            "undecodable": "not UTF-8 text"}[setup] in message


def test_a_run_is_returned_as_is():
    run = Run.from_columns("synthetic", {"loss": [1.0, 0.5]})
    assert load(run) is run


def test_no_pandas_import_for_files(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, KERAS_CSV)
    heavy = ("pandas", "scipy", "tensorflow", "keras")
    code = ("import sys; from diagnose.load import load; load(sys.argv[1]); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_nan_epoch_number(tmp_path):
    message = error_of(write(tmp_path, "epoch,loss\n0,1.0\nnan,0.9\n"))
    assert "line 3, column 'epoch'" in message
