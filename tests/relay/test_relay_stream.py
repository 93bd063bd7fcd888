"""The relay end to end: real license server, fake Binance, relay and WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from lightspeed_cli.models import Side
from lightspeed_cli.relay.status import STATUS_FILE, read_status
from lightspeed_cli.sim.binance import FakePosition, Fault

from .conftest import LEADER, OTHER_LEADER


def sizes(pushed) -> dict[str, Decimal]:  # type: ignore[no-untyped-def]
    return {p.symbol: p.size for p in pushed.snapshot.positions}


async def test_a_change_reaches_two_followers_with_one_read(
    relay, binance, member, client_for, receive
) -> None:
    alice, bob = receive(client_for(member("alice"))), receive(client_for(member("bob")))
    for who in (alice, bob):
        await who.wait_for(lambda books: any(sizes(b) == {"BTCUSDT": 1} for b in books))
    await asyncio.sleep(0.2)
    feed = relay.hub.feeds[f"copytrade:{LEADER}"]
    # the relay is the only reader (a read in flight is counted at Binance before the relay)
    assert binance.position_reads(LEADER) - feed.reads in (0, 1)
    binance.set_positions(
        LEADER,
        [FakePosition.long("BTCUSDT", "1", "60000"), FakePosition.short("ETHUSDT", "3", "3000")],
    )
    for who in (alice, bob):
        await who.wait_for(lambda books: bool(books) and "ETHUSDT" in sizes(books[-1]))
        last = who.books[-1]
        assert last.trader == LEADER
        eth = last.snapshot.by_key()[("ETHUSDT", Side.SHORT)]
        assert eth.size == 3 and eth.leverage == 10
    # two clients, one leader: Binance was read as often as the relay's one feed says
    assert binance.position_reads(LEADER) - feed.reads in (0, 1)
    assert len(relay.hub.feeds) == 1 and len(feed.subscribers) == 2


async def test_a_popular_leader_and_a_lonely_one_are_each_read_once(
    relay, binance, member, client_for, receive
) -> None:
    binance.set_positions(OTHER_LEADER, [FakePosition.long("SOLUSDT", "10", "150")])
    alice = receive(client_for(member("alice"), [LEADER, OTHER_LEADER]))
    bob = receive(client_for(member("bob"), [LEADER]))
    await alice.wait_for(lambda books: {b.trader for b in books} == {LEADER, OTHER_LEADER})
    await bob.wait_for(lambda books: bool(books))
    assert {b.trader for b in bob.books} == {LEADER}
    assert set(relay.hub.feeds) == {f"copytrade:{LEADER}", f"copytrade:{OTHER_LEADER}"}
    await asyncio.sleep(0.5)  # the status file is written each heartbeat
    status = read_status(relay.data_dir / STATUS_FILE)
    clients = {s.leader: s.clients for s in status.leaders}
    assert clients == {f"copytrade:{LEADER}": 2, f"copytrade:{OTHER_LEADER}": 1}
    assert status.clients == 2 and status.reads_per_second > 0
    assert all(s.lag_seconds is not None and s.lag_seconds < 5 for s in status.leaders)


async def test_heartbeats_keep_a_quiet_stream_trusted(relay, member, client_for, receive) -> None:
    alice = receive(client_for(member("alice")))
    await alice.wait_for(lambda books: bool(books))
    await asyncio.sleep(1.0)  # no change: only heartbeats
    assert not alice.client.silent()
    assert len(alice.books) == 1


async def test_a_mass_close_is_read_twice_before_it_is_published(
    relay, binance, member, client_for, receive
) -> None:
    binance.set_positions(
        LEADER,
        [
            FakePosition.long("BTCUSDT", "1", "60000"),
            FakePosition.long("ETHUSDT", "2", "3000"),
            FakePosition.long("SOLUSDT", "5", "150"),
        ],
    )
    alice = receive(client_for(member("alice")))
    await alice.wait_for(lambda books: bool(books) and len(sizes(books[-1])) == 3)
    assert not alice.books[-1].mass_close_confirmed
    feed = relay.hub.feeds[f"copytrade:{LEADER}"]
    binance.clear_log()
    binance.set_positions(LEADER, [FakePosition.long("BTCUSDT", "1", "60000")])
    await alice.wait_for(lambda books: bool(books) and len(sizes(books[-1])) == 1)
    assert alice.books[-1].mass_close_confirmed
    assert feed.published >= 2


async def test_a_glitch_that_the_second_read_contradicts_is_not_published(
    relay, binance, member, client_for, receive
) -> None:
    binance.set_positions(
        LEADER,
        [FakePosition.long("BTCUSDT", "1", "60000"), FakePosition.long("ETHUSDT", "2", "3000")],
    )
    alice = receive(client_for(member("alice")))
    await alice.wait_for(lambda books: bool(books) and len(sizes(books[-1])) == 2)
    feed = relay.hub.feeds[f"copytrade:{LEADER}"]
    published, reads = feed.published, feed.reads
    # one empty success answer, then the book again: the glitch Binance sometimes serves
    empty = json.dumps({"code": "000000", "message": None, "data": [], "success": True})
    binance.inject(Fault.BODY, trader=LEADER, times=1, body=empty)
    async with asyncio.timeout(10):
        while feed.reads < reads + 4:
            await asyncio.sleep(0.02)
    assert feed.published == published  # the lone empty read was never pushed
    assert all(len(sizes(b)) == 2 for b in alice.books)
