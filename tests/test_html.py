"""The HTML pages: one run's and a sweep's, self-contained and complete.

Checked as a person would: the page is well-formed, holds every run,
finding and fix (code included), references nothing outside itself, and
escapes what the logs put in it. The browser check (does it render, does the
script run without error) is scripts/screenshot_reports.py, run by .ci/run.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import diagnose
from diagnose.html import SWEEP_FIGURES, render_html, report_fragment, sparkline
from diagnose.run import Run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
# Namespace names inside SVG: identifiers, never fetched.
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink",
              "http://purl.org/dc/elements/1.1/", "http://creativecommons.org/ns#",
              "http://www.w3.org/1999/02/22-rdf-syntax-ns#")


class Structure(HTMLParser):
    """Collects tags, ids and text; fails on a closing tag that closes nothing open."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            if tag in self.stack:
                del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert not parser.stack, f"never closed: {parser.stack}"
    assert len(parser.ids) == len(set(parser.ids)), "an id is used twice"
    return parser


def external_references(page: str) -> list[str]:
    found = re.findall(r"""(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]+)""", page)
    found = [u for u in found if not u.startswith("#")]
    found += re.findall(r"url\(\s*['\"]?(?!#)([^)'\"]+)", page)
    found += re.findall(r"@import", page)
    found += [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", page)
              if not u.startswith(NAMESPACES)]
    return found


def reports(names: list[str]) -> list[diagnose.Report]:
    return [diagnose.diagnose(str(FIXTURES / f"{n}.csv")) for n in names]


def text_of(page: str) -> str:
    """The page's text as a reader sees it (entities decoded, whitespace collapsed)."""
    return " ".join(" ".join(parse(page).text).split())


ONE_OF_EACH = ["digits_overfit_noise", "digits_underfit_epochs", "digits_high_spikes",
               "cls5_low_1e-6", "digits_healthy_sgd", "diabetes_high_nan"]


@pytest.mark.parametrize("name", ONE_OF_EACH)
def test_one_run_page_holds_the_figure_every_finding_and_fix(name):
    pytest.importorskip("matplotlib")
    report = reports([name])[0]
    page = render_html([report])
    structure = parse(page)
    text = text_of(page)
    assert sum(tag == "svg" for tag, _ in structure.tags) == 1
    kinds = {attrs.get("data-kind") for _, attrs in structure.tags}
    for finding in report.findings:
        assert finding.rule in text
        assert " ".join(finding.message.split()) in text
    for fix in report.fixes:
        assert " ".join(fix.text.split()) in text
        assert " ".join(fix.code.split()) in text
    if report.summary.get("best_epoch") is not None:
        assert "best" in kinds  # the best-epoch marker made it into the inline SVG
    for condition in report.conditions:
        assert condition in text
    assert not external_references(page), external_references(page)[:3]


def test_sweep_page_holds_every_run_and_sorts_and_filters():
    runs = reports(ONE_OF_EACH + ["wine_overfit_noise", "iris_overfit_plateau"])
    page = render_html(runs, errors=[("broken.csv", "broken.csv: line 3: not a number")])
    structure = parse(page)
    text = text_of(page)
    rows = [attrs for tag, attrs in structure.tags if tag == "tr" and "data-run" in attrs]
    assert len(rows) == len(runs)
    assert {html.unescape(r["data-source"]) for r in rows} == {r.source for r in runs}
    cells = [attrs for tag, attrs in structure.tags if tag == "div" and attrs.get("class") == "cell"]
    assert len(cells) == len(runs)  # one small multiple per run
    for r in runs:
        for finding in r.findings:
            assert " ".join(finding.message.split()) in text
        for fix in r.fixes:
            assert " ".join(fix.code.split()) in text
    options = [attrs.get("value") for tag, attrs in structure.tags if tag == "option"]
    assert set(options) - {""} == {c for r in runs for c in r.conditions}
    assert "broken.csv: line 3: not a number" in text
    assert "table" in {tag for tag, _ in structure.tags} and 'class="sortable"' in page
    assert not external_references(page), external_references(page)[:3]


def test_sweep_advice_is_on_the_page():
    runs = reports(["digits_high_sgd_nan", "cls5_low_1e-6", "digits_healthy_plateau",
                    "iris_overfit_plateau"])
    from diagnose.sweep import advice

    text = text_of(render_html(runs, figures=False))
    for line in advice(runs):
        assert " ".join(line.split()) in text


def test_big_sweeps_get_small_multiples_not_full_figures():
    pytest.importorskip("matplotlib")
    run = reports(["digits_overfit_noise"])[0]
    many = [diagnose.diagnose(Run.from_columns(f"run{i}", {k: list(v) for k, v in
                                                            run.run.series.items()}))
            for i in range(SWEEP_FIGURES + 1)]
    page = render_html(many)
    assert page.count("<svg") == len(many)  # the small multiples only
    assert "--plot figures/" in page


def test_log_text_is_escaped_everywhere():
    evil = '<script>alert("x")</script>'
    run = Run.from_columns(evil, {"loss": [1.0, 0.5, 0.4, 0.35, 0.3, 0.29],
                                  "val_loss": [1.1, 0.6, 0.5, 0.5, 0.52, 0.55]})
    report = diagnose.diagnose(run)
    for page in (render_html([report], figures=False), render_html([report, report],
                                                                    figures=False)):
        assert evil not in page
        parse(page)
        assert html.escape(evil) in page


def test_notebook_fragment_shows_the_figure_when_matplotlib_is_there():
    pytest.importorskip("matplotlib")
    report = reports(["digits_high_spikes"])[0]
    fragment = report._repr_html_()
    assert "<svg" in fragment and "<style>" in fragment
    assert "loss-spikes" in fragment


def test_notebook_fragment_without_matplotlib_shows_the_tables(monkeypatch):
    import diagnose.figure
    from diagnose.errors import MissingExtra

    def missing():
        raise MissingExtra("plot", "drawing a figure needs matplotlib")

    monkeypatch.setattr(diagnose.figure, "_matplotlib", missing)
    report = reports(["digits_high_spikes"])[0]
    fragment = report._repr_html_()
    assert "<svg" not in fragment
    assert "loss-spikes" in fragment and "keras-diagnose[plot]" in fragment
    with pytest.raises(MissingExtra):
        report_fragment(report, figure=True)


def test_sparkline_marks_the_overfitting_stretch_and_nan_epochs():
    over = reports(["digits_overfit_noise"])[0]
    svg = sparkline(over)
    assert 'data-kind="overfitting"' in svg and 'data-kind="best"' in svg
    assert svg.count("<polyline") == 2
    nan = reports(["wine_high_sgd_nan"])[0]
    bad = int((nan.run.logged["loss"] & ~(nan.run.series["loss"] == nan.run.series["loss"])).sum())
    assert sparkline(nan).count('data-kind="nan"') >= bad


def test_a_page_of_nothing_readable_says_so_with_the_errors():
    page = render_html([], errors=[("bad.csv", "bad.csv: line 2: 'abc' is not a number")])
    parse(page)
    assert "No training run could be read" in page and "is not a number" in page
    assert "Sweep of 0 runs" not in page
