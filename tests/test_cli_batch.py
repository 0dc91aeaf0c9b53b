"""Many logs at once: --jobs gives the same output in the same order, and streaming output
is exactly what the render functions give for the whole list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diagnose import sweep
from diagnose.batch import PARALLEL_MIN_ITEMS, Item, diagnose_items
from diagnose.cli import expand, main
from diagnose.render import render_json, render_markdown, render_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The fixture runs, plus two files that cannot be read, in one folder."""
    root = tmp_path_factory.mktemp("sweep")
    for csv in sorted(FIXTURES.glob("*.csv")):
        (root / csv.name).write_bytes(csv.read_bytes())
    (root / "broken.csv").write_text("epoch,loss\n0,abc\n")
    (root / "empty.json").write_text("")
    assert len(list(root.iterdir())) > PARALLEL_MIN_ITEMS  # so that --jobs 2 really forks
    return root


def expected(root: Path):
    items = [Item(str(p), path=str(p), problem=q) for p, q in expand([str(root)])]
    outcomes = list(diagnose_items(items))
    reports = [o.report for o in outcomes if o.report is not None]
    errors = [(o.source, o.error) for o in outcomes if o.report is None]
    return reports, errors


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_streamed_output_is_what_the_renderers_give_for_the_whole_list(folder, capsys, fmt):
    assert main([str(folder), "--format", fmt, "--jobs", "1"]) == 2  # two unreadable files
    out, err = capsys.readouterr()
    reports, errors = expected(folder)
    assert len(errors) == 2 and err.count("\n") == 2
    if fmt == "json":
        assert out == render_json(reports, errors, sweep.sweep_dict(reports))
        json.loads(out)
    elif fmt == "text":
        assert out == render_text(reports) + "\n" + sweep.sweep_table(reports)
    else:
        assert out == render_markdown(reports, sweep.sweep_table(reports))


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_jobs_2_gives_the_same_output_in_the_same_order(folder, fmt):
    def run(jobs: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "diagnose", str(folder), "--format", fmt,
                               "--jobs", jobs], capture_output=True, text=True, timeout=300)

    one, two = run("1"), run("2")
    assert one.returncode == two.returncode == 2
    assert one.stdout == two.stdout and one.stderr == two.stderr


def test_json_with_no_readable_run_is_still_a_document(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("epoch,loss\n0,abc\n")
    assert main([str(tmp_path / "bad.csv"), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["runs"] == [] and doc["errors"][0]["source"].endswith("bad.csv")


def test_progress_bar_never_reaches_a_pipe(folder):
    done = subprocess.run([sys.executable, "-m", "diagnose", str(folder), "--jobs", "2"],
                          capture_output=True, text=True, timeout=300)
    assert "\r" not in done.stderr and "[#" not in done.stderr


def test_long_table_on_the_command_line_gives_each_runs_verdict(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    import diagnose

    names = ["digits_overfit_noise", "cls5_low_1e-6", "digits_high_sgd_nan"]
    frames = []
    for name in names:
        wide = pd.read_csv(FIXTURES / f"{name}.csv")
        long = wide.melt(id_vars="epoch", var_name="metric_name", value_name="metric_value")
        frames.append(long.rename(columns={"epoch": "global_step"}).assign(trial=name))
    path = tmp_path / "export.csv"
    pd.concat(frames).to_csv(path, index=False)
    assert main([str(path), "--long", "--format", "json"]) == 0  # columns detected
    doc = json.loads(capsys.readouterr().out)
    got = {r["source"]: r["conditions"] for r in doc["runs"]}
    want = {n: list(diagnose.diagnose(str(FIXTURES / f"{n}.csv")).conditions) for n in names}
    assert got == want
    assert main([str(path), "--long", "--run-col", "run_id"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'run_id'" in err and "trial" in err


def test_stdin_is_read_even_when_workers_judge_the_rest(folder):
    data = (FIXTURES / "digits_overfit_noise.csv").read_bytes()
    done = subprocess.run([sys.executable, "-m", "diagnose", str(folder), "-", "--jobs", "2",
                           "--format", "json"], input=data, capture_output=True, timeout=300)
    doc = json.loads(done.stdout)
    stdin = [r for r in doc["runs"] if r["source"] == "<stdin>"]
    assert stdin and stdin[0]["conditions"] == ["overfitting"]


@pytest.mark.parametrize("args, says", [
    (["--watch", "x.csv", "-o", "out.txt"], "--watch prints"),
    (["--watch", "x.csv", "--format", "json"], "--format json"),
    (["--check", "x.csv", "--long"], "--check says"),
    (["--check", "x.csv", "--format", "html"], "--check writes text or json"),
], ids=["watch -o", "watch json", "check long", "check html"])
def test_options_that_cannot_combine_are_refused_not_ignored(args, says, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err


def test_long_with_a_folder_is_refused(tmp_path, capsys):
    assert main([str(tmp_path), "--long"]) == 2
    assert "name the files" in capsys.readouterr().err


def test_check_writes_to_the_output_file(tmp_path, capsys):
    target = tmp_path / "check.txt"
    assert main(["--check", str(FIXTURES / "digits_overfit_noise.csv"), "-o", str(target)]) == 0
    assert capsys.readouterr().out == "" and "read as keras_csv" in target.read_text()


def test_a_loss_that_never_moves_is_diagnosed_not_an_internal_error(tmp_path, capsys):
    flat = tmp_path / "flat.csv"
    flat.write_text("epoch,loss,val_loss\n" + "".join(f"{e},0.5,0.6\n" for e in range(30)))
    assert main([str(flat)]) == 0, capsys.readouterr().err
