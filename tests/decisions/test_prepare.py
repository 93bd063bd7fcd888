"""Which symbols get their leverage set ahead of time, and at what leverage (prepare.py)."""

from __future__ import annotations

from decision_builders import market, pos

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.leverage_ahead import wanted

SYMBOLS = SymbolMap.from_markets([market("BTCUSDT"), market("ETHUSDT")])
TRADER = TraderSettings(id="4000000000001")


def test_each_held_symbol_at_the_leverage_an_open_would_use() -> None:
    settings = Settings(safety={"max_leverage": 20})
    positions = [pos("BTCUSDT", leverage=10), pos("ETHUSDT", leverage=50)]
    # the trader's own leverage, clamped by safety.max_leverage as decide() does
    assert wanted(settings, SYMBOLS, TRADER, positions, set(), set()) == [
        ("BTCUSDT", 10),
        ("ETHUSDT", 20),
    ]


def test_sizing_leverage_wins_over_the_traders() -> None:
    settings = Settings(sizing={"leverage": 3})
    assert wanted(settings, SYMBOLS, TRADER, [pos("BTCUSDT", leverage=10)], set(), set()) == [
        ("BTCUSDT", 3)
    ]


def test_done_held_and_unmapped_symbols_are_left_alone() -> None:
    settings = Settings()
    positions = [pos("BTCUSDT"), pos("ETHUSDT"), pos("WIFUSDT")]
    done = {("BTCUSDT", 10)}
    # ETH is held by the follower: changing its leverage would touch a live position
    assert wanted(settings, SYMBOLS, TRADER, positions, done, {"ETHUSDT"}) == []
    # the same position twice (both sides of a hedge book) is one request
    twice = [pos("ETHUSDT"), pos("ETHUSDT")]
    assert wanted(settings, SYMBOLS, TRADER, twice, set(), set()) == [("ETHUSDT", 10)]
