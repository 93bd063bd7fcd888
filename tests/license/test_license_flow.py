"""Client and real server together: activation, seats, heartbeat, revoke, expiry, copies.

The server runs in a thread on 127.0.0.1 (conftest). freezegun moves both clocks at once; it is
used with tick=True and real_asyncio=True so the event loops keep running.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta

import httpx
import pytest
from freezegun import freeze_time
from license_helpers import SECOND, T0, ClientFactory, dead_url, fingerprint_of

from lightspeed_cli.license.client import LicenseError
from lightspeed_cli.license.store import MemoryLeaseStore
from lightspeed_cli.license.testing import RunningLicenseServer

HOUR = timedelta(hours=1)


async def test_activate_then_run_is_allowed(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue(seats=2, days=30)
    client = make_client("a")
    result = await client.activate(key)
    assert (result.seats, result.seats_used) == (2, 1)
    assert result.key_hint == f"{key[:8]}-…-{key[-4:]}"
    assert client.local.public_key == license_server.public_key  # pinned at activation

    # what `lightspeed run` does: a fresh client over the same data dir and lease store
    runner = make_client("a", store=client.store)
    state = await runner.startup_check()
    assert state.valid and state.can_open and state.warning is None
    assert state.key_id == result.key_id


async def test_reactivating_the_same_machine_takes_no_extra_seat(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue(seats=1)
    client = make_client("a")
    await client.activate(key)
    again = await client.activate(key)
    assert (again.seats, again.seats_used) == (1, 1)
    assert again.previous is None  # the same key: no other seat to free


async def test_seats_exhausted_is_a_clear_refusal(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue(seats=1)
    await make_client("a").activate(key)
    with pytest.raises(LicenseError, match=r"all 1 seat\(s\).*in use.*\[seats_exhausted\]"):
        await make_client("b").activate(key)


async def test_deactivation_frees_the_seat(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue(seats=1)
    first = make_client("a")
    await first.activate(key)
    assert await first.deactivate() == 0
    assert first.state().code == "no_lease"
    assert (await make_client("b").activate(key)).seats_used == 1


@pytest.mark.parametrize(
    ("freed_by_admin", "said"), [(False, "seat is free"), (True, "no seat")], ids=["held", "freed"]
)
async def test_activating_another_key_frees_the_old_keys_seat(
    license_server: RunningLicenseServer,
    make_client: ClientFactory,
    freed_by_admin: bool,
    said: str,
) -> None:
    old, new = license_server.issue(seats=1), license_server.issue(seats=1)
    client = make_client("a")
    await client.activate(old)
    if freed_by_admin:
        license_server.service.db.deactivate(license_server.record(old).key_id, client.fingerprint)
    result = await client.activate(new)
    assert result.previous is not None and said in result.previous
    assert old not in result.previous and old[-4:] in result.previous  # masked, never in full
    assert license_server.record(old).seats_used == 0
    assert client.state().can_open and client.state().key_id == result.key_id
    assert (await make_client("b").activate(old)).seats_used == 1


async def test_a_refused_new_key_leaves_the_old_license_in_place(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    old, full = license_server.issue(seats=1), license_server.issue(seats=1)
    await make_client("b").activate(full)
    client = make_client("a")
    first = await client.activate(old)
    with pytest.raises(LicenseError, match="seats_exhausted"):
        await client.activate(full)
    assert client.state().can_open and client.state().key_id == first.key_id
    assert license_server.record(old).seats_used == 1


async def test_revoke_makes_the_next_heartbeat_refuse(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue()
    client = make_client("a")
    await client.activate(key)
    assert (await client.renew()).can_open
    license_server.revoke(key)
    state = await client.renew()
    assert not state.valid and not state.can_open and state.code == "revoked"
    assert "closing and reducing still mirror" in state.reason
    # the refusal sticks across restarts, and a later start says so without raising
    restarted = make_client("a", store=client.store)
    assert restarted.state().code == "revoked"
    assert (await restarted.startup_check()).code == "revoked"


async def test_expiry_is_refused_by_the_server_and_extension_restores_it(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    with freeze_time(T0, tick=True, real_asyncio=True) as clock:
        key = license_server.issue(days=1)
        client = make_client("a")
        await client.activate(key)
        clock.move_to(T0 + timedelta(days=1) - 5 * SECOND)
        assert (await client.renew()).can_open
        # tick=True: the key was issued a few ms after T0, so step clearly past its expiry
        clock.move_to(T0 + timedelta(days=1) + 5 * SECOND)
        state = await client.renew()
        assert state.code == "expired" and not state.can_open
        license_server.service.db.extend(license_server.record(key).key_id, 30, clock())
        state = await client.renew()
        assert state.can_open and state.code == "ok"


async def test_offline_grace_from_the_last_contact_both_sides_of_the_boundary(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    with freeze_time(T0, tick=True, real_asyncio=True) as clock:
        client = make_client("a", offline_grace_hours=24)
        await client.activate(license_server.issue())
        issued = client.state().last_contact
        assert issued is not None
        client.settings.server_url = dead_url()  # the server is gone from now on
        clock.move_to(issued + 24 * HOUR - 2 * SECOND)
        state = await client.renew()
        assert state.can_open and state.warning and "unreachable" in state.warning
        # the lease's issue time is whole seconds, so the edge is that second + 24 h
        edge = state.grace_until
        assert edge is not None and timedelta(0) <= issued + 24 * HOUR - edge < SECOND
        assert client.state(edge - timedelta(microseconds=1)).can_open
        assert not client.state(edge).can_open
        assert client.state(edge).code == "grace_expired"


async def test_clock_rolled_back_after_contact_blocks_opening(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    with freeze_time(T0, tick=True, real_asyncio=True) as clock:
        client = make_client("a")
        await client.activate(license_server.issue())
        client.settings.server_url = dead_url()
        clock.move_to(T0 - 2 * HOUR)  # the user winds the clock back to stretch the grace
        state = await client.renew()
    assert state.code == "clock_rollback" and not state.can_open


async def test_lease_copied_to_another_machine_is_refused(
    license_server: RunningLicenseServer, make_client: ClientFactory, tmp_path
) -> None:
    original = make_client("a")
    await original.activate(license_server.issue(seats=5))
    stolen = MemoryLeaseStore(original.store.load())
    copy = make_client("b", store=stolen)
    copy.state_path.parent.mkdir(parents=True)
    shutil.copy(original.state_path, copy.state_path)  # the whole client state, copied
    assert copy.state().code == "wrong_machine"
    started = await copy.startup_check()  # runs closing-only, never renews a stolen lease
    assert started.code == "wrong_machine" and "another machine" in started.reason
    # and the server refuses a heartbeat that presents it from the other machine
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{license_server.url}/v1/validate",
            json={"lease": stolen.token, "machine": fingerprint_of(tmp_path, "b")},
        )
    assert resp.status_code == 403 and resp.json()["code"] == "machine_mismatch"


async def test_configured_public_key_must_match_the_server(
    license_server: RunningLicenseServer, make_client: ClientFactory, offline_lease
) -> None:
    client = make_client("a", public_key=offline_lease.public_key)  # some other server's key
    with pytest.raises(LicenseError, match="public key differs"):
        await client.activate(license_server.issue())
    assert client.state().code == "no_lease"


async def test_typo_is_caught_before_any_request(make_client: ClientFactory) -> None:
    client = make_client("a")
    client.settings.server_url = dead_url()  # a request would fail differently
    with pytest.raises(LicenseError, match="typo"):
        await client.activate("LS-00000-00000-00000-00000-00000-00001")


async def test_run_renewals_heartbeats_until_stopped(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    key = license_server.issue()
    client = make_client("a", renew_interval_minutes=0.001)  # 60 ms
    await client.activate(key)
    stop = asyncio.Event()
    loop = asyncio.create_task(client.run_renewals(stop))
    license_server.revoke(key)
    for _ in range(200):
        if client.state().code == "revoked":
            break
        await asyncio.sleep(0.02)
    assert not client.state().can_open
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
