"""Reports as people and programs read them: text, Markdown and JSON.

Text is the product's face: a person who just watched a bad training run
reads it in a terminal. So it leads with the verdict, then the evidence
with its numbers, then the fixes with code to paste, and keeps notes and
limits for last. Colour is optional and only ever marks the verdict.
"""

from __future__ import annotations

import html
import json
import textwrap
from collections.abc import Iterable, Sequence

from .report import Report, count
from .rules.base import fmt

# ANSI colours by condition: red for an unstable run, yellow for the others,
# green for healthy. Dim marks notes.
_COLOURS = {"lr_too_high": "31", "overfitting": "33", "underfitting": "33", "lr_too_low": "33",
            "healthy": "32"}
_WIDTH = 100


def _paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def _number(value) -> str:
    """An epoch or a loss as people write them: 12, 0.3258, 1.2e+20 (never 21 digits)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) < 1e6 else fmt(value)
    return str(value)


def _epochs(epochs: Sequence[float], events: bool = False) -> str:
    """``epochs 7-60`` for a stretch, ``epochs 9, 12`` for separate events."""
    if not epochs:
        return ""
    shown = [_number(float(e)) for e in epochs[:6]]
    if len(epochs) == 2 and epochs[1] > epochs[0] and not events:
        return f"epochs {shown[0]}-{shown[1]}"
    more = ", ..." if len(epochs) > 6 else ""
    return ("epoch " if len(epochs) == 1 else "epochs ") + ", ".join(shown) + more


def verdict(report: Report) -> str:
    """The verdict in words: the conditions, or why there is none."""
    return ", ".join(report.conditions) if report.conditions else "not judged"


def summary_line(report: Report) -> str:
    """One line of headline numbers: epochs, best and final monitored value, losses."""
    s = report.summary
    n = s.get("epochs", 0)
    parts = [count(n, "step logged", "steps logged") if s.get("granularity") == "step"
             else count(n, "epoch")]
    if s.get("monitor") and s.get("best_value") is not None:
        parts.append(f"{s['monitor']} best {_number(s['best_value'])} at epoch "
                     f"{_number(s.get('best_epoch'))}, final {_number(s.get('final_value'))}")
    if s.get("loss") and s.get("loss_start") is not None and s.get("monitor") != s.get("loss"):
        parts.append(f"{s['loss']} {_number(s['loss_start'])} -> {_number(s.get('loss_end'))}")
    if s.get("learning_rate") is not None:
        # The rate the run started with, and where it ended when something changed it.
        end = s.get("learning_rate_end")
        parts.append(f"lr {s['learning_rate']:g}" + (f" -> {end:g}" if end is not None else ""))
    return " · ".join(parts)


def _healthy_text(s: dict) -> str:
    """What a healthy run's numbers show, and nothing they don't."""
    text = f"{s['loss']} went from {_number(s['loss_start'])} to {_number(s['loss_end'])}"
    if s.get("monitor") and s["monitor"] != s["loss"]:
        text += (f", and {s['monitor']} was best at epoch {_number(s['best_epoch'])} "
                 f"({_number(s['best_value'])})")
    converged = s.get("converged_fraction")
    if converged is not None:
        text += f"; the training loss has covered {converged:.0%} of its fitted drop"
    return text


def _wrap(text: str, indent: int) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=" " * indent, subsequent_indent=" " * indent)


def _text_one(report: Report, color: bool) -> list[str]:
    head = _paint(verdict(report), _COLOURS.get(report.conditions[0], "0") if report.conditions
                  else "2", color)
    lines = [f"{report.source}  {head}", f"  {summary_line(report)}"]
    if report.findings:
        lines.append("")
        for f in report.findings:
            tag = _paint(f.condition, _COLOURS.get(f.condition, "0"), color)
            lines.append(f"  {tag}  {f.rule} · {_epochs(f.epochs, f.events)} · confidence {f.confidence:.2f}")
            lines += _wrap(f.message, 4)
    elif report.healthy:
        lines.append("")
        lines += _wrap(f"No problem found: {_healthy_text(report.summary)}.", 2)
    if report.fixes:
        lines += ["", "  Fixes" if not report.healthy else "  To keep it that way"]
        for i, fix in enumerate(report.fixes, 1):
            wrapped = _wrap(fix.text, 6)
            lines.append(f"  {i:>2}. " + wrapped[0].lstrip())
            lines += wrapped[1:]
            lines += [_paint("        " + code, "36", color) for code in fix.code.splitlines()]
    if report.actions:
        lines += ["", "  Done during training"]
        lines += [f"    epoch {_number(a.epoch)}: {a.action} - {a.reason}" for a in report.actions]
    if report.warnings:
        lines += ["", "  Warnings"]
        for w in report.warnings:
            lines.append(f"  {_warning_head(w)}")
            lines += _wrap(w.message, 4)
    for title, items in (("Not judged", report.limitations), ("Notes", report.notes)):
        if items:
            lines += ["", _paint(f"  {title}", "2", color)]
            for item in items:
                lines += [_paint(line, "2", color) for line in _wrap("- " + item, 4)]
    return lines


def _warning_head(warning) -> str:
    """``possible_leakage · epochs 1-60``: the kind and where, as a finding's head line."""
    where = _epochs(warning.epochs, warning.events)
    return f"{warning.kind} · {where}" if where else warning.kind


