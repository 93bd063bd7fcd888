"""`run` and `status` say which network, paper or live, and which account (issue 21)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Cli

from lightspeed_cli.journal.store import Journal

TRADER = "4000000000000000001"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    path = tmp_path / "config.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{data}"\n[bybit]\nnetwork = "testnet"\n'
        f'[[traders]]\nid = "{TRADER}"\n',
        encoding="utf-8",
    )
    for name in ("journal.sqlite3", "paper-journal.sqlite3"):
        Journal(data / name).close()
    return path


def test_status_says_network_mode_and_account(cli: Cli, config: Path) -> None:
    run = cli("--config", str(config), "status")
    assert run.exit_code == 0, run.output
    flat = " ".join(run.stdout.split())
    assert "trading on" in flat and "Bybit TESTNET, LIVE (real orders)" in flat
    paper = " ".join(cli("--config", str(config), "status", "--paper").stdout.split())
    assert "Bybit TESTNET, PAPER" in paper


def test_status_json_has_the_target(cli: Cli, config: Path) -> None:
    data = json.loads(cli("--config", str(config), "status", "--json").stdout)
    assert data["trading"] == {
        "network": "testnet",
        "mode": "live",
        "account": "one-way, cross margin",
    }
    paper = json.loads(cli("--config", str(config), "status", "--paper", "--json").stdout)
    assert paper["trading"]["mode"] == "paper"


def test_run_says_it_first(tmp_path: Path) -> None:
    """Before anything can fail (here: Bybit unreachable), the first line says where."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[[traders]]\nid = "{TRADER}"\n'
        '[bybit]\nbase_url = "http://127.0.0.1:9"\n[binance]\nbase_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "-c", str(cfg), "run", "--paper", "--no-live"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    first = done.stdout.splitlines()[0]
    assert first.startswith("Trading on Bybit MAINNET, PAPER"), done.stdout + done.stderr
    assert "endpoint 127.0.0.1:9" in first
