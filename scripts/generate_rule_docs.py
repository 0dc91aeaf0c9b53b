"""Regenerate docs/rules.md from the registered rules (tests fail when it is stale).

    python scripts/generate_rule_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from diagnose.rules import catalogue_markdown  # noqa: E402

TARGET = ROOT / "docs" / "rules.md"

if __name__ == "__main__":
    TARGET.write_text(catalogue_markdown(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
