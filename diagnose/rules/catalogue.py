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


def catalogue_markdown(cure_rates: dict | None = None) -> str:
    """Markdown catalogue for docs/rules.md (regenerate with scripts/generate_rule_docs.py).

    ``cure_rates``: the summary ``benchmarks/fixes.py --save`` writes
    (docs/cure_rates.json); when given, the catalogue ends with each fix's
    measured cure rate.
    """
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
    if cure_rates:
        out += ["", *_cure_rate_section(cure_rates)]
    return "\n".join(out) + "\n"


def _cure_rate_section(s: dict) -> list[str]:
    """Each first fix's measured cure rate (docs/fixes.md says what the actions change)."""
    out = ["## Fixes: how often they cure", "",
           f"Measured by `benchmarks/fixes.py` on {s['runs']} faulty runs of the corpus's "
           f"{'held-out' if s['split'] == 'heldout' else s['split']} families, which no fix size "
           "was chosen on: the report's first fix applied alone, the run retrained from "
           "the same seed and initial weights, and judged cured when its outcome meets the healthy "
           "criteria against the healthy twin (never by this tool's verdict). *2 rounds*: all "
           "automatic fixes and the first manual one, then the fixes of the new report when it "
           "is still faulty (manual fixes carried out as their text says). What each "
           "action changes is in [fixes.md](fixes.md).", "",
           "| first fix | automatic | runs | cured by it alone | cured in 2 rounds | made worse |",
           "|---|---|---|---|---|---|"]
    for action, r in sorted(s["by_action"].items(), key=lambda kv: -kv[1]["runs"]):
        n = r["runs"]
        name = action if action.startswith("(") else f"`{action}`"
        out.append(f"| {name} | {'yes' if r['automatic'] else 'no'} | {n} | "
                   f"{_share(r['cured_alone'], n)} | {_share(r['cured_2_rounds'], n)} | "
                   f"{_share(r['worse_alone'], n)} |")
    return out


def _share(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / n:.0f}%)"

