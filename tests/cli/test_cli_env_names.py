"""A LIGHTSPEED_* variable that means nothing is an error naming it (issue 21, item 2).

Misspelt, it used to be ignored: `LIGHTSPEED_SAFTEY__MAX_LEVERAGE=5` passed `config validate`
and leverage stayed 20.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Cli, assert_one_line_error

from lightspeed_cli.config.envcheck import exact_names, setting_names
from lightspeed_cli.config.settings import Settings

SRC = Path(__file__).resolve().parents[2]
TRADER = "4000000000000000001"
TYPOS = {"LIGHTSPEED_SAFTEY__MAX_LEVERAGE", "LIGHTSPEED_SAFETY_MAX_LEVERAGE"}


def write(cfg: Path, text: str = "") -> Path:
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("LIGHTSPEED_SAFTEY__MAX_LEVERAGE", "LIGHTSPEED_SAFETY__MAX_LEVERAGE"),  # section typo
        ("LIGHTSPEED_SAFETY_MAX_LEVERAGE", "LIGHTSPEED_SAFETY__MAX_LEVERAGE"),  # one underscore
        ("LIGHTSPEED_SAFETY__MAX_LEVRAGE", "LIGHTSPEED_SAFETY__MAX_LEVERAGE"),  # key typo
        ("LIGHTSPEED_BYBIT_API_SECERT", "LIGHTSPEED_BYBIT_API_SECRET"),  # a secret's name
        ("lightspeed_bybit_api_key", "LIGHTSPEED_BYBIT_API_KEY"),  # secrets are read as spelt
        ("LIGHTSPEED_CONFIGG", "LIGHTSPEED_CONFIG"),
    ],
)
def test_validate_names_the_variable_and_what_was_meant(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch, name: str, meant: str
) -> None:
    write(cfg)
    monkeypatch.setenv(name, "5")
    run = cli("--config", str(cfg), "config", "validate")
    assert_one_line_error(run, name, f"did you mean {meant}?")


def test_a_name_near_nothing_says_how_settings_are_spelt(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(cfg)
    monkeypatch.setenv("LIGHTSPEED_FOO", "1")
    run = cli("--config", str(cfg), "config", "validate")
    assert_one_line_error(run, "LIGHTSPEED_FOO", "LIGHTSPEED_SECTION__KEY")
    assert "did you mean" not in run.stderr


def test_every_unknown_variable_is_listed(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(cfg)
    monkeypatch.setenv("LIGHTSPEED_SAFTEY__MAX_LEVERAGE", "5")
    monkeypatch.setenv("LIGHTSPEED_SAFETY_MAX_LEVERAGE", "5")
    run = cli("--config", str(cfg), "config", "validate")
    assert run.exit_code == 2
    assert "LIGHTSPEED_SAFTEY__MAX_LEVERAGE" in run.stderr
    assert "LIGHTSPEED_SAFETY_MAX_LEVERAGE" in run.stderr


def test_known_names_pass_in_any_case_for_settings(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(cfg)
    for name, value in {
        "LIGHTSPEED_SAFETY__MAX_LEVERAGE": "5",
        "lightspeed_copy__follow_existing": "true",  # pydantic-settings reads any case
        "LIGHTSPEED_CONFIG": str(cfg),
        "LIGHTSPEED_BYBIT_API_KEY": "k",
        "LIGHTSPEED_MACHINE_ID_FILE": "/nonexistent",
        "LIGHTSPEED_LOGGING": '{"level": "DEBUG"}',  # a whole section as JSON
    }.items():
        monkeypatch.setenv(name, value)
    run = cli("config", "validate")
    assert run.exit_code == 0, run.output
    assert cli("config", "get", "safety.max_leverage").stdout == "5\n"


def test_run_refuses_it_before_anything_starts(tmp_path: Path) -> None:
    """As the service starts it: `lightspeed run` in its own process, exit 2 (no restart)."""
    data = tmp_path / "data"
    cfg = write(
        tmp_path / "config.toml",
        f'[storage]\ndata_dir = "{data}"\n[[traders]]\nid = "{TRADER}"\n',
    )
    done = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "run", "--paper", "--no-live", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "LIGHTSPEED_SAFTEY__MAX_LEVERAGE": "5",
        },
    )
    assert done.returncode == 2, done.stderr
    assert "LIGHTSPEED_SAFTEY__MAX_LEVERAGE" in done.stderr
    assert "did you mean LIGHTSPEED_SAFETY__MAX_LEVERAGE" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (data / "paper-journal.sqlite3").exists()


def test_every_variable_the_code_reads_is_known() -> None:
    """Each LIGHTSPEED_* name spelt out in the package or its scripts passes the check."""
    known = setting_names(Settings) | exact_names()
    sources = [*(SRC / "src").rglob("*.py"), *(SRC / "scripts").glob("*"), SRC / "README.md"]
    seen = set()
    for path in sources:
        if path.is_file():
            seen |= set(re.findall(r"LIGHTSPEED_[A-Z0-9_]*[A-Z0-9]", path.read_text("utf-8")))
    unknown = {n for n in seen if n not in known and n.upper() not in known}
    # the check's own hint (LIGHTSPEED_SECTION__KEY) and the typos its docstrings quote
    assert unknown <= {"LIGHTSPEED_SECTION", "LIGHTSPEED_SECTION__KEY", *TYPOS}, unknown
