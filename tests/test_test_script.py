"""scripts/test.sh: the README's test command runs in a project venv, never the system python."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")


def test_it_creates_the_project_venv_with_python3() -> None:
    assert 'VENV="${LIGHTSPEED_VENV:-.venv}"' in SCRIPT
    assert 'python3 -m venv "$VENV"' in SCRIPT
    # no ensurepip (Debian without python3-venv): a clear fallback, then a clear message
    assert "--without-pip --system-site-packages" in SCRIPT
    assert "apt install python3-venv" in SCRIPT
    assert ".venv/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_install_lint_and_tests_all_use_the_venv_python() -> None:
    calls = [
        line.strip() for line in SCRIPT.splitlines() if re.search(r"-m (pip|ruff|pytest)", line)
    ]
    assert calls, SCRIPT
    for line in calls:
        if "--version" in line:  # the venv's health check
            continue
        assert line.startswith('"$PY" -m '), line
    assert not re.search(r"^\s*python3 -m (pip|ruff|pytest)", SCRIPT, re.M)


def test_it_says_what_it_is_doing_before_each_long_step() -> None:
    said = re.findall(r'^\s*say "([^"]+)"', SCRIPT, re.M)
    assert any(s.startswith("installing") for s in said)
    assert any(s.startswith("creating the project venv") for s in said)
    assert "ruff check" in said and "pytest" in said


def test_ci_still_calls_it_unchanged() -> None:
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
