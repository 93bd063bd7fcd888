"""`lightspeed doctor` against the real fake Binance and fake Bybit: what counts as a FAIL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.sim.binance import FakeBinance
from lightspeed_cli.sim.bybit import FakeBybit

PORTFOLIO = "3803470589839557376"
UID = "0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeBinance, FakeBybit]]:
    with FakeBinance.running() as binance, FakeBybit.running() as bybit:
        yield binance, bybit


def _config(tmp_path: Path, binance_url: str, bybit_url: str, traders: list[dict]) -> Path:
    path = tmp_path / "config.toml"
    doc = {
        "binance": {"base_url": binance_url},
        "bybit": {"base_url": bybit_url},
        "polling": {"timeout_seconds": 3, "retries": 0},
        "storage": {"data_dir": str(tmp_path / "data")},
        "traders": traders,
    }
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return path


def _doctor(config: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = CliRunner().invoke(app, ["doctor", "--json", *args, "--config", str(config)])
    data = json.loads(result.stdout)
    assert data["ok"] is (result.exit_code == 0)
    return result.exit_code, {c["name"]: c for c in data["checks"]}


def test_leaderboard_trader_without_a_binance_session_fails(
    fakes: tuple[FakeBinance, FakeBybit], tmp_path: Path
) -> None:
    binance, bybit = fakes
    config = _config(tmp_path, binance.url, bybit.url, [{"id": UID, "source": "leaderboard"}])
    code, checks = _doctor(config, "--paper")
    assert code == 1
    session = checks["secret binance_session"]
    assert session["ok"] is False and UID in session["detail"]
    assert "keys set binance-session" in session["detail"]


def test_copytrade_only_needs_no_session_and_paper_needs_no_keys_or_license(
    fakes: tuple[FakeBinance, FakeBybit], tmp_path: Path
) -> None:
    binance, bybit = fakes
    binance.set_positions(PORTFOLIO, [])  # shared, and flat
    config = _config(tmp_path, binance.url, bybit.url, [{"id": PORTFOLIO}])
    code, checks = _doctor(config, "--paper")
    assert code == 0, checks
    assert set(checks) == {
        "config",
        "Binance reachable",
        "Bybit reachable",
        "data dir",
        "free space",
        "journal",
    }
    assert f"trader {PORTFOLIO} read" in checks["Binance reachable"]["detail"]
    code, checks = _doctor(config)  # live: Bybit keys and the license are missing
    assert code == 1
    failed = {name for name, c in checks.items() if not c["ok"]}
    assert failed == {"secret bybit_api_key", "secret bybit_api_secret", "license"}
    assert "clock skew vs Bybit" in checks


def test_an_http_404_is_not_reachable(fakes: tuple[FakeBinance, FakeBybit], tmp_path: Path) -> None:
    binance, bybit = fakes
    wrong = f"{binance.url}/not-binance"
    with_trader = _config(tmp_path, wrong, bybit.url, [{"id": PORTFOLIO}])
    code, checks = _doctor(with_trader, "--paper")
    assert code == 1 and checks["Binance reachable"]["ok"] is False
    assert "404" in checks["Binance reachable"]["detail"]
    no_traders = _config(tmp_path, wrong, bybit.url, [])  # a plain GET of the base URL
    code, checks = _doctor(no_traders, "--paper")
    assert code == 1
    assert checks["Binance reachable"] == {
        "name": "Binance reachable",
        "ok": False,
        "detail": f"{wrong}: HTTP 404",
    }
