"""`lightspeed traders check ID` against the fake Binance (served from a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from binance_helpers import CT_ID, LB_ID, SESSION_JSON
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.sim.binance import FakeBinance, FakePosition, Fault
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sources.errors import SESSION_NEEDED


@pytest.fixture(scope="module")
def fake_bybit() -> Iterator[FakeBybit]:
    with FakeBybit.running() as fake:
        yield fake


@pytest.fixture
def check(
    threaded_fake: FakeBinance,
    fake_bybit: FakeBybit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[binance]\nbase_url = "{threaded_fake.url}"\nleaderboard_api = "v2-private"\n'
        f'[bybit]\nbase_url = "{fake_bybit.url}"\n'
        "[polling]\ntimeout_seconds = 1\nretries = 0\n"
        f'[[traders]]\nid = "{CT_ID}"\nsource = "copytrade"\nlabel = "Whale"\n'
    )
    monkeypatch.setenv("LIGHTSPEED_BINANCE_SESSION", SESSION_JSON)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(trader_id: str):
        return runner.invoke(app, ["--config", str(config), "traders", "check", trader_id])

    return run


def test_prints_the_positions_as_a_table(threaded_fake: FakeBinance, check) -> None:
    threaded_fake.set_positions(
        CT_ID,
        [
            FakePosition.long("BTCUSDT", "0.25", "60000", 20),
            FakePosition.short("ETHUSDT", "1.5", "3000", 10),
        ],
    )
    threaded_fake.set_mark_price("BTCUSDT", "60400")
    result = check(CT_ID)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{CT_ID} (copytrade, Whale): 2 open position(s)" in out.replace("\n", " ")
    btc = next(line for line in out.splitlines() if "BTCUSDT" in line)
    for cell in ("long", "0.25", "60000", "60400", "20x", "100"):
        assert cell in btc, (cell, btc)
    eth = next(line for line in out.splitlines() if "ETHUSDT" in line)
    assert "short" in eth and "1.5" in eth and "10x" in eth


def test_unconfigured_leaderboard_id_is_recognised_by_its_shape(
    threaded_fake: FakeBinance, check
) -> None:
    threaded_fake.set_positions(LB_ID, [])
    result = check(LB_ID)
    assert result.exit_code == 0, result.output
    assert f"{LB_ID} (leaderboard): no open positions (flat)" in result.stdout
    (request,) = threaded_fake.requests(LB_ID)
    assert "leaderboard" in request.path


def test_hidden_positions_exit_1_with_the_reason(threaded_fake: FakeBinance, check) -> None:
    threaded_fake.hide(CT_ID)
    result = check(CT_ID)
    assert result.exit_code == 1
    assert "hides its positions" in result.stderr and "not shared" in result.stderr


def test_an_error_exits_1_with_the_exact_reason(threaded_fake: FakeBinance, check) -> None:
    threaded_fake.inject(Fault.SERVER_ERROR)
    result = check(CT_ID)
    assert result.exit_code == 1 and "Binance server error: HTTP 500" in result.stderr
    assert "Traceback" not in result.output


def test_missing_session_is_named(
    threaded_fake: FakeBinance, check, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LIGHTSPEED_BINANCE_SESSION")
    result = check(LB_ID)
    assert result.exit_code == 1
    assert SESSION_NEEDED in " ".join(result.stderr.split())
    assert threaded_fake.request_count() == 0


def test_an_id_of_no_known_shape_is_a_usage_error(check) -> None:
    result = check("not-a-trader")
    assert result.exit_code == 2 and "encryptedUid" in result.stderr


def test_shows_the_bybit_market_each_position_maps_to(threaded_fake: FakeBinance, check) -> None:
    threaded_fake.set_positions(
        CT_ID,
        [
            FakePosition.long("BTCUSDT", "0.25", "60000"),
            FakePosition.short("1000SHIBUSDT", "400000", "0.025"),
            FakePosition.long("WIFUSDT", "100", "2.5"),
        ],
    )
    result = check(CT_ID)
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if "USDT" in line}
    assert "BTCUSDT" in rows["BTCUSDT"].split("│")[-2]
    assert "SHIB1000USDT" in rows["1000SHIBUSDT"]
    assert "none: no Bybit market for WIFUSDT" in rows["WIFUSDT"]
