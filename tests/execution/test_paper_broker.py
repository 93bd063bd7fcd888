"""PaperBroker: same answers as Bybit (the fake) for the same script, and a persistent account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from exec_helpers import FAST_RETRY, BrokerFactory, make_intent

from lightspeed_cli.config.choices import AccountMode
from lightspeed_cli.execution.base import BrokerError, ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.paper import PaperBroker
from lightspeed_cli.models import FollowerPosition, OrderIntent, Side
from lightspeed_cli.sim.bybit import FakeBybit

L, S = Side.LONG, Side.SHORT
# (price changes to apply first, intent)
Step = tuple[dict[str, str], OrderIntent]


def script() -> list[Step]:
    i = make_intent
    steps: list[Step] = [
        ({}, i("p01", qty="0.02")),
        ({"BTCUSDT": "61000"}, i("p02", qty="0.01")),
        ({}, i("p03", symbol="ETHUSDT", side=S, qty="1.5", leverage=20)),
        ({"BTCUSDT": "59000"}, i("p04", qty="0.015", reduce=True)),
        ({"ETHUSDT": "2900"}, i("p05", symbol="ETHUSDT", side=S, qty="5", reduce=True)),
        ({}, i("p06", symbol="ETHUSDT", side=S, qty="1", reduce=True)),  # already flat
        ({}, i("p07", symbol="DOGEUSDT", qty="10")),  # notional below 5 USDT
        ({}, i("p08", symbol="1000PEPEUSDT", qty="1000050", leverage=3)),
        ({}, i("p09", symbol="SOLUSDT", qty="5000", leverage=2)),  # insufficient funds
        ({"BTCUSDT": "60500"}, i("p10", side=L, qty="0.015", reduce=True)),  # flip: close ...
        ({}, i("p11", side=S, qty="0.03")),  # ... then open short
        # one-way: one order flips the short to a long; hedge: a long beside the short
        ({"BTCUSDT": "60000"}, i("p12", side=L, qty="0.05")),
    ]
    return steps


def summary(r: ExecutionResult) -> tuple[Any, ...]:
    f = r.fill
    return (r.outcome, f and (f.symbol, f.order_side, f.quantity, f.price, f.fee, f.status))


def pos_summary(ps: list[FollowerPosition]) -> list[tuple[Any, ...]]:
    return sorted(
        (p.symbol, p.side, p.size, p.entry_price, p.mark_price, p.leverage, p.unrealized_pnl)
        for p in ps
    )


PaperFactory = Callable[..., PaperBroker]


@pytest.fixture
async def make_paper() -> AsyncIterator[PaperFactory]:
    made: list[PaperBroker] = []

    def factory(fake: FakeBybit, state_path: Path | None = None, **settings: Any) -> PaperBroker:
        broker = PaperBroker(
            fake.settings(**settings),
            starting_equity_usdt=D(10_000),
            state_path=state_path,
            retry=FAST_RETRY,
        )
        made.append(broker)
        return broker

    yield factory
    for broker in made:
        await broker.aclose()


@pytest.mark.parametrize("hedge", [False, True], ids=["one-way", "hedge"])
async def test_paper_matches_bybit_for_the_same_script(
    make_broker: BrokerFactory, make_paper: PaperFactory, hedge: bool
) -> None:
    with FakeBybit.running(hedge_mode=hedge) as exchange, FakeBybit.running() as prices:
        real = make_broker(exchange)
        paper = make_paper(prices, account_mode=exchange.settings().account_mode)
        await real.start()
        await paper.start()
        assert paper.markets == real.markets and paper.hedge_mode == real.hedge_mode
        for changes, intent in script():
            for symbol, price in changes.items():
                exchange.set_price(symbol, price)
                prices.set_price(symbol, price)
            got_real, got_paper = await real.execute(intent), await paper.execute(intent)
            assert summary(got_paper) == summary(got_real), intent.client_order_id
        assert pos_summary(await paper.positions()) == pos_summary(await real.positions())
        assert await paper.equity_usdt() == await real.equity_usdt()
        expected = {(p.symbol, p.side) for p in await real.positions()}
        if hedge:
            assert expected == {("BTCUSDT", L), ("BTCUSDT", S), ("1000PEPEUSDT", L)}
        else:
            assert expected == {("BTCUSDT", L), ("1000PEPEUSDT", L)}
        private = [r.path for r in prices.requests if not r.path.startswith("/v5/market/")]
        assert private == []  # paper uses public endpoints only: no keys


async def test_paper_outcomes_cover_every_kind(make_paper: PaperFactory) -> None:
    with FakeBybit.running() as prices:
        paper = make_paper(prices)
        await paper.start()
        seen = set()
        for changes, intent in script():
            for symbol, price in changes.items():
                prices.set_price(symbol, price)
            seen.add((await paper.execute(intent)).outcome)
    assert seen == {
        ExecutionOutcome.FILLED,
        ExecutionOutcome.ALREADY_FLAT,
        ExecutionOutcome.REJECTED,
        ExecutionOutcome.INSUFFICIENT_FUNDS,
    }


async def test_paper_account_survives_a_restart(make_paper: PaperFactory, tmp_path: Path) -> None:
    state = tmp_path / "paper" / "state.json"
    with FakeBybit.running() as prices:
        first = make_paper(prices, state)
        await first.start()
        opened = await first.execute(make_intent("k1", qty="0.05"))
        await first.execute(make_intent("k2", symbol="ETHUSDT", side=S, qty="1"))
        before = pos_summary(await first.positions())
        equity = await first.equity_usdt()

        again = make_paper(prices, state)
        await again.start()
        assert pos_summary(await again.positions()) == before
        assert await again.equity_usdt() == equity
        assert await again.lookup("k1", "BTCUSDT") == opened.fill
        assert await again.lookup("nope", "BTCUSDT") is None
        replay = await again.execute(make_intent("k1", qty="0.05"))  # idempotent by client id
        assert replay.fill == opened.fill
        assert pos_summary(await again.positions()) == before
        assert await again.open_orders() == []


async def test_paper_state_in_the_other_mode_is_refused(
    make_paper: PaperFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    with FakeBybit.running() as prices:
        one_way = make_paper(prices, state)
        await one_way.start()
        await one_way.execute(make_intent("m1"))
        hedge = make_paper(prices, state, account_mode=AccountMode.HEDGE)
        with pytest.raises(BrokerError, match="other position mode"):
            await hedge.start()
        state.write_text("{not json")
        with pytest.raises(BrokerError, match="unreadable"):
            await make_paper(prices, state).start()


async def test_paper_reads(make_paper: PaperFactory) -> None:
    with FakeBybit.running() as prices:
        paper = make_paper(prices)
        await paper.start()
        assert await paper.last_price("ETHUSDT") == D(3000)
        assert (await paper.server_time()).tzinfo is not None
        assert await paper.equity_usdt() == D(10_000)
        await paper.execute(make_intent("r1", qty="0.1"))
        prices.set_price("BTCUSDT", "61000")
        [pos] = await paper.positions()
        assert (pos.mark_price, pos.unrealized_pnl) == (D(61000), D(100))
        assert await paper.equity_usdt() == D(10_000) - D("3.3") + D(100)


async def test_paper_fills_a_bounded_open_as_bybit_does(make_paper: PaperFactory) -> None:
    """Issue 22, item 3: an open beyond its IOC limit fills nothing in paper mode either."""
    with FakeBybit.running() as prices:
        paper = make_paper(prices)
        await paper.start()
        prices.set_price("BTCUSDT", "60300.1")
        beyond = make_intent("pb1").model_copy(update={"limit_price": D(60300)})
        refused = await paper.execute(beyond)
        assert refused.outcome is ExecutionOutcome.REJECTED and refused.fill is None
        assert await paper.positions() == []
        prices.set_price("BTCUSDT", "60300")
        within = make_intent("pb2").model_copy(update={"limit_price": D(60300)})
        assert (await paper.execute(within)).outcome is ExecutionOutcome.FILLED
