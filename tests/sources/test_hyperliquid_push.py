"""The pushed side against the fake Hyperliquid over a real socket: snapshot frames never
copied, tid dedupe, one-fill flips, gaps backfilled, drops reconnected, silence is blind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from hyperliquid_helpers import WALLET, WALLET_B

from lightspeed_cli.models import Side
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid, Fault, HlPosition
from lightspeed_cli.sources.hyperliquid import HyperliquidSource
from lightspeed_cli.sources.hyperliquid_push import (
    LEVERAGE_LEARNED,
    HyperliquidPush,
    PushEvent,
    PushKind,
)

WAIT = 5.0


class Events:
    """The push's events as they come, with waits that fail loudly."""

    def __init__(self, push: HyperliquidPush) -> None:
        self.push = push
        self.seen: list[PushEvent] = []
        self._iterator = aiter(push)

    async def next(
        self, kind: PushKind | None = None, timeout: float = WAIT, *, learned: bool = False
    ) -> PushEvent:
        """The next event (of `kind`); the book that only tells a new position's leverage
        (its sizes are the pushed ones) only when `learned`."""
        while True:
            event = await asyncio.wait_for(anext(self._iterator), timeout)
            self.seen.append(event)
            if (event.reason == LEVERAGE_LEARNED) is not learned:
                continue
            if kind is None or event.kind is kind:
                return event

    async def quiet(self, seconds: float = 0.3) -> list[PushEvent]:
        """Whatever comes within `seconds` (expected: nothing; a leverage book aside)."""
        got = []
        with pytest.raises(TimeoutError):
            while True:
                got.append(await self.next(timeout=seconds))
        return got


@pytest.fixture
async def start(
    hl_fake: FakeHyperliquid, hl_source: HyperliquidSource
) -> AsyncIterator[Callable[..., Any]]:
    pushes: list[HyperliquidPush] = []

    async def make(*wallets: str, **kwargs: Any) -> Events:
        kwargs = {"ping_seconds": 0.5, "pong_seconds": 1.5, "reconnect": (0.05, 0.2), **kwargs}
        push = HyperliquidPush(hl_source, hl_fake.ws_url, list(wallets or [WALLET]), **kwargs)
        pushes.append(push)
        push.start()
        return Events(push)

    yield make
    for push in pushes:
        await push.aclose()


def sizes(event: PushEvent) -> dict[str, tuple[Side, Decimal]]:
    assert event.snapshot is not None
    return {p.symbol: (p.side, p.size) for p in event.snapshot.positions}


async def test_start_reads_the_book_and_the_snapshot_frame_is_never_copied(
    hl_fake: FakeHyperliquid, start
) -> None:
    hl_fake.fill(WALLET, "BTC", "B", "0.5", "60000")  # history before we follow
    hl_fake.set_account_value(WALLET, "25000")
    events = await start()
    book = await events.next()
    assert book.kind is PushKind.BOOK
    assert sizes(book) == {"BTCUSDT": (Side.LONG, Decimal("0.5"))}
    assert book.snapshot is not None and book.snapshot.leader_equity == Decimal(25000)
    assert await events.quiet() == []  # the isSnapshot frame held that fill: not a signal
    assert hl_fake.subscribes == [WALLET]


async def test_a_pushed_fill_is_a_snapshot_with_the_leaders_price_and_time(
    hl_fake: FakeHyperliquid, start
) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.set_leverage(WALLET, "ETH", 7)
    sent = hl_fake.fill(WALLET, "ETH", "A", "2", "3100")
    event = await events.next()
    assert event.kind is PushKind.FILL
    assert sizes(event) == {"ETHUSDT": (Side.SHORT, Decimal(2))}
    assert event.fill is not None and event.fill.px == Decimal(3100)
    assert event.fill.time_ms == sent["time"] and event.fill.tid == sent["tid"]
    assert event.snapshot is not None and event.snapshot.source_time == event.fill.at


async def test_a_new_positions_leverage_is_learned_from_the_book(
    hl_fake: FakeHyperliquid, start
) -> None:
    """A fill does not carry leverage: the open goes at 1 (the safe side), and the book read
    it triggers hands on the real one, sizes unchanged, so it is set ahead of the next open."""
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.set_leverage(WALLET, "BTC", 7)
    hl_fake.fill(WALLET, "BTC", "B", "0.1", "60000")
    opened = await events.next(PushKind.FILL)
    assert opened.snapshot is not None and opened.snapshot.positions[0].leverage == 1
    learned = await events.next(PushKind.BOOK, learned=True)
    assert learned.snapshot is not None
    (position,) = learned.snapshot.positions
    assert (position.leverage, position.size) == (7, Decimal("0.1"))


