"""Regenerate docs/rules.md from the registered rules (tests fail when it is stale).

    python scripts/generate_rule_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from diagnose.rules import catalogue_markdown  # noqa: E402

TARGET = ROOT / "docs" / "rules.md"
CURE_RATES = ROOT / "docs" / "cure_rates.json"  # python benchmarks/fixes.py --save ...


def render() -> str:
    rates = json.loads(CURE_RATES.read_text(encoding="utf-8")) if CURE_RATES.exists() else None
    return catalogue_markdown(rates)


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
