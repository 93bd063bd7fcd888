"""The scenario driver's leaders on the fake Hyperliquid: a step's books become fills.

`scenario.Driver` plays books (what a Binance poll would answer from then on); a Hyperliquid
wallet does not jump to a book, it trades: each coin whose size changes gets ONE fill from the
size it holds to the size the step gives (a long -> short flip is one fill across zero, as
Hyperliquid's "Long > Short"), at the coin's mark, pushed to the bot's socket. The driver's
"the bot saw it" is a push that left on the socket, or a clearinghouseState read of the wallet.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lightspeed_cli.decisions.symbols import hyperliquid_coin
from lightspeed_cli.sim.binance import FakePosition
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid, InfoRequest

STATE = "clearinghouseState"


class HyperliquidLeaders:
    """What the driver asks of a leader fake (FakeBinance's names), over FakeHyperliquid."""

    warmup_rounds = 1  # a pushed wallet's book is read once at the start, not every poll

    def __init__(self, fake: FakeHyperliquid) -> None:
        self.fake = fake

    @property
    def url(self) -> str:
        return self.fake.url

    def set_mark_price(self, symbol: str, price: Decimal) -> None:
        self.fake.set_mark(hyperliquid_coin(symbol), price)

    def clear_positions(self, trader: str) -> None:
        self.fake.set_positions(trader, [])

    def set_positions(self, trader: str, positions: Iterable[FakePosition]) -> None:
        """Trade the wallet to this one-way book: one fill per coin that changes."""
        target = {hyperliquid_coin(p.symbol): p for p in positions}
        held = {coin: p.szi for coin, p in self.fake.positions(trader).items()}
        for coin in sorted(set(target) | set(held)):
            want = target[coin].amount if coin in target else Decimal(0)
            delta = want - held.get(coin, Decimal(0))
            if delta == 0:
                continue
            if coin in target:
                self.fake.set_leverage(trader, coin, target[coin].leverage)
            self.fake.fill(trader, coin, "B" if delta > 0 else "A", abs(delta))

    def position_reads(self, trader: str) -> int:
        """What the bot has seen of the wallet so far: its pushes sent and its book reads."""
        user = trader.lower()
        reads = sum(1 for r in self.fake.requests(STATE) if r.user == user)
        return reads + self.fake.pushes_sent(user)

    def clear_log(self) -> None:
        self.fake.clear_log()

    def requests(self, **_: Any) -> list[InfoRequest]:
        """Every /info request (the report's busiest second)."""
        return self.fake.requests()
