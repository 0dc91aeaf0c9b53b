"""KerasTuner projects (fixtures/kerastuner/): every trial a run, its hyperparameters its params.

The four projects are real KerasTuner searches (scripts/generate_tuner_fixtures.py):
``random_search`` and ``hyperband`` report every epoch to the oracle, their
``*_default`` twins are the same searches as the built-in tuners run them, which
keep only each trial's best epoch. Expected values are read from the trial.json
files themselves; the malformed variants are written in tmp_path. Nothing here
trains or needs keras-tuner installed.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnose import LogError, diagnose
from diagnose.cli import main
from diagnose.load import load

KT = Path(__file__).resolve().parents[1] / "fixtures" / "kerastuner"
PER_EPOCH = ("random_search", "hyperband")
PROJECTS = (*PER_EPOCH, *(f"{p}_default" for p in PER_EPOCH))


def _trials(project: str) -> list[Path]:
    return sorted((KT / project).glob("trial_*/trial.json"))


ALL_TRIALS = [path for project in PROJECTS for path in _trials(project)]


def _state(path: Path) -> dict:
    return json.loads(path.read_text())


def _settings(state: dict) -> dict:
    """The hyperparameter values, without Hyperband's tuner/* bookkeeping."""
    return {k: v for k, v in state["hyperparameters"]["values"].items()
            if not k.startswith("tuner/")}


