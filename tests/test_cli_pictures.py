"""The command's pictures: --plot, --format html, and Markdown that links its images."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from diagnose.cli import image_names, main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OVERFIT = str(FIXTURES / "digits_overfit_noise.csv")
SPIKES = str(FIXTURES / "digits_high_spikes.csv")

needs_matplotlib = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import matplotlib"]).returncode != 0,
    reason="the plot extra (matplotlib) is not installed")

PNG = b"\x89PNG\r\n\x1a\n"


@needs_matplotlib
@pytest.mark.parametrize("suffix, magic", [(".png", PNG), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_one_run_to_a_file_by_its_extension(tmp_path, capsys, suffix, magic):
    target = tmp_path / f"run{suffix}"
    assert main([OVERFIT, "--plot", str(target)]) == 0
    assert target.read_bytes().startswith(magic)
    assert "overfitting" in capsys.readouterr().out  # the report is still printed


@needs_matplotlib
def test_plot_into_a_folder_writes_one_image_per_run_with_unique_names(tmp_path, capsys):
    for sub in ("a", "b"):  # two runs with the same file name
        (tmp_path / "runs" / sub).mkdir(parents=True)
        (tmp_path / "runs" / sub / "log.csv").write_bytes(Path(OVERFIT).read_bytes())
    out = tmp_path / "figs"
    assert main([str(tmp_path / "runs"), "--plot", f"{out}/"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a__log.png", "b__log.png"]
    assert all(p.read_bytes().startswith(PNG) for p in out.iterdir())


@needs_matplotlib
def test_plot_to_one_file_with_several_runs_makes_a_folder_and_says_so(tmp_path, capsys):
    assert main([OVERFIT, SPIKES, "--plot", str(tmp_path / "figs.png")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "digits_high_spikes.png", "digits_overfit_noise.png"]
    assert "one image per run" in capsys.readouterr().err


def test_plot_to_an_unknown_kind_of_file_is_refused(tmp_path, capsys):
    assert main([OVERFIT, "--plot", str(tmp_path / "run.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".png, .svg, .pdf" in err


@needs_matplotlib
def test_markdown_links_the_images_relative_to_the_report(tmp_path):
    report = tmp_path / "out" / "report.md"
    report.parent.mkdir()
    assert main([OVERFIT, SPIKES, "--format", "markdown", "--plot", f"{tmp_path}/figs/",
                 "-o", str(report)]) == 0
    text = report.read_text()
    links = [line[line.index("](") + 2:-1] for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 2
    for link in links:
        assert not Path(link).is_absolute()
        assert (report.parent / link).resolve().is_file()


@needs_matplotlib
def test_html_page_for_one_run_goes_to_the_output_file(tmp_path, capsys):
    page = tmp_path / "report.html"
    assert main([OVERFIT, "--format", "html", "-o", str(page)]) == 0
    assert capsys.readouterr().out == ""
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "val-loss-rising" in text


def test_html_sweep_of_a_folder(tmp_path, capsys):
    names = ["digits_overfit_noise", "cls5_low_1e-6", "digits_healthy_sgd"]
    for name in names:
        (tmp_path / f"{name}.csv").write_bytes((FIXTURES / f"{name}.csv").read_bytes())
    assert main([str(tmp_path), "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert page.count('<tr data-run="') == 3
    assert all(f"{name}.csv" in page for name in names)


def _without_matplotlib(*args: str) -> subprocess.CompletedProcess:
    """The command in a Python where importing matplotlib fails, as on a machine without it."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None  # import matplotlib now raises ImportError
        from diagnose.cli import main
        sys.exit(main({list(args)!r}))
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [[OVERFIT, "--plot", "x.png"], [OVERFIT, "--format", "html"]],
                         ids=["plot", "html"])
def test_without_matplotlib_one_line_and_exit_2(args, tmp_path):
    done = _without_matplotlib(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "keras-diagnose[plot]" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_without_matplotlib_a_sweep_page_still_has_its_small_multiples():
    done = _without_matplotlib(OVERFIT, SPIKES, "--format", "html")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("<svg") == 2 and "--plot figures/" in done.stdout


def test_image_names_are_unique_and_safe():
    assert image_names(["runs/a/log.csv", "runs/b/log.csv"]) == ["a__log.png", "b__log.png"]
    assert image_names(["x/run.csv"]) == ["run.png"]
    assert image_names(["a.csv", "a.json"]) == ["a.png", "a_2.png"]
    assert image_names(["../weird name/<b>.csv", "<stdin>"]) == ["weird_name___b.png", "stdin.png"]


def test_image_names_keep_dotted_folder_names_whole():
    assert image_names(["logs/lr_0.001", "logs/lr_0.01"]) == ["lr_0.001.png", "lr_0.01.png"]
    assert image_names(["."]) == ["run.png"]


@needs_matplotlib
def test_a_run_with_no_loss_to_draw_is_said_not_counted_as_an_error(tmp_path, capsys):
    noloss = tmp_path / "noloss.csv"
    noloss.write_text("epoch,accuracy\n" + "".join(f"{e},{0.5 + e / 100}\n" for e in range(10)))
    assert main([str(noloss), "--plot", str(tmp_path / "x.png"), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "no figure for" in captured.err and "errors" not in json.loads(captured.out)


@needs_matplotlib
def test_plot_svg_for_several_runs_writes_svgs(tmp_path, capsys):
    assert main([OVERFIT, SPIKES, "--plot", str(tmp_path / "figs.svg")]) == 0
    assert sorted(p.suffix for p in (tmp_path / "figs").iterdir()) == [".svg", ".svg"]


def test_one_run_html_without_matplotlib_leaves_an_existing_file_alone(tmp_path):
    page = tmp_path / "r.html"
    page.write_text("an earlier report")
    done = _without_matplotlib(OVERFIT, "--format", "html", "-o", str(page))
    assert done.returncode == 2 and page.read_text() == "an earlier report"
