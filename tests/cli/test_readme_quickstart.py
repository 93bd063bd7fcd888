"""The README's two set-up commands, and CI running exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no bash block under Quick start"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    install_and_run, tests = quick_start_commands()
    assert install_and_run == "pipx install . && lightspeed simulate"
    assert tests == "bash scripts/test.sh"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert quick_start_commands()[1] in ci


def test_readme_has_the_user_sections() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    for heading in ("Quick start", "Configuration", "Secrets", "Security"):
        assert heading in headings
    assert any(h.startswith("Running under systemd") for h in headings)
    assert any(h.startswith("License") for h in headings)
