"""What a picture costs: drawing one figure, a sweep page of 1,000 runs, and the cold start.

    python benchmarks/html_pages.py [--runs 1000] [--figures 20] [--repeat 5] [--chromium PATH]

Figures (issue 11), printed as a table:

- One figure: median time to draw a run's figure and write it as PNG
  (``diagnose FILE --plot x.png``), as SVG (``--plot x.svg``) and as the
  inline SVG of the HTML page, over ``--figures`` fixture runs of every
  condition; the first figure of a process, which pays matplotlib's import,
  apart.
- The sweep page of ``--runs`` runs: the fixture runs resampled (each
  series times log-normal noise of a random strength, cut at a random
  length), each diagnosed; the time to diagnose them and to write the page
  (``render_html``, as ``diagnose DIR --format html`` does), its size, and in
  headless Chromium (the page loaded from a file, median of ``--repeat``
  fresh tabs): the time to DOMContentLoaded, to the load event and to the
  first frame drawn after it (style and layout of the whole page included),
  and what a click costs: sorting the table by a column, filtering it by a
  condition (layout included).
- Cold start: ``python -m diagnose FILE`` (the text report) in a fresh
  process, median of ``--repeat`` x 3, beside ``python -c "import numpy"``
  and beside the same command on the revision before the figure existed
  (the parent of the commit that added ``diagnose/figure.py``, taken with
  ``git archive``), measured interleaved; and from ``python -X importtime``,
  whether matplotlib is imported on that path (it must not be) and on the
  ``--format html`` path (it must be).

Needs the ``plot`` extra (matplotlib) and, for the browser figures,
Chromium (skipped with a note when it is missing).
"""

from __future__ import annotations

import sys

# This file is named html.py: run as a script, its folder comes first on sys.path
# and would shadow the standard library's html module, which diagnose.html imports.
if sys.path and sys.path[0] == __import__("os").path.dirname(__file__):
    del sys.path[0]

import argparse
import io
import math
import os
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

COLD_FILE = "fixtures/digits_overfit_subset.csv"
rows: list[tuple[str, str, str]] = []


def row(what: str, value: str, note: str = "") -> None:
    rows.append((what, value, note))
    print(f"  {what:<52} {value:>9}  {note}", flush=True)


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- one figure ---------------------------------------------------------------

