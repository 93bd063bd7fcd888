"""The relay enforces the license: a lease is checked at connect, on renewal and on a period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from lightspeed_cli.license.db import LicenseDB
from lightspeed_cli.relay.config import RelayConfig

from .conftest import LEADER, machine


async def test_a_good_lease_is_served(relay, member, client_for, receive) -> None:
    alice = receive(client_for(member("alice")))
    await alice.wait_for(lambda books: bool(books))
    assert alice.client.last_close == ""


async def test_a_lease_of_another_machine_is_refused_at_connect(
    relay, member, client_for, receive
) -> None:
    alice = member("alice")
    thief = receive(client_for(alice, as_machine=machine("mallory")))
    reason = await thief.wait_closed()
    assert "(4401)" in reason and "another machine" in reason
    assert thief.books == []


async def test_a_forged_lease_is_refused_at_connect(relay, member, client_for, receive) -> None:
    alice = member("alice")
    head, payload, signature = alice.lease.split(".")
    alice.lease = f"{head}.{payload}.{signature[::-1]}"
    forger = receive(client_for(alice))
    assert "did not issue" in await forger.wait_closed()
    assert forger.books == []


async def test_a_revoked_key_is_refused_at_connect(
    relay, license_server, member, client_for, receive
) -> None:
    alice = member("alice")
    license_server.revoke(alice.key)
    revoked = receive(client_for(alice))
    reason = await revoked.wait_closed()
    assert "(4403)" in reason and "revoked" in reason
    assert revoked.books == []


async def test_an_expired_key_is_refused_at_connect(
    relay, license_server, member, client_for, receive
) -> None:
    alice = member("alice")
    record = license_server.record(alice.key)
    db = LicenseDB(license_server.db_path, create=False)
    try:
        db.set_expiry(record.key_id, license_server.service.now() - timedelta(minutes=1))
    finally:
        db.close()
    expired = receive(client_for(alice))
    assert "expired" in await expired.wait_closed()
    assert expired.books == []


async def test_a_released_seat_is_refused_at_connect(
    relay, license_server, member, client_for, receive
) -> None:
    alice = member("alice")
    license_server.service.db.deactivate(license_server.record(alice.key).key_id, alice.machine)
    released = receive(client_for(alice))
    assert "seat was released" in await released.wait_closed()


async def test_the_stream_is_closed_when_the_key_is_revoked_mid_stream(
    relay, license_server, member, client_for, receive
) -> None:
    alice = member("alice")
    live = receive(client_for(alice))
    await live.wait_for(lambda books: bool(books))
    license_server.revoke(alice.key)
    reason = await live.wait_closed(timeout=5)  # lease_check_seconds is 0.2 here
    assert "(4403)" in reason and "revoked" in reason


async def test_a_renewed_lease_is_checked_again(
    relay, license_server, member, client_for, receive
) -> None:
    alice, bob = member("alice"), member("bob")
    live = receive(client_for(alice))
    await live.wait_for(lambda books: bool(books))
    alice.lease = bob.lease  # a "renewal" to a lease of another machine
    reason = await live.wait_closed(timeout=5)
    assert "another machine" in reason


async def test_connections_per_lease_are_limited(
    relay, relay_config: RelayConfig, member, client_for, receive
) -> None:
    alice = member("alice")
    first = [receive(client_for(alice)) for _ in range(relay_config.max_connections_per_lease)]
    for one in first:
        await one.wait_for(lambda books: bool(books))
    extra = receive(client_for(alice))
    reason = await extra.wait_closed()
    assert "(4429)" in reason and "connections" in reason


async def test_leaders_per_lease_are_limited(
    relay, relay_config: RelayConfig, member, client_for, receive
) -> None:
    too_many = [f"{n:010d}" for n in range(1, relay_config.max_leaders_per_lease + 2)]
    greedy = receive(client_for(member("alice"), too_many))
    reason = await greedy.wait_closed()
    assert "(4429)" in reason and "leaders" in reason
    await asyncio.sleep(0.1)
    assert f"copytrade:{LEADER}" not in relay.hub.feeds


async def test_a_leader_id_the_source_cannot_read_is_refused_at_the_door(
    relay, member, client_for, receive
) -> None:
    odd = receive(client_for(member("alice"), ["not-digits"]))
    reason = await odd.wait_closed()
    assert "(4400)" in reason and "not-digits" in reason
    assert relay.hub.feeds == {}
