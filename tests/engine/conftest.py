"""Both fakes plus the real source and broker, wired into one engine on the test's loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_rig import TRADER_A, TRADER_B

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.engine.loop import Engine
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sim.binance import FakeBinance
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.engines import engine_against_fakes, steered_against_fakes
from lightspeed_cli.steering.wiring import Steering


def engine_settings(binance_url: str, bybit: FakeBybit, data_dir: Path, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "traders": [
            {"id": TRADER_A, "source": "copytrade", "label": "alpha"},
            {"id": TRADER_B, "source": "copytrade", "label": "beta"},
        ],
        "binance": {"base_url": binance_url},
        "bybit": bybit.settings().model_dump(),
        "sizing": {"mode": "ratio", "value": "0.1"},
        "safety": {"max_position_notional_usdt": "50000", "max_total_notional_usdt": "200000"},
        "polling": {"interval_seconds": 0.2, "timeout_seconds": 2.0, "retries": 0},
        "storage": {"data_dir": str(data_dir)},
    }
    for section, values in extra.items():
        data[section] = values if isinstance(values, list) else {**data.get(section, {}), **values}
    return Settings(**data)


@pytest.fixture
def fake_bybit() -> Iterator[FakeBybit]:
    with FakeBybit.running() as fake:
        yield fake


@pytest.fixture
async def fake_binance() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as fake:
        for symbol, price in (("BTCUSDT", "60000"), ("ETHUSDT", "3000"), ("SOLUSDT", "150")):
            fake.set_mark_price(symbol, Decimal(price))
        yield fake


class Rig:
    """An engine plus handles on everything around it."""

    def __init__(
        self,
        engine: Engine,
        binance: FakeBinance,
        bybit: FakeBybit,
        steering: Steering | None = None,
    ) -> None:
        self.engine = engine
        self.binance = binance
        self.bybit = bybit
        self._steering = steering

    def steer(self) -> Steering:
        """The control door and stops the engine was built with (`make_rig(steered=True)`),
        and Telegram when its token and chat are set now: as `lightspeed run` wires them."""
        assert self._steering is not None, "make_rig(steered=True)"
        engine = self.engine
        self._steering.add_telegram(
            engine.settings,
            journal=engine.journal,
            positions=engine.broker.positions,
            notifier=engine.notifier,
        )
        return self._steering

    async def poll(self, trader: str = TRADER_A) -> None:
        settings = self.engine.settings.trader(trader)
        assert settings is not None
        await self.engine.poll_trader(settings)

    async def poll_flat(self, *traders: str) -> None:
        """The traders (default A) hold nothing now; poll each (a baseline, or a close)."""
        for trader in traders or (TRADER_A,):
            self.binance.clear_positions(trader)
            await self.poll(trader)

    def bybit_size(self, symbol: str, side: str = "long") -> Decimal:
        for p in self.bybit.ledger.open_positions():
            if p.symbol == symbol and p.side is not None and p.side.value == side:
                return p.size
        return Decimal(0)


@pytest.fixture
async def make_rig(
    tmp_path: Path, fake_binance: FakeBinance, fake_bybit: FakeBybit
) -> AsyncIterator[Any]:
    made: list[tuple[Engine, Journal]] = []

    async def make(bybit: FakeBybit | None = None, *, steered: bool = False, **extra: Any) -> Rig:
        bybit = bybit or fake_bybit
        settings = engine_settings(fake_binance.url, bybit, tmp_path / "data", **extra)
        journal = Journal.in_dir(settings.storage.resolved_data_dir())
        steering = None
        if steered:
            engine, steering = steered_against_fakes(settings, journal)
        else:
            engine = engine_against_fakes(settings, journal)
        await engine.start()
        made.append((engine, journal))
        return Rig(engine, fake_binance, bybit, steering)

    yield make
    for engine, journal in made:
        if engine.leaders is not None:
            await engine.leaders.idle()
        await engine.source.aclose()
        await engine.broker.aclose()
        journal.close()
