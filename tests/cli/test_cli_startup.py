"""The installed `lightspeed` command as a user runs it, and what it imports at startup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("ccxt",)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def lightspeed() -> str:
    """The console script next to this interpreter (the one `pip install` put on PATH)."""
    script = Path(sys.executable).with_name("lightspeed")
    return str(script) if script.exists() else "lightspeed"


def test_help_as_a_subprocess() -> None:
    result = run(lightspeed(), "--help")
    assert result.returncode == 0, result.stderr
    for command in ("config", "keys", "traders", "license", "run", "simulate"):
        assert command in result.stdout


def test_bad_config_as_a_subprocess(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[safety]\nmax_leverage = -3\n", encoding="utf-8")
    result = run(lightspeed(), "--config", str(cfg), "config", "validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{cfg}: safety.max_leverage:" in result.stderr


IMPORT_CHECK = """
import sys
from lightspeed_cli.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["config", "show"], ["config", "validate"], ["keys", "status"]],
)
def test_cli_never_imports_ccxt(argv: list[str], tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[safety]\nmax_leverage = 3\n", encoding="utf-8")
    code = IMPORT_CHECK.format(heavy=HEAVY)
    result = run(sys.executable, "-c", code, *argv, env={"LIGHTSPEED_CONFIG": str(cfg)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("HEAVY:"), result.stdout[-300:]


def test_import_of_the_cli_package_is_light() -> None:
    code = "import sys, lightspeed_cli.cli; print(sorted(m for m in {h!r} if m in sys.modules))"
    result = run(sys.executable, "-c", code.format(h=HEAVY))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_help_skips_the_config_stack() -> None:
    """`--help` needs none of pydantic-settings, tomlkit or keyring (~0.3 s together)."""
    lazy = ("pydantic_settings", "tomlkit", "keyring", "lightspeed_cli.config.settings")
    code = IMPORT_CHECK.format(heavy=lazy)
    result = run(sys.executable, "-c", code, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("HEAVY:"), result.stdout[-300:]
