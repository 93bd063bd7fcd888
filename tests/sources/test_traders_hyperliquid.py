"""`lightspeed traders add|check` for a Hyperliquid wallet, against the fakes (from threads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from binance_helpers import CT_ID
from hyperliquid_helpers import WALLET
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.sim.binance import FakeBinance, FakePosition
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid, Fault, HlPosition


@pytest.fixture(scope="module")
def fake_bybit() -> Iterator[FakeBybit]:
    with FakeBybit.running() as fake:
        yield fake


@pytest.fixture
def fake_hl() -> Iterator[FakeHyperliquid]:
    with FakeHyperliquid.running() as fake:
        yield fake


@pytest.fixture
def config(
    fake_hl: FakeHyperliquid,
    threaded_fake: FakeBinance,
    fake_bybit: FakeBybit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[hyperliquid]\ninfo_url = "{fake_hl.info_url}"\nws_url = "{fake_hl.ws_url}"\n'
        f'[binance]\nbase_url = "{threaded_fake.url}"\n'
        f'[bybit]\nbase_url = "{fake_bybit.url}"\n'
        "[polling]\ntimeout_seconds = 1\nretries = 0\n"
    )
    monkeypatch.setenv("COLUMNS", "200")
    return path


def run(config: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--config", str(config), "traders", *args])


@pytest.mark.parametrize("source", [[], ["--source", "hyperliquid"]])
def test_add_recognises_a_wallet(config: Path, source: list[str]) -> None:
    result = run(config, "add", WALLET, "--label", "whale", *source)
    assert result.exit_code == 0, result.output
    assert f"{WALLET} (hyperliquid, whale)" in result.stdout
    listed = json.loads(run(config, "list", "--json").stdout)
    assert [(t["id"], t["source"]) for t in listed] == [(WALLET, "hyperliquid")]


def test_add_refuses_a_bad_wallet_for_the_hyperliquid_source(config: Path) -> None:
    result = run(config, "add", "0x1234", "--source", "hyperliquid")
    assert result.exit_code != 0 and "0x + 40 hex" in result.output


def test_check_json_has_both_symbols(config: Path, fake_hl: FakeHyperliquid) -> None:
    fake_hl.set_positions(
        WALLET,
        [
            HlPosition.long("BTC", "0.5", "60000", 20),
            HlPosition.short("kPEPE", "3000", "0.0102", 5),
            HlPosition.long("@107", "10", "30"),
        ],
    )
    result = run(config, "check", WALLET, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["trader"], record["source"], record["status"]) == (WALLET, "hyperliquid", "ok")
    btc, pepe, spot = record["positions"]
    assert btc == {
        "symbol": "BTC",
        "side": "long",
        "quantity": "0.5",
        "entry_price": "60000.0",
        "leverage": 20,
        "bybit_symbol": "BTCUSDT",
        "bybit_note": "",
    }
    assert (pepe["symbol"], pepe["side"], pepe["quantity"]) == ("kPEPE", "short", "3000.0")
    assert pepe["bybit_symbol"] == "1000PEPEUSDT"
    assert spot["symbol"] == "@107" and spot["bybit_symbol"] is None
    assert "spot" in spot["bybit_note"]


def test_check_table_shows_the_coin_and_the_bybit_market(
    config: Path, fake_hl: FakeHyperliquid
) -> None:
    fake_hl.set_positions(
        WALLET, [HlPosition.short("kPEPE", "3000", "0.0102", 5)], account_value="5000"
    )
    result = run(config, "check", WALLET)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "kPEPE" in line)
    assert "1000PEPEUSDT" in row and "short" in row and "5x" in row
    assert "Leader account value: 5000" in result.stdout


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.SERVER_NULL, Fault.MALFORMED])
def test_check_an_unreadable_wallet_exits_1(
    config: Path, fake_hl: FakeHyperliquid, fault: Fault
) -> None:
    fake_hl.inject(fault)
    result = run(config, "check", WALLET, "--json")
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["status"] == "error" and record["positions"] == [] and record["reason"]


def test_check_json_has_the_same_shape_for_binance(
    config: Path, threaded_fake: FakeBinance
) -> None:
    threaded_fake.set_positions(CT_ID, [FakePosition.long("BTCUSDT", "0.25", "60000", 20)])
    result = run(config, "check", CT_ID, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == {"trader", "source", "status", "reason", "positions"}
    assert record["source"] == "copytrade" and record["status"] == "ok"
    (btc,) = record["positions"]
    assert btc["symbol"] == "BTCUSDT" and btc["bybit_symbol"] == "BTCUSDT"
    assert (btc["side"], btc["quantity"], btc["entry_price"], btc["leverage"]) == (
        "long", "0.25", "60000", 20
    )  # fmt: skip
