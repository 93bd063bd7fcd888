"""The relay client trusts a pushed book only when signed by the pinned key, in sequence and
fresh (DESIGN rule 6): MessageGate on its own, then the client against a scripted relay (a real
WebSocket server on 127.0.0.1) that sends forged, replayed, reordered and stale messages."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lightspeed_cli.config.sections import RelaySettings
from lightspeed_cli.license.token import public_key_to_b64
from lightspeed_cli.models import Side, SourceKind, TraderPosition
from lightspeed_cli.sources.relay import RelayClient
from lightspeed_cli.sources.relay_message import (
    BookMessage,
    Heartbeat,
    LeaderRef,
    MessageGate,
    RelayMessageError,
    sign_message,
)

LEADER = LeaderRef(source=SourceKind.COPYTRADE, id="1111111111")
KEY = Ed25519PrivateKey.generate()
MAX_AGE = 10.0


def book(seq: int, *, epoch: int = 1, age: float = 0.0, size: str = "1") -> BookMessage:
    now = datetime.now(UTC)
    position = TraderPosition(
        symbol="BTCUSDT",
        side=Side.LONG,
        size=Decimal(size),
        entry_price=Decimal(60000),
        mark_price=Decimal(60000),
        leverage=10,
    )
    return BookMessage(
        leader=LEADER,
        epoch=epoch,
        seq=seq,
        positions=(position,),
        read_at=now - timedelta(seconds=age),
        sent_at=now,
    )


@pytest.fixture
def gate() -> MessageGate:
    return MessageGate(KEY.public_key(), max_age_seconds=MAX_AGE)


def refused(gate: MessageGate, token: str) -> str:
    with pytest.raises(RelayMessageError) as info:
        gate.admit(token)
    return info.value.code


def test_a_genuine_book_is_admitted(gate: MessageGate) -> None:
    message = gate.admit(sign_message(book(1), KEY))
    assert isinstance(message, BookMessage)
    assert message.snapshot().trader == LEADER.id


def test_a_book_signed_by_another_key_is_forged(gate: MessageGate) -> None:
    assert refused(gate, sign_message(book(1), Ed25519PrivateKey.generate())) == "forged"


def test_a_book_changed_after_signing_is_forged(gate: MessageGate) -> None:
    genuine = sign_message(book(1, size="1"), KEY).split(".")
    other = sign_message(book(1, size="9"), KEY).split(".")
    assert refused(gate, f"{genuine[0]}.{other[1]}.{genuine[2]}") == "forged"


def test_garbage_is_malformed(gate: MessageGate) -> None:
    assert refused(gate, "lsr1.not-a-message") == "malformed"


def test_the_same_book_twice_is_a_replay(gate: MessageGate) -> None:
    token = sign_message(book(1), KEY)
    gate.admit(token)
    assert refused(gate, token) == "replayed"


def test_an_older_book_after_a_newer_one_is_reordered(gate: MessageGate) -> None:
    older, newer = sign_message(book(1), KEY), sign_message(book(2), KEY)
    gate.admit(newer)
    assert refused(gate, older) == "reordered"


def test_a_gap_in_the_sequence_is_fine(gate: MessageGate) -> None:
    gate.admit(sign_message(book(1), KEY))
    gate.admit(sign_message(book(7), KEY))  # the whole book: missing ones do not matter


def test_a_restarted_relay_counts_on_from_a_later_epoch(gate: MessageGate) -> None:
    gate.admit(sign_message(book(50, epoch=1), KEY))
    gate.admit(sign_message(book(1, epoch=2), KEY))
    assert refused(gate, sign_message(book(51, epoch=1), KEY)) == "reordered"


def test_a_book_read_too_long_ago_is_stale_on_both_sides_of_the_bound(gate: MessageGate) -> None:
    gate.admit(sign_message(book(1, age=MAX_AGE - 1), KEY))
    assert refused(gate, sign_message(book(2, age=MAX_AGE + 1), KEY)) == "stale"
    gate.admit(sign_message(book(3), KEY))  # a stale one did not move the sequence


def test_a_stale_heartbeat_is_refused(gate: MessageGate) -> None:
    old = Heartbeat(epoch=1, sent_at=datetime.now(UTC) - timedelta(seconds=MAX_AGE + 1))
    assert refused(gate, sign_message(old, KEY)) == "stale"
    assert isinstance(
        gate.admit(sign_message(Heartbeat(epoch=1, sent_at=datetime.now(UTC)), KEY)), Heartbeat
    )


# -- the client against a scripted relay -----------------------------------------------------


class ScriptedRelay:
    """A WebSocket server sending `script` (tokens) after the hello, then closing."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.hellos: list[dict[str, object]] = []
        self.close_reason = "scripted end"
        self.url = ""

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.hellos.append(await ws.receive_json())
        for token in self.script:
            await ws.send_str(token)
        await asyncio.sleep(0.1)
        await ws.close(code=4401, message=self.close_reason.encode())
        return ws


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedRelay]:
    relay = ScriptedRelay()
    app = web.Application()
    app.router.add_get("/v1/stream", relay.handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    relay.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/v1/stream"
    yield relay
    await runner.cleanup()


def client(url: str, fallback: float = 1) -> RelayClient:
    settings = RelaySettings(
        url=url, public_key=public_key_to_b64(KEY.public_key()), fallback_after_seconds=fallback
    )
    machine = hashlib.sha256(b"alice").hexdigest()
    return RelayClient(settings, lease=lambda: "lsl1.x.y", machine=machine, leaders=[LEADER])


async def test_only_genuine_in_order_fresh_books_come_out(scripted: ScriptedRelay) -> None:
    good1, good2 = sign_message(book(1, size="1"), KEY), sign_message(book(3, size="3"), KEY)
    scripted.script = [
        good1,
        sign_message(book(2, size="66"), Ed25519PrivateKey.generate()),  # forged
        good1,  # replayed
        good2,
        sign_message(book(2, size="2"), KEY),  # reordered
        sign_message(book(4, size="4", age=MAX_AGE + 5), KEY),  # stale
    ]
    relay_client = client(scripted.url)
    seen: list[Decimal] = []

    async def consume() -> None:
        async for pushed in relay_client.books():
            seen.append(pushed.snapshot.positions[0].size)

    task = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(5):
            while not relay_client.last_close:
                await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen == [Decimal(1), Decimal(3)]
    assert relay_client.refused == {"forged": 1, "replayed": 1, "reordered": 1, "stale": 1}
    assert "scripted end" in relay_client.last_close and "4401" in relay_client.last_close
    hello = scripted.hellos[0]
    assert hello["type"] == "hello" and hello["leaders"] == [
        {"source": "copytrade", "id": LEADER.id}
    ]


async def test_it_reconnects_and_turns_silent_when_nothing_trustworthy_arrives(
    scripted: ScriptedRelay,
) -> None:
    relay_client = client(scripted.url, fallback=1)
    assert relay_client.silent()  # nothing heard yet
    scripted.script = [sign_message(Heartbeat(epoch=1, sent_at=datetime.now(UTC)), KEY)]
    task = asyncio.create_task(anext(relay_client.books()))
    try:
        async with asyncio.timeout(5):
            while len(scripted.hellos) < 3:  # closed each time, it comes back
                await asyncio.sleep(0.02)
        assert not relay_client.silent()  # the heartbeat was admitted
        scripted.script = []
        await asyncio.sleep(1.6)
        assert relay_client.silent()  # only closes since: past fallback_after_seconds
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
