"""Fakes and a licensed bot process for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from e2e_rig import (
    TRADER_A,
    TRADER_B,
    WALLET_A,
    WALLET_B,
    Bot,
    base_env,
    wait_for,
    write_config,
)

from lightspeed_cli.license.testing import RunningLicenseServer, run_license_server
from lightspeed_cli.sim.binance import FakeBinance
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid

MARKS = {"BTCUSDT": "60000", "ETHUSDT": "3000", "SOLUSDT": "150"}


@dataclass
class E2E:
    bot: Bot
    binance: FakeBinance
    bybit: FakeBybit
    license: RunningLicenseServer
    key: str

    def start_flat(self) -> None:
        """Both traders flat, the bot started and both baselined: changes from now are mirrored."""
        for trader in (TRADER_A, TRADER_B):
            self.binance.clear_positions(trader)
        self.bot.start()
        wait_for("baselined", lambda: self.bot.baselined(TRADER_A, TRADER_B))

    def bybit_size(self, symbol: str, side: str) -> Decimal:
        with self.bybit._lock:
            for p in self.bybit.ledger.open_positions():
                if p.symbol == symbol and p.side is not None and p.side.value == side:
                    return p.size
        return Decimal(0)


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[E2E]:
    with (
        FakeBinance.running() as binance,
        FakeBybit.running() as bybit,
        run_license_server(tmp_path / "license-server") as server,
    ):
        for symbol, price in MARKS.items():
            binance.set_mark_price(symbol, price)
        data_dir = tmp_path / "data"
        config = tmp_path / "config.toml"
        write_config(
            config,
            binance_url=binance.url,
            bybit_url=bybit.url,
            license_url=server.url,
            public_key=server.public_key,
            data_dir=data_dir,
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        bot = Bot(config, data_dir, base_env(tmp_path), logs)
        key = server.issue(seats=1, days=30)
        activated = bot.cli("license", "activate", key)
        assert activated.returncode == 0, activated.stdout + activated.stderr
        env = E2E(bot, binance, bybit, server, key)
        try:
            yield env
        finally:
            if bot.alive():
                bot.kill()


@dataclass
class HlE2E:
    bot: Bot
    hl: FakeHyperliquid
    bybit: FakeBybit

    def start_flat(self) -> None:
        """Both wallets flat, the bot started and both baselined from their books."""
        for wallet in (WALLET_A, WALLET_B):
            self.hl.set_positions(wallet, [])
        self.bot.start()
        wait_for("baselined", lambda: self.bot.baselined(WALLET_A, WALLET_B))
        wait_for("both wallets subscribed", lambda: len(set(self.hl.subscribes)) >= 2)

    def bybit_size(self, symbol: str, side: str) -> Decimal:
        with self.bybit._lock:
            for p in self.bybit.ledger.open_positions():
                if p.symbol == symbol and p.side is not None and p.side.value == side:
                    return p.size
        return Decimal(0)


@pytest.fixture
def hl_e2e(tmp_path: Path) -> Iterator[HlE2E]:
    """`lightspeed run` following two Hyperliquid wallets (both pushed) onto the fake Bybit."""
    with (
        FakeHyperliquid.running(idle_timeout=60) as hl,
        FakeBybit.running() as bybit,
        run_license_server(tmp_path / "license-server") as server,
    ):
        data_dir = tmp_path / "data"
        config = tmp_path / "config.toml"
        write_config(
            config,
            binance_url="http://127.0.0.1:9",
            bybit_url=bybit.url,
            license_url=server.url,
            public_key=server.public_key,
            data_dir=data_dir,
            traders=[
                {"id": WALLET_A, "source": "hyperliquid", "label": "hl-a"},
                {"id": WALLET_B, "source": "hyperliquid", "label": "hl-b"},
            ],
            hyperliquid={
                "info_url": hl.info_url,
                "ws_url": hl.ws_url,
                "ping_seconds": 1,
                "pong_seconds": 2,
            },
        )
        logs = tmp_path / "logs"
        logs.mkdir()
        bot = Bot(config, data_dir, base_env(tmp_path), logs)
        activated = bot.cli("license", "activate", server.issue(seats=1, days=30))
        assert activated.returncode == 0, activated.stdout + activated.stderr
        try:
            yield HlE2E(bot, hl, bybit)
        finally:
            if bot.alive():
                bot.kill()
