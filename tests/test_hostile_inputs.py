"""A catalogue of hostile inputs: each one costs one clear line and exit 2, never the others.

Every case is built at test time in tmp_path and given to the ``diagnose``
command next to a good log. The contract (PRODUCT.md, issue 10): the exit
code is the expected one, stderr is one line naming the bad input, there is
no traceback, and the good log is still diagnosed. Inputs that are odd but
readable (a corrupt TensorBoard tail, 5,000 columns) are diagnosed instead,
with exit 0. Cases that could hang (FIFOs, devices, stdin) run in a
subprocess with a timeout.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from diagnose import LogError, diagnose
from diagnose.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOOD = FIXTURES / "digits_healthy_adam.csv"
GOOD_LINE = "digits_healthy_adam.csv  healthy"
EVENTS = next((FIXTURES / "formats" / "tensorboard" / "train").glob("events.out.tfevents.*"))
HANG_TIMEOUT_S = 20


def _write(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", newline="")
        else:
            path.write_bytes(content)
        return path
    return build


def _json(name: str, obj) -> Callable[[Path], Path]:
    return _write(name, json.dumps(obj))


def _nested(depth: int) -> str:
    return '{"loss": ' + "[" * depth + "1" + "]" * depth + "}"


def _record(payload: bytes, good_crc: bool = True) -> bytes:
    from diagnose.load.tensorboard import _masked_crc

    header = struct.pack("<Q", len(payload))
    crc = _masked_crc(header), _masked_crc(payload)
    if not good_crc:
        crc = crc[0] ^ 1, crc[1] ^ 1
    return header + struct.pack("<I", crc[0]) + payload + struct.pack("<I", crc[1])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _events(*payloads: bytes, good_crc: bool = True) -> Callable[[Path], Path]:
    return _write("run/train/events.out.tfevents.1.host.v2",
                  b"".join(_record(p, good_crc) for p in payloads))


# Event{step=2 as a length-delimited field, summary=5 as a varint}: wrong wire types.
_WRONG_WIRES = bytes([0x12, 1, 0x41, 0x28, 7])
# A summary whose Value.tag (field 1) is a varint instead of a string.
_TAG_AS_NUMBER = bytes([0x2A, 4, 0x0A, 2, 0x08, 5])
_SCALAR = (bytes([0x10, 0x00, 0x2A, 0x13, 0x0A, 0x11, 0x0A, 0x0A]) + b"epoch_loss"
           + bytes([0x15]) + struct.pack("<f", 0.5))


def _link_loop(tmp: Path) -> Path:
    (tmp / "loop.csv").symlink_to(tmp / "loop.csv")
    return tmp / "loop.csv"


def _dangling(tmp: Path) -> Path:
    (tmp / "dangling.csv").symlink_to(tmp / "nowhere.csv")
    return tmp / "dangling.csv"


def _empty_folder(tmp: Path) -> Path:
    (tmp / "nothing_here").mkdir()
    (tmp / "nothing_here" / "notes.txt").write_text("not a log")
    return tmp / "nothing_here"


def _folder_with_link_loop(tmp: Path) -> Path:
    folder = tmp / "looping"
    folder.mkdir()
    (folder / "self").symlink_to(folder)
    (folder / "bad.csv").write_text("epoch,loss\n0,abc\n")
    return folder


def _through_a_file(tmp: Path) -> Path:
    (tmp / "plain.csv").write_text("epoch,loss\n0,1\n")
    return tmp / "plain.csv" / "inner.csv"


def _odd_name(name: str) -> Callable[[Path], Path]:
    return _write(name, "epoch,loss\n0,abc\n")


def _columns(count: int) -> str:
    names = ",".join(f"metric_{i}" for i in range(count))
    rows = "\n".join(f"{e}," + ",".join(["0.5"] * count) for e in range(4))
    return f"epoch,{names}\n{rows}\n"


_HUGE_DIGITS = "1" * 5000
_HEALTHY_ROWS = "".join(f"{e},{2.0 / (e + 1):.4f},{2.1 / (e + 1):.4f}\n" for e in range(12))

# name -> (builder, expected exit code, fragment expected in the stderr line)
CASES: dict[str, tuple[Callable[[Path], Path], int, str]] = {
    # CSVLogger files
    "csv-empty": (_write("empty.csv", ""), 2, "empty file"),
    "csv-blank-lines": (_write("blank.csv", "\n\n  \n\t\n"), 2, "empty file"),
    "csv-header-only": (_write("header.csv", "epoch,loss,val_loss\n"), 2, "no data rows"),
    "csv-text-cell": (_write("text.csv", "epoch,loss\n0,0.5\n1,abc\n2,0.3\n"), 2, "line 3"),
    "csv-underscore-number": (_write("underscore.csv", "epoch,loss\n0,1_0.5\n1,0.5\n2,0.4\n"),
                              2, "'1_0.5' is not a number"),
    "csv-long-row": (_write("long_row.csv", "epoch,loss\n0,1,2,3\n1,0.5\n"), 2, "line 2"),
    "csv-duplicate-column": (_write("dup.csv", "epoch,loss,loss\n0,1,1\n"), 2, "appears twice"),
    "csv-nan-epoch": (_write("nan_epoch.csv", "epoch,loss\nnan,1\n1,0.5\n"), 2, "not finite"),
    "csv-all-na": (_write("all_na.csv", "epoch,loss\n0,NA\n1,NA\n"), 2, "no values logged"),
    "csv-epoch-only": (_write("epoch_only.csv", "epoch\n0\n1\n"), 2, "only an epoch counter"),
    "csv-no-header": (_write("numbers.csv", "0,1\n1,0.5\n"), 2, "numbers.csv"),
    "csv-nul-bytes": (_write("nul.csv", b"epoch,loss\n0,\x00\x00\n1,0.5\n"), 2, "nul.csv"),
    "csv-random-bytes": (_write("random.csv", bytes(range(256)) * 4), 2, "random.csv"),
    "csv-invalid-utf8": (_write("latin1.csv", "epoch,loss\n0,0.5\n# caf\xe9\n".encode("latin-1")),
                         2, "not UTF-8"),
    "csv-utf16-no-bom": (_write("utf16.csv", "epoch,loss\n0,0.5\n".encode("utf-16-le")),
                         2, "utf16.csv"),
    "csv-bare-cr-in-quoted-cell": (_write("cr.csv", 'epoch,loss\n0,"0.\r5"\n1,0.4\n'), 0,
                                   "cr.csv"),
    "csv-unclosed-quote": (_write("quote.csv", 'epoch,loss\n0,"0.5\n1,0.4\n'), 2, "quote.csv"),
    "csv-mixed-separators": (_write("mixed.csv", "epoch;loss\n0,0.5\n1;0.4\n"), 2, "mixed.csv"),
    "csv-inf-epoch": (_write("inf_epoch.csv", "epoch,loss\ninf,1\n"), 2, "not finite"),
    "csv-huge-integer-epoch": (_write("huge_epoch.csv", f"epoch,loss\n{_HUGE_DIGITS},1\n"), 2,
                               "not finite"),
    "csv-over-max-bytes": (_write("big.csv", "epoch,loss\n" + "0,0.5\n" * 2000), 2,
                           "more than the limit"),
    # History JSON and JSON Lines
    "json-invalid": (_write("invalid.json", '{"loss": [1, 2,'), 2, "invalid JSON"),
    "json-deeply-nested": (_write("deep.json", _nested(100_000)), 2, "nested too deeply"),
    "json-4301-digit-integer-key": (_write("digits.json", '{"loss": [1, 2], "n": ' + _HUGE_DIGITS
                                           + "}"), 0, ""),
    "json-array-of-numbers": (_json("numbers.json", [1, 2, 3]), 2, "numbers.json"),
    "json-string": (_json("string.json", "loss"), 2, "string.json"),
    "json-null": (_write("null.json", "null"), 2, "null.json"),
    "json-empty-object": (_json("empty_object.json", {}), 2, "no log keys"),
    "json-text-series": (_json("text_series.json", {"loss": "abc"}), 2, "text"),
    "json-empty-list": (_json("empty_list.json", {"loss": []}), 2, "no values logged"),
    "json-all-null": (_json("all_null.json", {"loss": [None, None]}), 2, "no values logged"),
    "json-flags": (_json("flags.json", {"loss": [True, False]}), 2, "true/false"),
    "json-text-in-numbers": (_json("mixed.json", {"loss": [1, "x", 2]}), 2, "item 1"),
    "json-epochs-going-back": (_json("epochs.json", {"epoch": [0, 0, 1], "loss": [1, 0.9, 0.8]}),
                               2, "increasing"),
    "json-epoch-text": (_json("epoch_text.json", {"history": {"loss": [1, 0.5]}, "epoch": ["a",
                                                                                      "b"]}),
                        2, "epoch numbers"),
    "json-lines-bad-middle": (_write("lines.json", '{"loss": 1}\n{"loss": \n{"loss": 0.5}\n'), 2,
                              "line 2"),
    "json-nested-dict-values": (_json("dicts.json", {"loss": [{"a": 1}]}), 2, "dict"),
    # Hugging Face trainer_state.json
    "hf-history-not-a-list": (_json("hf1/trainer_state.json", {"log_history": {}}), 2,
                              "expected a list"),
    "hf-step-is-text": (_json("hf2/trainer_state.json",
                              {"log_history": [{"step": "10", "epoch": 1, "loss": 1.0}]}), 2,
                        "'step' is '10'"),
    "hf-epoch-is-text": (_json("hf3/trainer_state.json",
                               {"log_history": [{"step": 1, "epoch": "one", "loss": 1.0}]}), 2,
                         "'epoch' is 'one'"),
    "hf-entry-not-object": (_json("hf4/trainer_state.json", {"log_history": [3]}), 2,
                            "expected an object"),
    "hf-huge-step": (_write("hf5/trainer_state.json", '{"log_history": [{"step": ' + "9" * 400
                            + ', "loss": 1.0}, {"step": 2, "loss": 0.5}]}'), 2, "trainer_state"),
    "hf-deeply-nested": (_write("hf6/trainer_state.json", '{"log_history": ' + "[" * 100_000
                                + "]" * 100_000 + "}"), 2, "nested too deeply"),
    # Lightning metrics.csv
    "lightning-bare-cr-ends-a-line": (
        _write("pl1/metrics.csv", "epoch,step,train_loss\n0,1,0.5\r0\n1,2,0.4\n"), 0, ""),
    "lightning-cr-in-quoted-cell": (_write("pl6/metrics.csv",
                                           'epoch,step,train_loss\n0,1,"0.\r5"\n'), 2, "line 2"),
    "lightning-inf-epoch": (_write("pl2/metrics.csv", "epoch,step,train_loss\ninf,1,0.5\n"), 2,
                            "not an epoch number"),
    "lightning-text-cell": (_write("pl3/metrics.csv", "epoch,step,train_loss\n0,1,oops\n"), 2,
                            "'oops' is not a number"),
    "lightning-no-epoch-rows": (_write("pl4/metrics.csv", "epoch,step,train_loss\n,1,0.5\n"), 2,
                                "no row has an epoch"),
    "lightning-nul-in-cell": (_write("pl5/metrics.csv", b"epoch,step,train_loss\n0,1,0.\x005\n"),
                              2, "metrics.csv"),
    # TensorBoard event files
    "tensorboard-random-bytes": (_write("tb1/train/events.out.tfevents.1.h.v2", bytes(range(256))),
                                 2, "corrupt from the first record"),
    "tensorboard-empty-file": (_write("tb2/train/events.out.tfevents.1.h.v2", b""), 2,
                               "no epoch-level scalars"),
    "tensorboard-wrong-wire-types": (_events(_WRONG_WIRES), 2, "no epoch-level scalars"),
    "tensorboard-tag-as-number": (_events(_TAG_AS_NUMBER), 2, "no epoch-level scalars"),
    "tensorboard-every-crc-corrupt": (_events(_SCALAR, _SCALAR, good_crc=False), 2,
                                      "corrupt from the first record"),
    "tensorboard-malformed-protobuf": (_events(bytes([0x2A, 0x7F, 0x0A])), 2, "malformed"),
    "tensorboard-cut-tail-is-read": (_write("tb3/train/" + EVENTS.name,
                                            EVENTS.read_bytes()[:-7]), 0, ""),
    # The file system
    "missing-file": (lambda tmp: tmp / "absent.csv", 2, "no such file"),
    "folder-without-logs": (_empty_folder, 2, "no training logs in this folder"),
    "symlink-loop": (_link_loop, 2, "loop.csv"),
    "dangling-symlink": (_dangling, 2, "no such file"),
    "folder-with-symlink-loop": (_folder_with_link_loop, 2, "bad.csv"),
    "path-through-a-file": (_through_a_file, 2, "inner.csv"),
    "name-too-long": (lambda tmp: tmp / ("x" * 300 + ".csv"), 2, "xxx"),
    "newline-in-file-name": (_odd_name("bad\nname.csv"), 2, "bad\\nname.csv"),
    "escape-codes-in-file-name": (_odd_name("bad\x1b[31mred.csv"), 2, "red.csv"),
    # Odd but readable: diagnosed, with bounded notes
    "csv-5000-columns": (_write("wide.csv", _columns(5000)), 0, ""),
    "csv-1mb-column-name": (_write("long_name.csv", "epoch,loss," + "n" * 2**20 + "\n"
                                   + "".join(f"{e},{1 / (e + 1)},[1]\n" for e in range(6))), 0, ""),
    "csv-huge-integer-loss": (_write("huge_loss.csv", f"epoch,loss\n0,{_HUGE_DIGITS}\n1,0.5\n"), 0,
                              ""),
    "json-400-digit-loss": (_write("huge_loss.json", '{"loss": [' + "9" * 400 + ", 1, 0.5]}"), 0,
                            ""),
    "csv-html-column-name": (_write("html.csv", "epoch,loss,val_loss,<script>alert(1)</script>\n"
                                    + _HEALTHY_ROWS.replace("\n", ",[1]\n")), 0, ""),
}


def _call(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_costs_one_line_and_the_good_log_is_still_diagnosed(name, tmp_path, capsys):
    build, expected_code, fragment = CASES[name]
    bad = build(tmp_path)
    extra = ["--max-bytes", "4096"] if name == "csv-over-max-bytes" else []
    code, out, err = _call([*extra, str(GOOD), str(bad)], capsys)
    assert "Traceback" not in err and "Traceback" not in out
    assert GOOD_LINE in out
    assert code == expected_code, err
    if expected_code == 2:
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert fragment in lines[0]
        assert bad.name.replace("\n", "\\n")[:40] in lines[0] or bad.parent.name in lines[0]
    else:
        assert err == ""


@pytest.mark.parametrize("name", ["json-deeply-nested", "csv-text-cell", "missing-file",
                                  "tensorboard-every-crc-corrupt", "folder-without-logs"])
def test_json_output_stays_valid_with_an_errors_list(name, tmp_path, capsys):
    bad = CASES[name][0](tmp_path)
    code, out, _ = _call(["--format", "json", str(bad), str(GOOD)], capsys)
    document = json.loads(out)
    assert code == 2
    assert [run["source"] for run in document["runs"]] == [str(GOOD)]
    assert len(document["errors"]) == 1 and document["errors"][0]["source"] == str(bad)


def test_notes_stay_bounded_for_thousands_of_columns_and_huge_names(tmp_path, capsys):
    for name in ("csv-5000-columns", "csv-1mb-column-name"):
        bad = CASES[name][0](tmp_path)
        _, out, _ = _call(["--format", "json", str(bad)], capsys)
        notes = json.loads(out)["runs"][0]["notes"]
        assert len(json.dumps(notes)) < 5000, name


def test_markdown_shows_log_text_as_text_not_html(tmp_path, capsys):
    bad = CASES["csv-html-column-name"][0](tmp_path)
    _, out, _ = _call(["--format", "markdown", str(bad)], capsys)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out


def test_an_unreadable_folder_is_one_line_and_its_readable_neighbours_are_diagnosed(
        tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "inside.csv").write_text("epoch,loss\n0,1\n")
    real_is_dir = Path.is_dir

    def is_dir(self):  # what a folder without the x permission does to is_dir (even as root)
        if self.parent == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    code, out, err = _call([str(locked / "inside.csv"), str(GOOD)], capsys)
    assert code == 2 and GOOD_LINE in out
    assert len(err.splitlines()) == 1 and "inside.csv" in err


def _run_cli(*args: str, stdin=None, input_bytes: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "diagnose", *args], capture_output=True,
                          stdin=stdin, input=input_bytes, timeout=HANG_TIMEOUT_S,
                          cwd=FIXTURES.parent)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
@pytest.mark.parametrize("inside_folder", [False, True], ids=["named", "in-a-folder"])
def test_a_fifo_is_refused_without_hanging(tmp_path, inside_folder):
    folder = tmp_path / "logs"
    folder.mkdir()
    os.mkfifo(folder / "pipe.csv")
    result = _run_cli(str(folder if inside_folder else folder / "pipe.csv"), str(GOOD))
    err = result.stderr.decode()
    assert result.returncode == 2 and "FIFO" in err and "pipe.csv" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert GOOD_LINE in result.stdout.decode()


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_without_reading_it(device):
    result = _run_cli(device, str(GOOD))
    err = result.stderr.decode()
    assert result.returncode == 2 and "device" in err and device in err
    assert GOOD_LINE in result.stdout.decode()


def test_dash_reads_standard_input_once():
    result = _run_cli("-", str(GOOD), input_bytes=GOOD.read_bytes())
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    assert "<stdin>  healthy" in out and GOOD_LINE in out


def test_dev_stdin_is_read_once_not_twice():
    with open(GOOD, "rb") as fh:
        result = _run_cli("/dev/stdin", stdin=fh)
    assert result.returncode == 0, result.stderr
    assert "healthy" in result.stdout.decode()


@pytest.mark.parametrize("stdin_bytes, fragment", [(b"", "empty file"),
                                                   (bytes(range(256)), "<stdin>"),
                                                   (b"0" * 5000, "more than the limit")])
def test_bad_standard_input_is_one_line(stdin_bytes, fragment):
    result = _run_cli("--max-bytes", "4096", "-", str(GOOD), input_bytes=stdin_bytes)
    err = result.stderr.decode()
    assert result.returncode == 2 and fragment in err and len(err.splitlines()) == 1
    assert GOOD_LINE in result.stdout.decode()


@pytest.mark.parametrize("args, fragment", [
    (["--lr", "-1"], "learning_rate must be a positive finite number"),
    (["--lr", "nan"], "learning_rate must be a positive finite number"),
    (["--lr", "0"], "learning_rate must be a positive finite number"),
    (["--lr", "inf"], "learning_rate must be a positive finite number"),
    (["--select", "val-loss-risen"], "unknown rule"),
    (["--ignore", "nope"], "unknown rule"),
    (["--max-bytes", "0"], "positive whole number"),
    (["--max-bytes", "lots"], "positive whole number"),
    (["--format-in", "excel"], "invalid choice"),
])
def test_bad_options_are_refused_before_reading_with_one_message(args, fragment, capsys):
    with pytest.raises(SystemExit) if "--max-bytes" in args or "--format-in" in args \
            else _no_exit():
        code, _, err = _call([*args, str(GOOD)], capsys)
        assert code == 2 and fragment in err and len(err.splitlines()) == 1
    if "--max-bytes" in args or "--format-in" in args:
        assert fragment in capsys.readouterr().err


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_debug_prints_the_traceback_of_an_internal_error(tmp_path, capsys, monkeypatch):
    import diagnose.verdict

    def broken(run, options):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(diagnose.verdict, "judge", broken)
    code, out, err = _call([str(GOOD)], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert "internal error" in err and "please report" in err and "Traceback" not in err
    code, _, err = _call(["--debug", str(GOOD)], capsys)
    assert code == 2 and "Traceback" in err and "ZeroDivisionError" in err


def test_catalogue_is_large_enough():
    assert len(CASES) >= 60


# The Python API: a bad source is a LogError naming it; a bad option is a TypeError or
# ValueError naming the argument, what was expected and what was given.
API_SOURCES = {
    "int-past-float-range": ({"loss": [10**400, 1, 0.5]}, None),
    "object-in-series": ({"loss": [1.0, object()]}, "an object at item 1"),
    "an-int": (3, "cannot read an int"),
    "deep-list": ({"loss": [[[[1.0]]]] * 3}, "no values logged"),
    "bytes-key-values": ({"loss": b"abc"}, "text"),
    "nan-learning-rate": ({"loss": [1.0, 0.8, 0.7], "lr": [math.nan] * 3}, None),
}


@pytest.mark.parametrize("name", sorted(API_SOURCES))
def test_api_sources_give_a_report_or_a_log_error(name):
    source, fragment = API_SOURCES[name]
    if fragment is None:
        assert isinstance(diagnose(source).conditions, tuple)
    else:
        with pytest.raises(LogError, match=fragment):
            diagnose(source)


def test_an_all_nan_learning_rate_is_said_to_be_ignored():
    report = diagnose(API_SOURCES["nan-learning-rate"][0])
    assert any("holds no number" in note for note in report.notes)


@pytest.mark.parametrize("options, error, fragment", [
    ({"learning_rate": -1}, ValueError, "learning_rate must be a positive finite number"),
    ({"learning_rate": math.nan}, ValueError, "learning_rate must be"),
    ({"learning_rate": "1e-3"}, TypeError, "learning_rate must be"),
    ({"select": "val-loss-rising,nope"}, ValueError, "unknown rule"),
    ({"ignore": 3}, TypeError, "ignore must be"),
    ({"rules": {"val-loss-rising": {"min_rise": "1.2"}}}, TypeError, "must be a number"),
    ({"rules": {"val-loss-rising": {"min_rise": -1}}}, ValueError, "finite number >= 0"),
    ({"rules": {"val-loss-rising": {"nope": 1}}}, ValueError, "has no option 'nope'"),
    ({"rules": ["val-loss-rising"]}, TypeError, "rules must be a dict"),
    ({"selct": ["loss-nan"]}, TypeError, "did you mean 'select'"),
    ({"segment": "1"}, TypeError, "segment must be an int"),
    ({"max_bytes": 0}, ValueError, "max_bytes must be a positive int"),
    ({"monitor": 3}, TypeError, "monitor must be"),
])
def test_bad_options_name_the_argument_expected_and_given(options, error, fragment):
    with pytest.raises(error, match=fragment):
        diagnose({"loss": [1.0, 0.5, 0.4]}, **options)


def test_select_as_one_string_is_a_list_of_names_not_characters():
    report = diagnose({"loss": [1.0, 0.5, 0.4]}, select="val-loss-rising, loss-nan")
    assert isinstance(report.conditions, tuple)
    from diagnose.engine import Options

    assert Options(select="val-loss-rising").select == ("val-loss-rising",)


def test_options_made_directly_name_an_unknown_keyword():
    from diagnose.engine import Options

    with pytest.raises(TypeError, match="unknown option 'selct' \\(did you mean 'select'\\?\\)"):
        Options(selct=["loss-nan"])


def test_error_lines_are_never_glued_to_the_progress_bar(tmp_path, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for i in range(35):
        (tmp_path / f"run_{i:02d}.csv").write_bytes(GOOD.read_bytes())
    (tmp_path / "run_17_bad.csv").write_text("epoch,loss\n0,abc\n")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([str(tmp_path)]) == 2
    err = terminal.getvalue()
    before, line, _ = err.partition("diagnose: ")
    assert line and before.endswith(" " * 80 + "\r")  # the bar is wiped before the error line
    assert "run_17_bad.csv" in err.split("diagnose: ")[1].splitlines()[0]


def test_a_subfolder_that_cannot_be_walked_is_one_line_and_the_rest_is_diagnosed(
        tmp_path, capsys, monkeypatch):
    import diagnose.cli

    (tmp_path / "good.csv").write_bytes(GOOD.read_bytes())
    real_walk = os.walk

    def walk(top, onerror=None, **kwargs):  # what os.walk does with a folder it cannot list
        yield from real_walk(top, onerror=onerror, **kwargs)
        onerror(PermissionError(13, "Permission denied", str(tmp_path / "locked")))

    monkeypatch.setattr(diagnose.cli.os, "walk", walk)
    code, out, err = _call([str(tmp_path)], capsys)
    assert code == 2 and "good.csv  healthy" in out
    assert err.splitlines() == [f"diagnose: {tmp_path / 'locked'}: folder cannot be read "
                                "(Permission denied)"]
