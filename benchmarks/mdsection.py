"""Replace one "## " section of BENCHMARKS.md, or append it; other sections stay as they are."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
PREAMBLE = "# Benchmarks\n\nEach section: the exact command, the core count and the date.\n"


def write_section(heading: str, text: str, path: Path = BENCHMARKS_MD) -> None:
    """`text` starts with `heading` (e.g. "## Engine") and holds no other "## " line."""
    current = path.read_text(encoding="utf-8") if path.exists() else PREAMBLE
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")
