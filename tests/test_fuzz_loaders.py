"""Fuzzing every loader: whatever the bytes or the structure, only a report or a LogError.

Real fixture files of each format are mutated (bytes flipped, cut short,
lines duplicated or dropped, junk spliced in) and generated structures are
fed to the Python API. The contract (issue 10): ``diagnose`` returns a
report or raises ``LogError``, and nothing else, on every one of them.

The default run tries a few examples per format, to keep the suite fast; the
``fuzz`` marker runs the same properties on enough examples to matter
(``python3 -m pytest -q -m fuzz``, which ``.ci/run`` also runs):
FUZZ_EXAMPLES mutated files per format, over 20,000 in all.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnose import LogError, Report, diagnose

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FORMATS = FIXTURES / "formats"
TENSORBOARD = FORMATS / "tensorboard"

# Real files of each format; tensorboard files are fuzzed inside a log dir layout.
SOURCES = {
    "keras_csv": (sorted(FIXTURES.glob("digits_*.csv"))[:4]
                  + sorted(FIXTURES.glob("cancer_*.csv"))[:2]),
    "history_json": sorted(FIXTURES.glob("*.json"))[:6],
    "lightning_csv": sorted(FORMATS.glob("lightning_*.csv")),
    "hf_trainer": sorted(FORMATS.glob("trainer_state*.json")),
    "tensorboard": sorted(TENSORBOARD.glob("*/events.out.tfevents.*")),
    "keras_console": (sorted(FORMATS.glob("console_keras*.log"))
                      + sorted(FORMATS.glob("console_*.txt"))),
    "jsonl": sorted(FORMATS.glob("metrics_*.jsonl")),
    "wandb_csv": sorted(FORMATS.glob("wandb_*.csv")),
}
QUICK_EXAMPLES = 15
FUZZ_EXAMPLES = 4_200  # x 8 formats = 33,600 mutated files
MUTATED = {"count": 0}

_QUICK = settings(max_examples=QUICK_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_FUZZ = settings(_QUICK, max_examples=FUZZ_EXAMPLES)


@st.composite
def mutated(draw, fmt: str) -> tuple[str, bytes]:
    """(file name, bytes) of one fixture of ``fmt`` after one to four mutations."""
    path = draw(st.sampled_from(SOURCES[fmt]))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "duplicate_line", "drop_line",
                                     "splice", "digit"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind in ("duplicate_line", "drop_line"):
            lines = bytes(data).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [lines[i]] * 2 if kind == "duplicate_line" else []
            data = bytearray(b"\n".join(lines))
        elif kind == "splice":
            junk = draw(st.sampled_from([b"\r", b"\x00", b'"', b"_", b"NaN", b"1" * 400,
                                         b"[" * 50, b"\xff\xfe", b",", b";", b"-inf",
                                         b"\n\n", b"}", b"e999"]))
            data[at:at] = junk
        elif kind == "digit":
            data[at:at] = str(draw(st.integers(-10**30, 10**30))).encode()
    return path.name, bytes(data)


def _diagnose_bytes(fmt: str, name: str, data: bytes) -> None:
    """Write the bytes where the format expects them and check the contract."""
    MUTATED["count"] += 1
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if fmt == "tensorboard":
            (root / "train").mkdir()
            (root / "train" / name).write_bytes(data)
            target = root
        else:
            target = root / name
            target.write_bytes(data)
        _only_report_or_log_error(target)


def _only_report_or_log_error(source) -> None:
    try:
        report = diagnose(source)
    except LogError as exc:
        assert "internal error" not in str(exc), str(exc)
        assert "\n" not in exc.problem
    else:
        assert isinstance(report, Report)
        json.dumps(report.to_dict(), allow_nan=False)


def _property(fmt: str, config: settings):
    @config
    @given(case=mutated(fmt))
    def check(case):
        _diagnose_bytes(fmt, *case)
    return check


@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_mutated_files_give_a_report_or_a_log_error(fmt):
    _property(fmt, _QUICK)()


@pytest.mark.fuzz
@pytest.mark.parametrize("fmt", sorted(SOURCES))
def test_fuzz_mutated_files_give_a_report_or_a_log_error(fmt):
    _property(fmt, _FUZZ)()


# Generated structures for the Python API and History JSON files.
_leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**400, 10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
_json_like = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=30)
_histories = st.dictionaries(
    st.sampled_from(["loss", "val_loss", "accuracy", "val_accuracy", "lr", "epoch", "x"]),
    st.one_of(st.lists(st.one_of(st.floats(), st.integers(-10**400, 10**400), st.none(),
                                 st.sampled_from(["1.5", "nan", "NA", "1_0", "x"])),
                       max_size=12), _json_like),
    max_size=5)
_structures = st.one_of(_json_like, _histories,
                        st.lists(_histories, max_size=5))  # per-epoch logs dicts


def _check_structure(obj) -> None:
    _only_report_or_log_error(obj)
    try:
        text = json.dumps(obj)
    except (ValueError, OverflowError):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.json"
        path.write_text(text)
        _only_report_or_log_error(path)


@_QUICK
@given(obj=_structures)
def test_generated_structures_give_a_report_or_a_log_error(obj):
    _check_structure(obj)


@pytest.mark.fuzz
@settings(_FUZZ, max_examples=2_000)
@given(obj=_structures)
def test_fuzz_generated_structures_give_a_report_or_a_log_error(obj):
    _check_structure(obj)


@pytest.mark.fuzz
def test_fuzz_tried_enough_mutated_files():
    """Runs last in the file: the fuzz job really tried 20,000 mutated files or more."""
    if MUTATED["count"] == 0:
        pytest.skip("counts the mutated files of the fuzz tests run before it")
    assert MUTATED["count"] >= 20_000, MUTATED["count"]