def figures(count: int) -> None:
    import diagnose
    from diagnose.html import figure_svg

    logs = sorted((ROOT / "fixtures").glob("*.csv"))
    step = max(1, len(logs) // count)
    picked = logs[::step][:count]
    reports = [diagnose.diagnose(f"fixtures/{p.name}") for p in picked]
    conditions = sorted({c for r in reports for c in r.conditions})

    def draw(report, fmt: str) -> int:
        buffer = io.BytesIO()
        fig = report.plot()
        fig.savefig(buffer, format=fmt, dpi=110)
        return buffer.tell()

    # The first figure of a process pays matplotlib's import: timed in fresh processes.
    script = (f"import io, time, diagnose; r = diagnose.diagnose({COLD_FILE!r}); "
              "t = time.perf_counter(); r.plot().savefig(io.BytesIO(), format='png', dpi=110); "
              "print(time.perf_counter() - t)")
    first = statistics.median(
        float(subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout) for _ in range(3))
    timings: dict[str, list[float]] = {"png": [], "svg": [], "html": []}
    sizes: dict[str, list[int]] = {"png": [], "svg": [], "html": []}
    for report in reports:
        for fmt in ("png", "svg"):
            start = time.perf_counter()
            size = draw(report, fmt)
            timings[fmt].append(time.perf_counter() - start)
            sizes[fmt].append(size)
        start = time.perf_counter()
        svg = figure_svg(report)
        timings["html"].append(time.perf_counter() - start)
        sizes["html"].append(len(svg.encode()))
    print(f"one figure: median over {len(reports)} fixture runs ({', '.join(conditions)})")
    row("first figure of a process (PNG)", f"{first * 1000:.0f} ms",
        f"matplotlib's import included; {Path(COLD_FILE).name}, median of 3 processes")
    for fmt, label in (("png", "draw + write PNG (--plot x.png, 110 dpi)"),
                       ("svg", "draw + write SVG (--plot x.svg)"),
                       ("html", "draw + inline SVG of the HTML page")):
        row(label, f"{statistics.median(timings[fmt]) * 1000:.0f} ms",
            f"max {max(timings[fmt]) * 1000:.0f} ms; median size "
            f"{statistics.median(sizes[fmt]) / 1024:.0f} kB")


# --- the sweep ----------------------------------------------------------------

def resampled_runs(n: int, seed: int = 0) -> list:
    """``n`` runs made from the fixture runs: noise on every series, cut at a random length."""
    from diagnose.load import load
    from diagnose.run import LEARNING_RATE, Run

    bases = [load(str(p)) for p in sorted((ROOT / "fixtures").glob("*.csv"))]
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        base = bases[i % len(bases)]
        length = len(base)
        keep = int(rng.integers(min(length, max(5, math.ceil(0.4 * length))), length + 1))
        sigma = float(rng.uniform(0.005, 0.08))
        columns = {}
        for name, values in base.series.items():
            values = values[:keep].copy()
            if name != LEARNING_RATE:
                values = values * np.exp(rng.normal(0.0, sigma, keep))
                if "acc" in name:
                    values = np.clip(values, 0.0, 1.0)
            infinite = base.infinite.get(name)
            if infinite is not None:
                values = np.where(infinite[:keep] != 0, infinite[:keep] * np.inf, values)
            logged = base.logged[name][:keep]
            columns[name] = [float(v) if ok else None for v, ok in zip(values, logged)]
        stem = Path(base.source).stem
        runs.append(Run.from_columns(f"sweep/{i:04d}_{stem}.csv", columns,
                                     epochs=base.epochs[:keep], granularity=base.granularity,
                                     format=base.format))
    return runs


LOAD_JS = r"""new Promise(done => requestAnimationFrame(() => setTimeout(() => {
  const n = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  done({dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, frame: performance.now(),
        fcp: paint ? paint.startTime : null, nodes: document.getElementsByTagName('*').length});
}, 0)))"""

CLICK_JS = r"""(() => {
  const th = Array.from(document.querySelectorAll('table#kd-runs thead th'))
    .find(h => h.textContent.trim() === 'best');
  let t = performance.now(); th.click(); document.body.offsetHeight;
  const sort = performance.now() - t;
  const pick = document.getElementById('kd-filter');
  pick.value = pick.options[pick.options.length - 1].value;
  t = performance.now(); pick.dispatchEvent(new Event('change')); document.body.offsetHeight;
  const filter = performance.now() - t;
  pick.value = ''; pick.dispatchEvent(new Event('change'));
  return {sort, filter, rows: document.querySelectorAll('#kd-runs tbody tr').length};
})()"""


def write_csv(run, path: Path) -> None:
    """``run`` as a CSVLogger file: a 0-based epoch column, NA where nothing was logged."""
    names = sorted(run.series)
    lines = [",".join(["epoch", *names])]
    for i, epoch in enumerate(run.epochs):
        cells = [f"{epoch - 1:g}"]
        for name in names:
            if not run.logged[name][i]:
                cells.append("NA")
                continue
            sign = run.infinite.get(name)
            value = math.inf * sign[i] if sign is not None and sign[i] else run.series[name][i]
            cells.append(repr(float(value)))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def sweep(n: int, repeat: int, chromium: str | None) -> None:
    from diagnose.api import diagnose
    from diagnose.html import SWEEP_FIGURES, render_html

    runs = resampled_runs(n)
    folder = Path(tempfile.mkdtemp(prefix="kd-sweep-"))
    try:
        logs = folder / "logs"
        logs.mkdir()
        for run in runs:
            write_csv(run, logs / Path(run.source).name)
        epochs = sum(len(r) for r in runs)
        print(f"sweep page of {n} runs (fixture runs resampled with noise and cut; "
              f"{epochs:,} epochs in all; full figures only up to {SWEEP_FIGURES} runs)")

        cli_page = folder / "cli.html"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "diagnose", str(logs), "--format", "html",
                               "-o", str(cli_page)], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        cli = time.perf_counter() - start
        if proc.returncode != 0 or not cli_page.exists():
            row("diagnose DIR --format html", "failed", _last_line(proc.stderr))
            cli_page = None
        else:
            size = cli_page.stat().st_size
            row(f"diagnose DIR --format html ({n} CSV files)", f"{cli:.2f} s",
                f"one CLI call: read, diagnose, write; {n / cli:.0f} runs/s")
            row("  its page size", f"{size / 2**20:.2f} MB", f"{size / n / 1024:.2f} kB a run")

        start = time.perf_counter()
        reports = [diagnose(run) for run in runs]
        diagnosed = time.perf_counter() - start
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            page = render_html(reports)
            written = time.perf_counter() - start
        api_page = folder / "api.html"
        api_page.write_text(page, encoding="utf-8")
        size = len(page.encode())
        row(f"Python API: diagnose {n} runs", f"{diagnosed:.2f} s", f"{n / diagnosed:.0f} runs/s")
        row("Python API: write the page (render_html)", f"{written:.2f} s",
            f"{written / n * 1000:.2f} ms a run")
        row("  its page size", f"{size / 2**20:.2f} MB", f"{size / n / 1024:.2f} kB a run")
        if caught:
            first = caught[0]
            row("  warnings while writing it", f"{len(caught)}",
                f"{Path(first.filename).name}:{first.lineno}: {first.message}")

        if chromium is None:
            row("load in headless Chromium", "skipped", "Chromium not found (--chromium PATH)")
            return
        for label, path in (("CLI page", cli_page), ("API page", api_page)):
            if path is not None:
                in_browser(label, path, repeat, chromium)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no message"])[-1]