def _run_json(args: list[str], capsys) -> tuple[int, dict, list[str]]:
    code = main([*args, "--format", "json", "--jobs", "1"])
    out, err = capsys.readouterr()
    return code, json.loads(out), [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("project", PROJECTS)
def test_fixture_is_a_whole_project_without_weights(project):
    folder = KT / project
    assert (folder / "oracle.json").is_file() and (folder / "tuner0.json").is_file()
    assert len(_trials(project)) >= 6
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert all(p.suffix == ".json" for p in files)  # checkpoint weights are not committed
    assert sum(p.stat().st_size for p in files) < 80_000
    assert all(_state(p)["status"] == "COMPLETED" for p in _trials(project))


@pytest.mark.parametrize("path", ALL_TRIALS, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_every_trial_is_read_with_its_values_and_hyperparameters(path):
    state = _state(path)
    run = load(path)
    assert run.format == "kerastuner_trial"
    assert run.source == str(path.parent)  # <project>/trial_<id>
    assert dict(run.params) == _settings(state)
    assert not any(name.startswith("tuner/") for name in run.params)
    metrics = state["metrics"]["metrics"]
    assert set(metrics) <= set(run.series)
    for name, history in metrics.items():
        written = [float(np.mean(o["value"])) for o in history["observations"]]
        logged = run.series[name][run.logged[name]]
        assert logged.tolist() == pytest.approx(written, nan_ok=True), name
    if path.parent.parent.name in PER_EPOCH:
        steps = sorted({o["step"] for h in metrics.values() for o in h["observations"]})
        assert run.epochs.tolist() == [s + 1 for s in steps]  # Keras epochs are 0-based
    else:
        assert len(run) == 1
    report = diagnose(path)
    assert report.summary["params"] == _settings(state)
    assert report.summary["learning_rate"] == pytest.approx(_settings(state)["learning_rate"])


@pytest.mark.parametrize("tuner", PER_EPOCH)
def test_a_best_epoch_only_trial_stands_at_the_best_epoch_of_its_per_epoch_twin(tuner):
    """Same search, same seeds: the built-in tuner's one observation is the best epoch of
    the curve the per-epoch twin recorded, at the same epoch of the model (Hyperband's
    continued trials count their step from tuner/initial_epoch)."""
    twins = {json.dumps(_state(p)["hyperparameters"]["values"], sort_keys=True): p
             for p in _trials(tuner)}
    continued = 0
    for path in _trials(f"{tuner}_default"):
        state = _state(path)
        twin = load(twins[json.dumps(state["hyperparameters"]["values"], sort_keys=True)])
        run = load(path)
        best = int(np.nanargmin(twin.series["val_loss"]))
        assert run.epochs.tolist() == [twin.epochs[best]]
        assert run.series["val_loss"][0] == pytest.approx(twin.series["val_loss"][best], rel=1e-6)
        if len(twin) > 1:
            assert any("holds one epoch's metrics" in note for note in run.notes)
        continued += state["hyperparameters"]["values"].get("tuner/initial_epoch", 0) > 0
    assert continued >= 3 if tuner == "hyperband" else continued == 0


def test_hyperband_continued_trials_keep_the_epochs_of_the_model_they_continue():
    seen = 0
    for path in _trials("hyperband"):
        values = _state(path)["hyperparameters"]["values"]
        run = load(path)
        assert run.epochs[-1] == values["tuner/epochs"]
        assert run.epochs[0] == values["tuner/initial_epoch"] + 1
        if "tuner/trial_id" in values:
            seen += 1
            assert any(f"continues the model of trial {values['tuner/trial_id']}" in note
                       for note in run.notes)
            assert values["tuner/initial_epoch"] > 0
    assert seen >= 3


@pytest.mark.parametrize("project", PROJECTS)
def test_the_cli_diagnoses_every_trial_of_a_project_folder(project, capsys):
    code, document, errors = _run_json([str(KT / project)], capsys)
    assert code == 0 and errors == [] and "errors" not in document
    sources = [r["source"] for r in document["runs"]]
    assert sources == [str(p.parent) for p in _trials(project)]  # oracle.json etc. skipped
    for report, path in zip(document["runs"], _trials(project)):
        settings = _settings(_state(path))  # the JSON contract writes 6 significant digits
        assert report["summary"]["params"] == {
            k: v if isinstance(v, (str, bool)) else pytest.approx(v, rel=1e-5)
            for k, v in settings.items()}


def test_the_cli_diagnoses_every_project_under_a_tuner_directory(capsys):
    code, document, errors = _run_json([str(KT)], capsys)
    assert code == 0 and errors == []
    assert len(document["runs"]) == len(ALL_TRIALS)


def test_the_highest_rate_trial_blew_up_and_is_diagnosed_lr_too_high():
    rate = {p: _state(p)["hyperparameters"]["values"]["learning_rate"] for p in _trials("random_search")}
    steepest = max(rate, key=rate.get)
    run = load(steepest)
    loss = run.series["loss"]
    # What the data show: the loss climbed, then stopped being a number.
    assert not np.isfinite(loss).all() and loss[1] > loss[0]
    report = diagnose(steepest)
    assert "lr_too_high" in report.conditions
    # The rate to lower comes from the trial's hyperparameter.
    assert f"{rate[steepest]:g}" in report.fixes[0].text
    assert all("lr_too_high" not in diagnose(p).conditions
               for p in rate if rate[p] < rate[steepest] / 10)


# --- malformed and unfinished trials -----------------------------------------------------

def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "search" / "random_search"
    shutil.copytree(KT / "random_search", folder)
    return folder


def _edit(change):
    def write(path: Path) -> None:
        state = _state(path)
        change(state)
        path.write_text(json.dumps(state))
    return write


def _text(text: str | bytes):
    def write(path: Path) -> None:
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return write


def _cut(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[:len(text) // 2])


def _deep(path: Path) -> None:
    path.write_text('{"trial_id": "01", "hyperparameters": {}, "metrics": '
                    + "[" * 100_000 + "]" * 100_000 + "}")


def _set(key: str, value):
    return _edit(lambda s: s.__setitem__(key, value))


def _metric(change):
    return _edit(lambda s: change(s["metrics"]["metrics"]))


def _failed(state: dict) -> None:
    state.update(status="FAILED", metrics={"metrics": {}},
                 message="Traceback (most recent call last):\n  File \"x.py\"\nValueError: "
                         "dtype='string' is not a valid dtype\n")


MALFORMED = {
    "cut short": (_cut, "invalid JSON"),
    "nested too deeply": (_deep, "nested too deeply"),
    "not UTF-8": (_text(b'{"trial_id": "\xff\xfe", "hyperparameters": {}}'), "not UTF-8"),
    "empty": (_text(""), "empty file"),
    "failed before any metric": (_edit(_failed), "no metric values (status FAILED: ValueError: dtype"),
    "no metrics key": (_edit(lambda s: s.pop("metrics")), "no metric values"),
    "metrics a list": (_set("metrics", [1, 2]), "key 'metrics.metrics'"),
    "history a number": (_metric(lambda m: m.__setitem__("loss", 5)),
                         "key 'metrics.metrics.loss'"),
    "value text": (_metric(lambda m: m["loss"]["observations"][3].__setitem__("value", ["abc"])),
                   "observation 3: 'value' must hold numbers"),
    "negative step": (_metric(lambda m: m["val_loss"]["observations"][0].__setitem__("step", -1)),
                      "'step' must be an epoch number >= 0"),
    "step text": (_metric(lambda m: m["val_loss"]["observations"][0].__setitem__("step", "two")),
                  "'step' must be an epoch number"),
    "observation a list": (_metric(lambda m: m["loss"]["observations"].__setitem__(0, [1])),
                           "expected {'value'"),
    "hyperparameters text": (_set("hyperparameters", "units=32"), "key 'hyperparameters'"),
    "values a list": (_edit(lambda s: s["hyperparameters"].__setitem__("values", [1])),
                      "key 'hyperparameters.values'"),
    "trial_id null": (_set("trial_id", None), "key 'trial_id'"),
    "status a number": (_set("status", 3), "key 'status'"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_trial_costs_one_clear_line_and_the_others_are_diagnosed(name, tmp_path,
                                                                             capsys):
    folder = _project(tmp_path)
    bad = folder / "trial_01" / "trial.json"
    corrupt, expected = MALFORMED[name]
    corrupt(bad)
    code, document, errors = _run_json([str(folder)], capsys)
    assert code == 2
    assert len(errors) == 1, errors
    assert str(bad) in errors[0] and expected in errors[0], errors[0]
    assert "Traceback" not in errors[0] and "internal error" not in errors[0]
    assert len(document["runs"]) == len(_trials("random_search")) - 1
    assert [e["source"] for e in document["errors"]] == [str(bad)]


@pytest.mark.parametrize("status", ["RUNNING", "FAILED", "INVALID", "STOPPED", "SOMETHING"])
def test_an_unfinished_trial_is_diagnosed_from_what_it_recorded_with_its_status(status, tmp_path):
    folder = _project(tmp_path)
    path = folder / "trial_03" / "trial.json"
    _edit(lambda s: s.update(status=status, message="Traceback\nRuntimeError: out of memory"))(path)
    report = diagnose(path)
    assert report.conditions  # judged
    note = next(n for n in report.notes if n.startswith(f"trial status {status}"))
    if status in ("FAILED", "INVALID"):
        assert "RuntimeError: out of memory" in note


def test_a_running_trial_cut_after_a_few_epochs_is_read_up_to_there(tmp_path):
    folder = _project(tmp_path)
    path = folder / "trial_04" / "trial.json"

    def cut(state):
        state["status"] = "RUNNING"
        for history in state["metrics"]["metrics"].values():
            history["observations"] = history["observations"][:4]
    _edit(cut)(path)
    run = load(path)
    assert run.epochs.tolist() == [1, 2, 3, 4]
    assert any("RUNNING" in note for note in run.notes)


def test_several_executions_are_averaged_and_nan_kept(tmp_path):
    path = tmp_path / "trial_00" / "trial.json"
    path.parent.mkdir()
    state = _state(KT / "random_search" / "trial_00" / "trial.json")
    loss = state["metrics"]["metrics"]["loss"]["observations"]
    loss[0]["value"] = [1.0, 3.0]
    loss[1]["value"] = [1.0, math.nan]
    path.write_text(json.dumps(state))
    run = load(path)
    assert run.series["loss"][0] == 2.0
    assert run.logged["loss"][1] and math.isnan(run.series["loss"][1])
    assert any("2 executions per trial" in note for note in run.notes)


def test_bookkeeping_json_is_skipped_only_inside_a_tuner_project(tmp_path, capsys):
    """oracle.json, tuner0.json and build_config.json are skipped in a project; the same
    names, or any bad JSON, elsewhere are read and reported as today."""
    elsewhere = tmp_path / "logs"
    elsewhere.mkdir()
    (elsewhere / "oracle.json").write_text("{}")          # no trial_* folder beside it
    (elsewhere / "build_config.json").write_text("{")
    code, document, errors = _run_json([str(elsewhere)], capsys)
    assert code == 2 and len(errors) == 2 and document["runs"] == []


def test_oracle_json_named_directly_points_to_the_project_folder():
    with pytest.raises(LogError, match="oracle state, not a trial: give the project folder"):
        load(KT / "random_search" / "oracle.json")


def test_a_trial_rewritten_with_sorted_keys_is_still_recognized(tmp_path):
    path = tmp_path / "trial.json"
    state = _state(KT / "hyperband" / "trial_0012" / "trial.json")
    path.write_text(json.dumps(state, indent=4, sort_keys=True))
    run = load(path)
    assert run.format == "kerastuner_trial" and run.source == str(path)
    assert dict(run.params) == _settings(state)


def test_a_history_json_with_a_trial_id_key_is_still_a_history(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"trial_id": "3", "loss": [1.0, 0.5, 0.4]}))
    assert load(path).format == "history_json"


def test_hyperparameters_that_are_not_settings_are_noted_not_kept(tmp_path):
    path = tmp_path / "trial.json"
    state = _state(KT / "random_search" / "trial_00" / "trial.json")
    state["hyperparameters"]["values"].update({"layers_list": [1, 2], "x" * 500: 1,
                                               "name": "n" * 1000})
    path.write_text(json.dumps(state))
    run = load(path)
    assert "layers_list" not in run.params and "x" * 500 not in run.params
    assert len(run.params["name"]) == 100
    assert any("not kept as settings" in note and "layers_list" in note for note in run.notes)


# --- fuzzing: whatever the bytes or the structure, a report or a LogError ----------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=8)
    | st.floats(allow_nan=True, allow_infinity=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
_SEED = _state(KT / "hyperband" / "trial_0012" / "trial.json")
_PLACES = [("trial_id",), ("status",), ("message",), ("hyperparameters",),
           ("hyperparameters", "values"), ("hyperparameters", "values", "learning_rate"),
           ("hyperparameters", "values", "tuner/initial_epoch"), ("metrics",),
           ("metrics", "metrics"), ("metrics", "metrics", "loss"),
           ("metrics", "metrics", "loss", "observations"),
           ("metrics", "metrics", "val_loss", "observations", 0),
           ("metrics", "metrics", "val_loss", "observations", 0, "value"),
           ("metrics", "metrics", "val_loss", "observations", 0, "step")]


def _only_report_or_log_error(path: Path) -> None:
    try:
        report = diagnose(path)
    except LogError as exc:
        assert "internal error" not in str(exc), str(exc)
    else:
        json.dumps(report.to_dict(), allow_nan=False)


@st.composite
def _structures(draw) -> dict:
    state = json.loads(json.dumps(_SEED))
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(_PLACES))
        node = state
        for key in parents:
            node = node[key] if isinstance(node, (dict, list)) and _has(node, key) else None
        if isinstance(node, dict) or (isinstance(node, list) and _has(node, last)):
            node[last] = draw(_JSON)
    return state


def _has(node, key) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and key < len(node)


@st.composite
def _mutated_bytes(draw) -> bytes:
    data = bytearray((KT / "hyperband" / "trial_0012" / "trial.json").read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1)) if data else 0
        kind = draw(st.sampled_from(["flip", "truncate", "splice"]))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from([b'"', b"NaN", b"-Infinity", b"1" * 400, b"[" * 50,
                                                b"\xff", b"}", b",", b"null", b"e999"]))
    return bytes(data)


def _fuzz(strategy, examples: int, write):
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=strategy)
    def check(case):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "trial_0012" / "trial.json"
            path.parent.mkdir()
            write(path, case)
            _only_report_or_log_error(path)
    check()


def _write_json(path: Path, state) -> None:
    path.write_text(json.dumps(state))


@pytest.mark.parametrize("examples", [pytest.param(40, id="quick"),
                                      pytest.param(1_500, id="fuzz", marks=pytest.mark.fuzz)])
def test_hostile_structures_give_a_report_or_a_log_error(examples):
    _fuzz(_structures(), examples, _write_json)


@pytest.mark.parametrize("examples", [pytest.param(40, id="quick"),
                                      pytest.param(1_500, id="fuzz", marks=pytest.mark.fuzz)])
def test_mutated_trial_bytes_give_a_report_or_a_log_error(examples):
    _fuzz(_mutated_bytes(), examples, Path.write_bytes)