async def test_duplicate_tids_are_applied_once(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    sent = hl_fake.fill(WALLET, "BTC", "B", "0.1", "60000")
    await events.next(PushKind.FILL)
    hl_fake.repush(WALLET, sent)
    hl_fake.repush(WALLET, sent)
    assert await events.quiet() == []


async def test_a_flip_is_one_fill_and_one_snapshot(hl_fake: FakeHyperliquid, start) -> None:
    hl_fake.set_positions(WALLET, [HlPosition.short("OP", "87", "1.5", 3)])
    events = await start()
    await events.next(PushKind.BOOK)
    sent = hl_fake.fill(WALLET, "OP", "B", "1737.4", "1.6")
    assert sent["dir"] == "Short > Long" and sent["startPosition"] == "-87.0"
    event = await events.next()
    assert event.kind is PushKind.FILL
    assert sizes(event) == {"OPUSDT": (Side.LONG, Decimal("1650.4"))}
    (op,) = event.snapshot.positions  # type: ignore[union-attr]
    assert op.entry_price == Decimal("1.6") and op.leverage == 3  # the coin's leverage kept
    assert await events.quiet() == []


async def test_kpepe_is_pushed_as_1000pepe(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.fill(WALLET, "kPEPE", "A", "5000", "0.0102")
    event = await events.next(PushKind.FILL)
    assert sizes(event) == {"1000PEPEUSDT": (Side.SHORT, Decimal(5000))}


async def test_spot_fills_are_not_copied(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    for coin in ("@107", "PURR/USDC", "#12", "flx:CRCL"):
        hl_fake.fill(WALLET, coin, "B", "10", "1")
    assert await events.quiet() == []


async def test_a_dropped_socket_is_blind_then_backfilled_and_reread(
    hl_fake: FakeHyperliquid, start
) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.fill(WALLET, "BTC", "B", "0.2", "60000")
    await events.next(PushKind.FILL)
    hl_fake.disconnect()  # the gap: the socket is cut and none is accepted
    blind = await events.next()
    assert blind.kind is PushKind.BLIND and blind.snapshot is None
    assert events.push.blind(WALLET)
    missed = hl_fake.fill(WALLET, "BTC", "B", "0.3", "61000")  # nobody to push it to
    hl_fake.fill(WALLET, "SOL", "A", "4", "150")
    hl_fake.clear_log()
    hl_fake.reconnect()
    book = await events.next()
    assert book.kind is PushKind.BOOK
    assert sizes(book) == {"BTCUSDT": (Side.LONG, Decimal("0.5")), "SOLUSDT": (Side.SHORT, 4)}
    assert book.fill is not None and book.fill.coin == "SOL"  # the gap's last fill
    kinds = [r.type for r in hl_fake.requests()]
    assert kinds.index("userFillsByTime") < kinds.index("clearinghouseState")
    (backfill,) = hl_fake.requests("userFillsByTime")
    assert backfill.body["startTime"] <= missed["time"]
    assert events.push.blind(WALLET) is None
    assert await events.quiet() == []  # the gap's fills are not replayed one by one


async def test_reconnects_after_a_drop_and_pushes_resume(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.drop_sockets()
    assert (await events.next()).kind is PushKind.BLIND
    assert (await events.next()).kind is PushKind.BOOK
    assert events.push.connections == 2
    hl_fake.fill(WALLET, "ETH", "B", "1", "3000")
    assert sizes(await events.next(PushKind.FILL)) == {"ETHUSDT": (Side.LONG, Decimal(1))}


async def test_pings_keep_the_socket_past_the_idle_close(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    await asyncio.sleep(hl_fake.idle_timeout * 1.6)
    assert events.push.connections == 1 and hl_fake.open_sockets == 1
    assert [e.kind for e in events.seen] == [PushKind.BOOK]


async def test_without_pings_the_idle_close_is_blind_then_reconnected(
    hl_fake: FakeHyperliquid, start
) -> None:
    events = await start(ping_seconds=30, pong_seconds=30)
    await events.next(PushKind.BOOK)
    assert (await events.next(timeout=hl_fake.idle_timeout + WAIT)).kind is PushKind.BLIND
    assert (await events.next()).kind is PushKind.BOOK


async def test_a_silent_socket_is_blind(hl_fake: FakeHyperliquid, start) -> None:
    events = await start(ping_seconds=0.2, pong_seconds=0.3)
    await events.next(PushKind.BOOK)
    hl_fake.silence()
    blind = await events.next()
    assert blind.kind is PushKind.BLIND and "silent" in blind.reason
    hl_fake.silence(False)
    assert (await events.next()).kind is PushKind.BOOK


@pytest.mark.parametrize("fault", [Fault.RATE_LIMIT, Fault.SERVER_NULL, Fault.MALFORMED])
async def test_an_unreadable_book_is_no_snapshot(
    hl_fake: FakeHyperliquid, start, fault: Fault
) -> None:
    hl_fake.set_positions(WALLET, [HlPosition.long("BTC", "1", "60000")])
    hl_fake.inject(fault, request_type="clearinghouseState", times=2)
    events = await start()
    book = await events.next()  # the retried read, after the faults: never an empty book
    assert book.kind is PushKind.BOOK and sizes(book) == {"BTCUSDT": (Side.LONG, Decimal(1))}
    assert len(hl_fake.requests("clearinghouseState")) == 3


async def test_a_missed_fill_is_drift_settled_by_the_book(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.fill(WALLET, "BTC", "B", "1", "60000", push=False)  # lost on the way
    hl_fake.fill(WALLET, "BTC", "B", "1", "60000")
    pushed = await events.next(PushKind.FILL)
    assert sizes(pushed) == {"BTCUSDT": (Side.LONG, Decimal(2))}  # startPosition is the truth
    hl_fake.set_positions(WALLET, [HlPosition.long("BTC", "3", "60000")])  # and the book wins
    hl_fake.fill(WALLET, "ETH", "B", "1", "3000", push=False)
    hl_fake.fill(WALLET, "ETH", "B", "1", "3000")
    await events.next(PushKind.FILL)
    settled = await events.next(PushKind.BOOK)
    assert sizes(settled) == {
        "BTCUSDT": (Side.LONG, Decimal(3)),
        "ETHUSDT": (Side.LONG, Decimal(2)),
    }


async def test_a_malformed_frame_rereads_the_book(hl_fake: FakeHyperliquid, start) -> None:
    events = await start()
    await events.next(PushKind.BOOK)
    hl_fake.set_positions(WALLET, [HlPosition.long("BTC", "1", "60000")])
    hl_fake.push_frame(WALLET, {"channel": "userFills", "data": {"user": WALLET, "fills": [{}]}})
    settled = await events.next()
    assert settled.kind is PushKind.BOOK and sizes(settled) == {"BTCUSDT": (Side.LONG, 1)}


async def test_wallets_past_the_limit_are_left_for_polling(hl_fake: FakeHyperliquid, start) -> None:
    events = await start(WALLET, WALLET_B, max_wallets=1)
    assert events.push.pushed == (WALLET,) and events.push.polled == (WALLET_B,)
    await events.next(PushKind.BOOK)
    hl_fake.fill(WALLET_B, "BTC", "B", "1")
    assert await events.quiet() == []
    assert hl_fake.subscribes == [WALLET]


async def test_fills_pushed_during_the_book_read_apply_once(
    hl_fake: FakeHyperliquid, start
) -> None:
    hl_fake.inject(Fault.SLOW, request_type="clearinghouseState", delay=0.4)
    events = await start()
    await asyncio.sleep(0.2)  # subscribed; the book read is under way
    hl_fake.fill(WALLET, "BTC", "B", "1", "60000")  # pushed before the (slow) book answers
    book = await events.next(PushKind.BOOK)
    assert sizes(book) == {"BTCUSDT": (Side.LONG, Decimal(1))}  # the book holds it
    assert await events.quiet() == []  # so the waiting push is not applied again


async def test_an_unreachable_socket_at_start_is_blind(hl_fake: FakeHyperliquid, start) -> None:
    hl_fake.disconnect()
    events = await start()
    blind = await events.next()
    assert blind.kind is PushKind.BLIND and "cannot reach" in blind.reason
    assert await events.quiet() == []  # said once per outage, not once per attempt
    hl_fake.reconnect()
    assert (await events.next()).kind is PushKind.BOOK


async def test_random_drops_and_gaps_end_on_the_leaders_book_with_no_fill_twice(
    hl_fake: FakeHyperliquid, start
) -> None:
    import random

    rng = random.Random(23)
    events = await start()
    await events.next(PushKind.BOOK)
    coins = ("BTC", "ETH", "kPEPE")
    for _ in range(40):
        roll = rng.random()
        if roll < 0.1:
            hl_fake.drop_sockets()
        elif roll < 0.15:
            hl_fake.disconnect()
            hl_fake.fill(WALLET, rng.choice(coins), rng.choice("BA"), "1")  # type: ignore[arg-type]
            await asyncio.sleep(0.05)
            hl_fake.reconnect()
        else:
            hl_fake.fill(WALLET, rng.choice(coins), rng.choice("BA"), rng.choice(("1", "2")))  # type: ignore[arg-type]
        await asyncio.sleep(rng.uniform(0, 0.03))
    await asyncio.sleep(1.0)  # let the last reconnect and resync land
    while True:
        try:
            await events.next(timeout=0.5)
        except TimeoutError:
            break
    tids = [e.fill.tid for e in events.seen if e.kind is PushKind.FILL and e.fill]
    assert len(tids) == len(set(tids))  # no fill applied twice
    last = next(e for e in reversed(events.seen) if e.snapshot is not None)
    truth = {
        f"{'1000PEPE' if c == 'kPEPE' else c}USDT": (
            Side.LONG if p.szi > 0 else Side.SHORT,
            abs(p.szi),
        )
        for c, p in hl_fake.positions(WALLET).items()
    }
    assert sizes(last) == truth
    assert events.push.blind(WALLET) is None
