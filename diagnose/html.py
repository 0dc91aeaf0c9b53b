"""Reports as one self-contained HTML file: a run's page, or a whole sweep's.

Users are often offline, and a report gets mailed, attached to an issue or
opened years later: the page holds everything it needs. CSS and the little
script are inline, figures are inline SVG, and nothing is fetched (no CDN,
no web font, no image file). Every string that comes from a log is escaped.

- One run (:func:`render_html` with one report): the verdict, the figure of
  :mod:`diagnose.figure` (matplotlib, the ``plot`` extra), the findings and
  the fixes with code to copy.
- A sweep: a summary table that sorts by any column and filters by
  condition, small multiples of every run's curves (plain SVG drawn here from
  the same marks as the figure, a few hundred bytes each, so a page of a
  thousand runs stays light), each run's findings and fixes, and the
  cross-run learning-rate advice. Full figures are included for sweeps of up
  to :data:`SWEEP_FIGURES` runs when matplotlib is installed.

:func:`report_fragment` is the piece a notebook shows (``Report._repr_html_``).
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Sequence

import numpy as np

from .report import CONDITIONS, Report
from .render import _epochs, _number, summary_line, verdict

# A sweep with at most this many runs gets each run's full figure (when
# matplotlib is installed); a bigger one, the small multiples alone: a figure
# costs about 0.1 s and 40 kB, the small multiple 0.2 ms and under 1 kB.
SWEEP_FIGURES = 50
# Small multiples: the size of one chart, in CSS pixels.
SPARK_W, SPARK_H = 180, 64

_FIGURE_NUMBERS = itertools.count(1)

CSS = """
.kd{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
max-width:1100px;margin:0 auto;padding:0 12px}
.kd h1{font-size:20px;margin:18px 0 4px}.kd h2{font-size:17px;margin:22px 0 6px}
.kd h3{font-size:15px;margin:14px 0 4px}
.kd .summary{color:#444;margin:2px 0 10px}
.kd .verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:13px;
border:1.5px solid currentColor;margin-right:4px;background:#fff}
.kd .v-healthy{color:#007a5a}.kd .v-overfitting{color:#b34a00}.kd .v-underfitting{color:#8a5d00}
.kd .v-lr_too_high{color:#a3497f}.kd .v-lr_too_low{color:#1f6f9e}.kd .v-none{color:#666}
.kd table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
.kd th,.kd td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
.kd th{background:#f4f4f4;position:sticky;top:0;white-space:nowrap}.kd td.nowrap{white-space:nowrap}
.kd th.sortable{cursor:pointer;user-select:none}.kd th.sortable:after{content:" \\2195";color:#999}
.kd th[aria-sort=ascending]:after{content:" \\2191";color:#222}
.kd th[aria-sort=descending]:after{content:" \\2193";color:#222}
.kd td.num{text-align:right;font-variant-numeric:tabular-nums}
.kd .figure svg{width:100%;max-width:1000px;height:auto}
.kd ol.fixes>li{margin:6px 0 10px}
.kd pre{background:#f6f8fa;border:1px solid #ddd;border-radius:4px;padding:8px 60px 8px 10px;
overflow-x:auto;
position:relative;font-size:12.5px;margin:4px 0}
.kd button.copy{position:absolute;top:4px;right:4px;font-size:11px;padding:1px 6px;cursor:pointer;
border:1px solid #bbb;border-radius:3px;background:#fff}
.kd .muted{color:#666}.kd ul{margin:4px 0 8px}
.kd .grid{display:flex;flex-wrap:wrap;gap:8px}
.kd .cell{box-sizing:border-box;border:1px solid #ddd;border-radius:4px;padding:4px;width:190px;
font-size:11px}
.kd .cell a{color:inherit;text-decoration:none}.kd .cell .name{overflow:hidden;text-overflow:ellipsis;
white-space:nowrap;display:block}
.kd details{border-top:1px solid #ddd;padding:4px 0}.kd summary{cursor:pointer}
.kd .controls{margin:8px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
.kd .errors{color:#a00}
.kd ul.warnings{border-left:3px solid #c90;padding-left:24px}.kd ul.warnings>li{margin:3px 0}
@media print{.kd button.copy,.kd .controls{display:none}.kd details{display:block}}
"""

# Sorting, filtering and copying. Plain DOM, no library, and every handler
# guarded: a page whose script fails still shows everything (nothing is
# hidden until the script runs).
SCRIPT = r"""
(function(){
  function cellValue(row, i){
    var c = row.cells[i]; if(!c) return '';
    var v = c.getAttribute('data-sort'); if(v === null) v = c.textContent.trim();
    var n = parseFloat(v); return (v !== '' && !isNaN(n) && isFinite(v)) ? n : v.toLowerCase();
  }
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function(th, i){
      th.classList.add('sortable');
      th.addEventListener('click', function(){
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function(h){ h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        // Each row's key is read once, not on every comparison (a thousand rows sort at once).
        var rows = Array.prototype.map.call(body.rows, function(r){ return [cellValue(r, i), r]; });
        rows.sort(function(a, b){
          var x = a[0], y = b[0];
          var blankX = x === '' || x === '-', blankY = y === '' || y === '-';
          if(blankX !== blankY) return blankX ? 1 : -1;  // blanks last either way
          if(typeof x !== typeof y){ x = String(x); y = String(y); }
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        var sorted = document.createDocumentFragment();
        rows.forEach(function(pair){ sorted.appendChild(pair[1]); });
        body.appendChild(sorted);
      });
    });
  });
  var pick = document.getElementById('kd-filter'), text = document.getElementById('kd-search');
  function applyFilter(){
    var want = pick ? pick.value : '', q = text ? text.value.toLowerCase() : '', shown = 0;
    document.querySelectorAll('[data-run]').forEach(function(el){
      var ok = (!want || (' ' + el.getAttribute('data-conditions') + ' ').indexOf(' ' + want + ' ') >= 0)
               && (!q || el.getAttribute('data-source').toLowerCase().indexOf(q) >= 0);
      el.hidden = !ok; if(ok && el.tagName === 'TR') shown++;
    });
    var count = document.getElementById('kd-shown'); if(count) count.textContent = shown;
  }
  if(pick) pick.addEventListener('change', applyFilter);
  if(text) text.addEventListener('input', applyFilter);
  document.querySelectorAll('pre > code').forEach(function(code){
    var b = document.createElement('button'); b.className = 'copy'; b.type = 'button';
    b.textContent = 'copy';
    b.addEventListener('click', function(){
      var done = function(){ b.textContent = 'copied'; setTimeout(function(){ b.textContent = 'copy'; }, 1200); };
      if(navigator.clipboard && window.isSecureContext){
        navigator.clipboard.writeText(code.textContent).then(done, function(){ select(code); });
      } else { select(code); }
    });
    code.parentNode.appendChild(b);
  });
  function openTarget(){  // a link to a run opens its folded section
    var id = decodeURIComponent(location.hash.slice(1)), el = id && document.getElementById(id);
    if(el && el.tagName === 'DETAILS'){ el.open = true; el.scrollIntoView(); }
  }
  window.addEventListener('hashchange', openTarget); openTarget();
  function select(node){  // no clipboard (a file:// page): select the code for Ctrl+C
    var r = document.createRange(); r.selectNodeContents(node);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
  }
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _badges(report: Report) -> str:
    if not report.conditions:
        return '<span class="verdict v-none">not judged</span>'
    return "".join(f'<span class="verdict v-{_e(c)}">{_e(c)}</span>' for c in report.conditions)


# --- the figure ---------------------------------------------------------------

def figure_svg(report: Report) -> str:
    """``report``'s matplotlib figure as an inline ``<svg>`` element.

    Text stays text (``svg.fonttype: none``: small, selectable, drawn in the
    reader's sans-serif font; no font is embedded or fetched). The ids
    matplotlib derives from the artists' ``gid`` (``mark:overfitting``) become
    ``class``/``data-kind`` attributes, so several figures on one page never
    share an id. Raises :class:`~diagnose.errors.MissingExtra` without matplotlib.
    """
    import io

    from .figure import _matplotlib, plot, quiet_glyphs

    matplotlib, _ = _matplotlib()
    with matplotlib.rc_context({"svg.fonttype": "none"}), quiet_glyphs():
        fig = plot(report)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    # matplotlib's RDF metadata names its web site and a Dublin Core type: nothing a
    # reader needs, and a page that names no address cannot be suspected of fetching one.
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    svg = re.sub(r'id="(mark|line):([^"]*)"', lambda m: f'class="kd-{m[1]}" data-kind="{m[2]}"',
                 svg)
    # matplotlib numbers its ids per figure (figure_1, axes_1, a clip path's hash): on a page
    # of several figures each gets its own prefix, so no id is defined twice.
    prefix = f"f{next(_FIGURE_NUMBERS)}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m[1]}"', svg)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}{m[2]}", svg)


def sparkline(report: Report, width: int = SPARK_W, height: int = SPARK_H) -> str:
    """A small SVG of the run's loss curves with its key marks (plain SVG, no matplotlib).

    Drawn from the same :func:`diagnose.marks.picture` as the figure: the
    shaded stretches, NaN/inf epochs (crosses on the axis), spikes and the
    best epoch (a dot), on a log axis when the figure has one.
    """
    from .marks import picture

    try:
        panel = picture(report).panels[0]
    except ValueError:
        return f'<svg width="{width}" height="{height}" role="img"><title>no curve</title></svg>'
    lines = [ln for ln in panel.lines if ln.role in ("train", "val")]
    xs = [ln.x for ln in lines] + [np.asarray(m.x, float) for m in panel.marks if m.x]
    xs = [x for x in xs if len(x)]
    if not xs:
        return f'<svg width="{width}" height="{height}" role="img"><title>no curve</title></svg>'
    x_all = np.concatenate(xs)
    x0, x1 = float(x_all.min()), float(x_all.max())
    transform = np.log10 if panel.log_y else (lambda v: v)
    ys = [transform(ln.y[ln.y > 0] if panel.log_y else ln.y) for ln in lines]
    ys = [y[np.isfinite(y)] for y in ys if len(y)]
    y_all = np.concatenate(ys) if ys else np.array([0.0, 1.0])
    if not len(y_all):
        y_all = np.array([0.0, 1.0])
    y0, y1 = float(y_all.min()), float(y_all.max())
    pad = 3.0

    def px(x):
        return pad + (np.asarray(x, float) - x0) / ((x1 - x0) or 1.0) * (width - 2 * pad)

    def py(y):
        y = transform(np.asarray(y, float)) if panel.log_y else np.asarray(y, float)
        return height - pad - (y - y0) / ((y1 - y0) or 1.0) * (height - 2 * pad)

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">'
             f'<title>{_e(report.source)}: {_e(verdict(report))}</title>',
             f'<rect width="{width}" height="{height}" fill="#fff"/>']
    for m in panel.marks:
        if m.shape == "span":
            a, b = px(m.x[0]), px(m.x[1])
            colour = "#D55E00" if m.kind == "overfitting" else "#CC79A7" if m.kind in (
                "diverging", "oscillating", "frozen") else "#999"
            parts.append(f'<rect class="kd-mark" data-kind="{_e(m.kind)}" x="{a:.1f}" y="0" '
                         f'width="{max(b - a, 1.0):.1f}" height="{height}" fill="{colour}" '
                         f'fill-opacity="0.15"/>')
    for ln, colour in ((ln, "#0072B2" if ln.role == "train" else "#E69F00") for ln in lines):
        ok = np.isfinite(ln.y) & ((ln.y > 0) if panel.log_y else True)
        if ok.sum() < 1:
            continue
        xs_, ys_ = px(ln.x[ok]), py(ln.y[ok])
        if len(xs_) > 2 * width:  # more points than pixels: one per half pixel is plenty
            keep = np.unique(np.linspace(0, len(xs_) - 1, 2 * width).astype(int))
            xs_, ys_ = xs_[keep], ys_[keep]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs_, ys_))
        parts.append(f'<polyline class="kd-line" data-kind="{ln.role}" points="{points}" '
                     f'fill="none" stroke="{colour}" stroke-width="1.5"/>')
    for m in panel.marks:
        if m.shape == "ticks":
            for x in m.x:
                a = px(x)
                parts.append(f'<path class="kd-mark" data-kind="nan" d="M{a - 3:.1f},{height - 7} '
                             f'l6,6 m-6,0 l6,-6" stroke="#D55E00" stroke-width="1.5"/>')
        elif m.shape == "points" and m.kind in ("best", "spike"):
            for x, y in zip(m.x, m.y):
                if not math.isfinite(y) or (panel.log_y and y <= 0):
                    continue
                colour = "#222" if m.kind == "best" else "#D55E00"
                parts.append(f'<circle class="kd-mark" data-kind="{m.kind}" cx="{px(x):.1f}" '
                             f'cy="{py(y):.1f}" r="{3 if m.kind == "best" else 2.5}" '
                             f'fill="{colour}"/>')
        elif m.shape == "vline" and m.kind == "nan_onset":
            a = px(m.x[0])
            parts.append(f'<line class="kd-mark" data-kind="nan_onset" x1="{a:.1f}" x2="{a:.1f}" '
                         f'y1="0" y2="{height}" stroke="#D55E00" stroke-width="1.2"/>')
    parts.append("</svg>")
    return "".join(parts)


# --- one run ------------------------------------------------------------------

def report_fragment(report: Report, figure: bool | None = None, anchor: str | None = None,
                    heading: str = "h2") -> str:
    """One run as an HTML fragment: verdict, figure, findings, fixes, limits and notes.

    ``figure``: True draws the matplotlib figure (raising MissingExtra without
    it), False leaves it out, None (default) draws it when matplotlib is installed.
    The fragment carries its own ``<style>``, so it reads the same in a notebook.
    """
    return f"<style>{CSS}</style>" + _run_html(report, figure, anchor, heading, standalone=True)


def _run_html(report: Report, figure: bool | None, anchor: str | None, heading: str,
              standalone: bool = False) -> str:
    from .errors import MissingExtra

    out = []
    ident = f' id="{_e(anchor)}"' if anchor else ""
    wrap = "div" if standalone else "section"
    out.append(f'<{wrap} class="kd run"{ident}>' if standalone else f'<{wrap} class="run"{ident}>')
    out.append(f"<{heading}>{_badges(report)} <code>{_e(report.source)}</code></{heading}>")
    out.append(f'<p class="summary">{_e(summary_line(report))}</p>')
    if figure is not False and report.run is not None:
        try:
            out.append(f'<div class="figure">{figure_svg(report)}</div>')
        except MissingExtra:
            if figure:
                raise
            out.append('<p class="muted">(install keras-diagnose[plot] to see the curves here)</p>')
        except ValueError as exc:  # a run with no loss to draw
            out.append(f'<p class="muted">no figure: {_e(exc)}</p>')
    if report.findings:
        out.append("<table><thead><tr><th>condition</th><th>rule</th><th>where</th>"
                   "<th>confidence</th><th>evidence</th></tr></thead><tbody>")
        for f in report.findings:
            out.append(f'<tr><td><span class="verdict v-{_e(f.condition)}">{_e(f.condition)}'
                       f'</span></td><td class="nowrap"><code>{_e(f.rule)}</code></td><td class="nowrap">'
                       f'{_e(_epochs(f.epochs, f.events))}'
                       f'</td><td class="num">{f.confidence:.2f}</td><td>{_e(f.message)}</td></tr>')
        out.append("</tbody></table>")
    elif report.healthy:
        out.append("<p>No problem found.</p>")
    if report.fixes:
        title = "To keep it that way" if report.healthy else "Fixes"
        out.append(f'<h3>{title}</h3><ol class="fixes">')
        for fix in report.fixes:
            tag = " <span class=\"muted\">(automatic)</span>" if fix.automatic else ""
            out.append(f"<li>{_e(fix.text)}{tag}<pre><code>{_e(fix.code)}</code></pre></li>")
        out.append("</ol>")
    if report.actions:
        out.append("<h3>Done during training</h3><ul>")
        out += [f"<li>epoch {_e(f'{a.epoch:g}')}: {_e(a.action)}: {_e(a.reason)}</li>"
                for a in report.actions]
        out.append("</ul>")
    if report.warnings:  # what is wrong with the log, not the training (diagnose.warnings)
        out.append('<h3>Warnings</h3><ul class="warnings">')
        out += [f'<li data-kind="{_e(w.kind)}"><code>{_e(w.kind)}</code>'
                + (f" ({_e(_epochs(w.epochs, w.events))})" if w.epochs else "") + f": {_e(w.message)}</li>" for w in report.warnings]
        out.append("</ul>")
    for title, items in (("Not judged", report.limitations), ("Notes", report.notes)):
        if items:
            out.append(f'<h3 class="muted">{title}</h3><ul class="muted">')
            out += [f"<li>{_e(item)}</li>" for item in items]
            out.append("</ul>")
    out.append(f"</{wrap}>")
    return "\n".join(out)


# --- pages --------------------------------------------------------------------

def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n"
            f"<body><main class=\"kd\">\n{body}\n</main>\n<script>{SCRIPT}</script></body></html>\n")


def render_html(reports: Sequence[Report], errors: Sequence[tuple[str, str]] = (),
                figures: bool | None = None) -> str:
    """A whole HTML document: the run's page for one report, the sweep's for several.

    ``figures``: as in :func:`report_fragment` (None: when matplotlib is
    installed; for a sweep, only up to :data:`SWEEP_FIGURES` runs).
    """
    errors_html = ""
    if errors:
        errors_html = ('<h2 class="errors">Could not be read</h2><ul class="errors">'
                       + "".join(f"<li><code>{_e(s)}</code>: {_e(e)}</li>" for s, e in errors)
                       + "</ul>")
    if not reports:
        return _page("No training run could be read",
                     "<h1>No training run could be read</h1>" + errors_html)
    if len(reports) == 1:
        r = reports[0]
        body = ("<h1>Training-run diagnosis</h1>"
                + _run_html(r, True if figures is None else figures, "run-1", "h2") + errors_html)
        return _page(f"{r.source}: {verdict(r)}", body)
    return _page(f"Sweep of {len(reports)} runs", _sweep_html(reports, figures) + errors_html)


def _sweep_html(reports: Sequence[Report], figures: bool | None) -> str:
    from . import sweep
    from .figure import has_matplotlib

    ranked = sweep.ranking(reports)
    # Anchors by rank, not by object: the same report may be listed twice.
    anchors = [f"run-{i}" for i in range(1, len(ranked) + 1)]
    counts = {c: sum(c in r.conditions for r in reports) for c in CONDITIONS}
    out = [f"<h1>Sweep of {len(reports)} runs</h1>"]
    unjudged = sum(1 for r in reports if not r.conditions)
    found = [f"{n} {c}" for c, n in counts.items() if n]
    found += [f"{unjudged} not judged"] if unjudged else []
    out.append(f'<p class="summary">{_e(", ".join(found))}</p>')
    advice = sweep.advice(reports)
    if advice:
        out.append("<h2>Across runs</h2><ul>" + "".join(f"<li>{_e(a)}</li>" for a in advice)
                   + "</ul>")

    options = "".join(f'<option value="{c}">{c} ({counts[c]})</option>'
                      for c in CONDITIONS if counts[c])
    out.append('<div class="controls"><label>condition <select id="kd-filter">'
               f'<option value="">all ({len(reports)})</option>{options}</select></label>'
               '<label>run <input id="kd-search" type="search" placeholder="name contains">'
               f'</label><span class="muted"><span id="kd-shown">{len(reports)}</span> shown; '
               'click a column to sort</span></div>')

    # The settings that vary (a tuner's hyperparameters, the learning rate) beside the verdict.
    params = sweep.varying(reports)[:sweep.MAX_PARAM_COLUMNS]
    heads = "".join(f"<th>{_e(p)}</th>" for p in params)
    out.append('<h2>Runs</h2><table class="sortable" id="kd-runs"><thead><tr><th>rank</th>'
               f"<th>run</th><th>verdict</th>{heads}<th>epochs</th><th>monitor</th><th>best</th>"
               "<th>best epoch</th><th>main finding</th><th>first fix</th>"
               "</tr></thead><tbody>")
    for i, r in enumerate(ranked, 1):
        s = r.summary
        best = s.get("best_value")
        first = r.findings[0] if r.findings else None
        fix = r.fixes[0].action.replace("_", " ") if r.fixes else "-"
        used = sweep.settings(r)
        values = "".join(_param_cell(used.get(p)) for p in params)
        out.append(
            f'<tr data-run="{i}" data-conditions="{_e(" ".join(r.conditions))}" '
            f'data-source="{_e(r.source)}"><td class="num">{i}</td>'
            f'<td><a href="#{anchors[i - 1]}"><code>{_e(r.source)}</code></a></td>'
            f'<td data-sort="{_e(verdict(r))}">{_badges(r)}</td>{values}'
            f'<td class="num">{_e(s.get("epochs", ""))}</td><td>{_e(s.get("monitor") or "-")}</td>'
            f'<td class="num" data-sort="{"" if best is None else repr(float(best))}">'
            f'{"-" if best is None else f"{best:.4g}"}</td>'
            f'<td class="num">{_e(_number(s.get("best_epoch")))}</td>'
            f'<td>{_e(first.rule) if first else "-"}</td><td>{_e(fix)}</td></tr>')
    out.append("</tbody></table>")

    out.append('<h2>Curves</h2><p class="muted">Training loss (blue) and validation loss '
               "(orange); shaded: overfitting (red) or instability (purple); crosses: NaN/inf; "
               "dot: best epoch.</p><div class=\"grid\">")
    for anchor, r in zip(anchors, ranked):
        out.append(f'<div class="cell" data-run="{anchor}" '
                   f'data-conditions="{_e(" ".join(r.conditions))}" data-source="{_e(r.source)}">'
                   f'<a href="#{anchor}"><span class="name">{_e(r.source)}</span>'
                   f"{sparkline(r)}</a><br>{_badges(r)}</div>")
    out.append("</div>")

    draw = figures if figures is not None else (len(reports) <= SWEEP_FIGURES and has_matplotlib())
    out.append("<h2>Each run</h2>")
    if not draw and figures is None:
        how = ("run <code>diagnose DIR --plot figures/</code>" if has_matplotlib() else
               "install <code>keras-diagnose[plot]</code> and run <code>diagnose DIR --plot "
               "figures/</code>")
        out.append(f'<p class="muted">Full figures are drawn for sweeps of up to {SWEEP_FIGURES} '
                   f"runs with matplotlib installed; for every run's figure, {how}.</p>")
    for anchor, r in zip(anchors, ranked):
        out.append(f'<details data-run="{anchor}" data-conditions='
                   f'"{_e(" ".join(r.conditions))}" data-source="{_e(r.source)}" '
                   f'id="{anchor}"><summary>{_badges(r)} <code>{_e(r.source)}</code>'
                   "</summary>")
        out.append(_run_html(r, draw, None, "h3"))
        out.append("</details>")
    return "\n".join(out)


def _param_cell(value) -> str:
    """A setting's table cell: numbers sort as numbers, anything else as text."""
    if value is None:
        return "<td>-</td>"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f'<td class="num" data-sort="{float(value)!r}">{value:g}</td>'
    return f"<td>{_e(value)}</td>"