def render_text(reports: Iterable[Report], *, color: bool = False) -> str:
    """Human-readable reports, one block per run, separated by a blank line."""
    blocks = ["\n".join(_text_one(r, color)) for r in reports]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _md(text: str) -> str:
    """Text from a log (a column name, a path, a message quoting them) as Markdown text.

    Column names, tags and paths come from the log, so they may hold HTML or
    Markdown; escaped, ``<script>`` renders as text, and a ``|`` or a line
    break cannot end a table row.
    """
    text = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(text.splitlines())


def _md_code(text: str) -> str:
    """Text from a log as an inline code span that it cannot close."""
    return "`" + " ".join(text.replace("`", "'").splitlines()) + "`"


def _md_link(path: str) -> str:
    """A relative file path as a Markdown link target: forward slashes, spaces and
    brackets escaped, so the link cannot end early."""
    from urllib.parse import quote

    return quote(path.replace("\\", "/"), safe="/._-~")


def _unfenced(text: str) -> str:
    """Text for a fenced block: inside a fence nothing is markup; only a fence could end it."""
    return text.replace("```", "'''")


def render_markdown(reports: Iterable[Report], sweep: str | None = None,
                    images: dict[str, str] | None = None) -> str:
    """Markdown: one section per run, findings as a table, fixes with fenced code.

    ``images`` maps a run's source to the path of its figure (``--plot DIR/``),
    linked under its heading so the report pastes into a pull request with its
    pictures. Every string that comes from a log is escaped (see :func:`_md`).
    """
    out = []
    for r in reports:
        out += [f"## {_md_code(r.source)}: {verdict(r)}", "", _md(summary_line(r)), ""]
        image = (images or {}).get(r.source)
        if image:
            out += [f"![{_md(r.source)}: {verdict(r)}]({_md_link(image)})", ""]
        if r.findings:
            out += ["| condition | rule | where | confidence | evidence |", "|---|---|---|---|---|"]
            out += [f"| `{f.condition}` | `{f.rule}` | {_epochs(f.epochs, f.events)} | {f.confidence:.2f} | "
                    f"{_md(f.message)} |" for f in r.findings]
            out.append("")
        for i, fix in enumerate(r.fixes, 1):
            out += [f"{i}. {_md(fix.text)}", "", "   ```python"]
            out += [f"   {line}" for line in _unfenced(fix.code).splitlines()]
            out += ["   ```", ""]
        if r.actions:
            out += ["**Done during training:**", ""]
            out += [f"- epoch {_number(a.epoch)}: `{a.action}` - {_md(a.reason)}"
                    for a in r.actions] + [""]
        if r.warnings:
            out += ["**Warnings:**", ""]
            out += [f"- `{w.kind}`" + (f" ({_epochs(w.epochs, w.events)})" if w.epochs else "")
                    + f": {_md(w.message)}" for w in r.warnings] + [""]
        for title, items in (("Not judged", r.limitations), ("Notes", r.notes)):
            if items:
                out += [f"**{title}:**", ""] + [f"- {_md(item)}" for item in items] + [""]
    if sweep:
        out += ["## Across runs", "", "```", _unfenced(sweep.rstrip("\n")), "```", ""]
    return "\n".join(out)


def render_json(reports: Iterable[Report], errors: Sequence[tuple[str, str]] = (),
                sweep: dict | None = None) -> str:
    """The stable JSON contract: ``{"runs": [...]}``, plus ``errors`` and ``sweep`` when present."""
    document: dict = {"runs": [r.to_dict() for r in reports]}
    if errors:
        document["errors"] = [{"source": s, "error": e} for s, e in errors]
    if sweep is not None:
        document["sweep"] = sweep
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