def in_browser(label: str, path: Path, repeat: int, chromium: str) -> None:
    """Load a page in fresh tabs: load times, what a click costs, and any problem it has."""
    from screenshot_reports import Chromium, check_page_basics

    page = path.read_text(encoding="utf-8")
    results, clicks, problems = [], [], []
    with Chromium(chromium) as browser:
        version = browser.send("Browser.getVersion")["product"]
        for i in range(repeat + 1):  # the first load warms the file cache
            tab = browser.new_page()
            try:
                wall = tab.load(path.as_uri())
                got = tab.evaluate(LOAD_JS)
                got["wall"] = wall * 1000
                if i == 0:
                    problems = check_page_basics(tab, page)
                    blank = tab.evaluate("document.querySelectorAll('.grid .cell svg title')"
                                         ".length ? Array.from(document.querySelectorAll("
                                         "'.grid .cell svg title')).filter(t => t.textContent"
                                         " === 'no curve').length : 0")
                else:
                    results.append(got)
                    clicks.append(tab.evaluate(CLICK_JS))
            finally:
                tab.close()

    def med(key, items=results):
        values = [r[key] for r in items if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    print(f"{label} in headless Chromium ({version}, median of {repeat} fresh tabs)")
    row("  DOMContentLoaded", f"{med('dcl'):.0f} ms")
    row("  load event", f"{med('load'):.0f} ms",
        f"navigate to load event seen over DevTools: {med('wall'):.0f} ms")
    row("  first frame after load", f"{med('frame'):.0f} ms",
        f"first contentful paint {med('fcp'):.0f} ms; {results[0]['nodes']:,} elements")
    row(f"  click: sort {clicks[0]['rows']} rows by 'best'", f"{med('sort', clicks):.0f} ms",
        "layout included")
    row("  click: filter by a condition", f"{med('filter', clicks):.0f} ms", "layout included")
    if blank:
        row("  small multiples that draw no curve", f"{blank}", "('no curve')")
    if problems:
        row("  page problems", f"{len(problems)}", "; ".join(problems[:3]))


# --- cold start ---------------------------------------------------------------

def imported(cmd: list[str], cwd: Path) -> set[str]:
    """Top-level packages a command imports (python -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *cmd], cwd=cwd,
                          capture_output=True, text=True, check=False)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name.split(".")[0])
    return names


def baseline_tree() -> tuple[Path | None, str]:
    """The ``diagnose`` package as it was before the figure: (folder, revision) or (None, why)."""
    git = shutil.which("git")
    if git is None:
        return None, "git not found"
    added = subprocess.run([git, "log", "--diff-filter=A", "--format=%H", "--",
                            "diagnose/figure.py"], cwd=ROOT, capture_output=True, text=True,
                           check=False).stdout.split()
    if not added:
        return None, "diagnose/figure.py is not committed yet"
    revision = subprocess.run([git, "rev-parse", "--short", f"{added[-1]}^"], cwd=ROOT,
                              capture_output=True, text=True, check=False).stdout.strip()
    if not revision:
        return None, "no parent of the commit that added diagnose/figure.py"
    archive = subprocess.run([git, "archive", "--format=tar", revision, "diagnose"], cwd=ROOT,
                             capture_output=True, check=False)
    if archive.returncode != 0:
        return None, f"git archive {revision} failed"
    folder = Path(tempfile.mkdtemp(prefix="kd-baseline-"))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    where = subprocess.run([sys.executable, "-c", "import diagnose; print(diagnose.__file__)"],
                           cwd=folder, capture_output=True, text=True, check=False).stdout.strip()
    if not where.startswith(str(folder)):
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"the {revision} package is shadowed by {where}"
    return folder, revision


def cold_start(repeat: int) -> None:
    log = str(ROOT / COLD_FILE)
    py = sys.executable
    text_cmd = ["-m", "diagnose", log]
    html_out = Path(tempfile.mkdtemp(prefix="kd-cold-")) / "page.html"
    html_cmd = ["-m", "diagnose", log, "--format", "html", "-o", str(html_out)]
    base, revision = baseline_tree()
    commands = {"numpy": ([py, "-c", "import numpy"], ROOT), "now": ([py, *text_cmd], ROOT)}
    if base is not None:
        commands["before"] = ([py, *text_cmd], base)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="0")
    try:
        for cmd, cwd in commands.values():  # warm the file cache and byte-code
            subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=False)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeat * 3):  # interleaved, so a noisy machine hits every command alike
            for key, (cmd, cwd) in commands.items():
                start = time.perf_counter()
                subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=False)
                times[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"cold start: python -m diagnose {Path(log).name} (text report), "
              f"median of {repeat * 3}")
        row("python -c 'import numpy'", f"{med['numpy'] * 1000:.0f} ms")
        row("python -m diagnose FILE, now", f"{med['now'] * 1000:.0f} ms",
            f"numpy import + {(med['now'] - med['numpy']) * 1000:.0f} ms")
        if "before" in med:
            change = (med["now"] - med["before"]) * 1000
            row(f"python -m diagnose FILE, before the figure ({revision})",
                f"{med['before'] * 1000:.0f} ms", f"now {change:+.0f} ms")
        else:
            row("python -m diagnose FILE, before the figure", "skipped", revision)
        text_mods = imported(text_cmd, ROOT)
        html_mods = imported(html_cmd, ROOT)
        row("matplotlib imported: text report", "yes" if "matplotlib" in text_mods else "no",
            f"{len(text_mods)} top-level packages")
        row("matplotlib imported: --format html", "yes" if "matplotlib" in html_mods else "no",
            f"{len(html_mods)} top-level packages")
    finally:
        shutil.rmtree(html_out.parent, ignore_errors=True)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs in the sweep page")
    parser.add_argument("--figures", type=int, default=20, help="fixture runs to draw")
    parser.add_argument("--repeat", type=int, default=5,
                        help="browser loads (and a third of the cold-start runs)")
    parser.add_argument("--chromium", help="the Chromium binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)

    from screenshot_reports import find_chromium

    from diagnose.figure import has_matplotlib

    if not has_matplotlib():
        print("benchmarks/html_pages.py needs matplotlib: pip install 'keras-diagnose[plot]'",
              file=sys.stderr)
        return 2
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the start "
          f"(timings are medians; a busy machine inflates them)")
    cold_start(args.repeat)  # first: before this process has anything in its caches
    figures(args.figures)
    sweep(args.runs, args.repeat, find_chromium(args.chromium))
    return 0


if __name__ == "__main__":
    sys.exit(main())
