"""The rule catalogue, generated from the registered rules (never written by hand)."""

from __future__ import annotations

from .base import CALIBRATION, RULES


def catalogue_text() -> str:
    """Plain-text catalogue for ``diagnose --list-rules``."""
    lines = []
    for r in RULES.values():
        lines.append(f"{r.name}  [{r.condition}]")
        lines.append(f"    {r.summary}")
        for name, opt in r.options.items():
            lines.append(f"    option {name} = {opt.default:g}")
    return "\n".join(lines) + "\n"


def catalogue_markdown() -> str:
    """Markdown catalogue for docs/rules.md (regenerate with scripts/generate_rule_docs.py)."""
    out = [
        "# Rule catalogue",
        "",
        "Generated from the rules in `diagnose/rules/` by `scripts/generate_rule_docs.py`;",
        "do not edit by hand. Override an option with",
        "`diagnose(..., rules={\"<rule>\": {\"<option>\": value}})`; select or ignore rules",
        "with `--select` / `--ignore` (CLI) or `select=` / `ignore=` (Python).",
        "",
        "The *chosen on* column says which data each default was set on. " + CALIBRATION,
        "The held-out families are reported by `benchmarks/accuracy.py`.",
        "",
        "| rule | condition | what it detects |",
        "|---|---|---|",
    ]
    out += [f"| [`{r.name}`](#{r.name}) | `{r.condition}` | {r.summary} |" for r in RULES.values()]
    for r in RULES.values():
        out += ["", f"## {r.name}", "", f"**Condition:** `{r.condition}`", "",
                f"**What it detects:** {r.summary}", "", f"**Why it matters:** {r.why}"]
        if r.options:
            out += ["", "**Options:**", "", "| option | default | meaning | chosen on |",
                    "|---|---|---|---|"]
            out += [f"| `{n}` | {o.default:g} | {o.doc} | {o.chosen_on} |"
                    for n, o in r.options.items()]
    return "\n".join(out) + "\n"

