"""The real engine wired to the fakes: real ccxt broker and httpx source, the fake's test keys.

One builder for the engine tests and the benchmarks that drive `Engine` in-process.
"""

from __future__ import annotations

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.engine.loop import Engine
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.runner import assemble
from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET
from lightspeed_cli.sources.binance import BinanceSource
from lightspeed_cli.steering.wiring import Steering


def engine_against_fakes(settings: Settings, journal: Journal) -> Engine:
    """An Engine whose settings already point at the fake Binance and fake Bybit."""
    return Engine(
        settings,
        broker=BybitBroker(settings.bybit, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET),
        source=BinanceSource(settings.binance, settings.polling),
        journal=journal,
    )


def steered_against_fakes(settings: Settings, journal: Journal) -> tuple[Engine, Steering]:
    """The engine as `lightspeed run` assembles it (the control door and protective stops
    handed in), against the fakes; Telegram is `steering.add_telegram`'s."""
    return assemble(
        settings,
        broker=BybitBroker(settings.bybit, api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET),
        source=BinanceSource(settings.binance, settings.polling),
        journal=journal,
        journal_path=journal.path,
    )
