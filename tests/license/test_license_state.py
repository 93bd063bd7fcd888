"""The client's verdict from a cached lease, at the exact edges of every time limit.

No server here (it is unreachable on purpose): leases are signed by a throwaway key. Time comes
from freezegun for the calls that read the clock, or is passed to the pure `state(now)`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from license_helpers import SECOND, T0, OfflineLease, fingerprint_of

from lightspeed_cli.config.sections import LicenseSettings
from lightspeed_cli.license.client import LicenseClient
from lightspeed_cli.license.store import LocalState, MemoryLeaseStore, Refusal
from lightspeed_cli.license.token import sign_lease

HOUR = timedelta(hours=1)


def test_fresh_lease_allows_opening(offline_lease: OfflineLease) -> None:
    client = offline_lease.client()
    with freeze_time(T0 + HOUR):
        state = client.state()
    assert state.valid and state.can_open and state.code == "ok"
    assert state.warning is None
    assert state.expires_at == T0 + timedelta(days=30)
    assert state.lease_until == T0 + 72 * HOUR


@pytest.mark.parametrize(("offset", "can_open"), [(-SECOND, True), (timedelta(0), False)])
def test_offline_grace_ends_exactly_at_its_boundary(
    offline_lease: OfflineLease, offset: timedelta, can_open: bool
) -> None:
    client = offline_lease.client(offline_grace_hours=24)
    with freeze_time(T0 + 24 * HOUR + offset):
        state = client.state()
    assert state.can_open is can_open
    assert state.grace_until == T0 + 24 * HOUR
    if not can_open:
        assert state.valid and state.code == "grace_expired"
        assert "offline grace of 24 h is over" in state.reason
        assert "closing and reducing still mirror" in state.reason


@pytest.mark.parametrize(("offset", "can_open"), [(-SECOND, True), (timedelta(0), False)])
def test_server_lease_caps_a_longer_configured_grace(
    offline_lease: OfflineLease, offset: timedelta, can_open: bool
) -> None:
    """Raising offline_grace_hours in the config cannot outlast what the server signed."""
    client = offline_lease.client(offline_grace_hours=24 * 30)
    state = client.state(T0 + 72 * HOUR + offset)
    assert state.can_open is can_open
    if not can_open:
        assert state.code == "grace_expired" and "lease ran out" in state.reason


@pytest.mark.parametrize(("offset", "valid"), [(-SECOND, True), (timedelta(0), False)])
def test_license_expiry_boundary(
    offline_lease: OfflineLease, offset: timedelta, valid: bool
) -> None:
    expires = T0 + 10 * HOUR
    client = offline_lease.client(offline_lease.token(expires=expires))
    state = client.state(expires + offset)
    assert state.valid is valid and state.can_open is valid
    if not valid:
        assert state.code == "expired"
    else:
        assert state.warning and "expires" in state.warning  # less than a week left


@pytest.mark.parametrize(
    ("behind", "can_open"),
    [(timedelta(seconds=300), True), (timedelta(seconds=301), False)],
)
def test_clock_rolled_back_beyond_tolerance_voids_the_grace(
    offline_lease: OfflineLease, behind: timedelta, can_open: bool
) -> None:
    seen = T0 + 5 * HOUR  # the latest server time this client has seen
    client = offline_lease.client(
        local=LocalState(latest_server_time=seen), clock_tolerance_seconds=300
    )
    with freeze_time(seen - behind):
        state = client.state()
    assert state.can_open is can_open
    if not can_open:
        assert state.code == "clock_rollback" and "fix the system clock" in state.reason


def test_signed_issue_time_is_a_floor_even_without_the_state_file(
    offline_lease: OfflineLease,
) -> None:
    """Deleting license_state.json does not let the clock go back before the lease itself."""
    client = offline_lease.client(clock_tolerance_seconds=60)
    assert client.state(T0 - 61 * SECOND).code == "clock_rollback"
    assert client.state(T0 - 60 * SECOND).can_open


def test_recorded_refusal_blocks_opening(offline_lease: OfflineLease) -> None:
    refusal = Refusal(code="revoked", message="this license key was revoked", at=T0)
    state = offline_lease.client(local=LocalState(refusal=refusal)).state(T0 + HOUR)
    assert not state.valid and not state.can_open and state.code == "revoked"


async def test_unreachable_server_keeps_the_lease_and_warns(offline_lease: OfflineLease) -> None:
    client = offline_lease.client(offline_grace_hours=24)
    with freeze_time(T0 + HOUR, tick=True, real_asyncio=True):
        state = await client.renew()
    assert state.can_open and state.code == "ok"
    assert state.warning and "unreachable" in state.warning
    assert "2030-01-02 12:00:00 UTC" in state.warning  # when opening will stop


@pytest.mark.parametrize(
    ("token_of", "code"),
    [
        (lambda lease: lease.token()[:-3], "malformed"),
        (
            lambda lease: sign_lease(lease.payload(), OfflineLease(lease.tmp_path).signing_key),
            "bad_signature",
        ),
        (lambda lease: lease.token(machine=fingerprint_of(lease.tmp_path, "b")), "wrong_machine"),
    ],
    ids=["truncated", "wrong-key", "other-machine"],
)
async def test_unusable_lease_starts_closing_only(
    offline_lease: OfflineLease, token_of: object, code: str
) -> None:
    client = offline_lease.client(token_of(offline_lease))  # type: ignore[operator]
    state = client.state(T0 + HOUR)
    assert state.code == code and not state.valid and not state.can_open
    started = await client.startup_check()  # no exception: `run` starts, closing only
    assert started.code == code and not started.can_open
    assert "closing and reducing still mirror" in started.reason


async def test_no_lease_at_all_starts_closing_only(offline_lease: OfflineLease) -> None:
    settings = LicenseSettings(public_key=offline_lease.public_key)
    client = LicenseClient(
        settings,
        offline_lease.tmp_path,
        fingerprint=offline_lease.machine,
        store=MemoryLeaseStore(),
    )
    assert client.state(T0).code == "no_lease"
    started = await client.startup_check()
    assert started.code == "no_lease" and not started.can_open
    # says which data dir it looked in (a service with another data dir is the usual cause)
    assert str(offline_lease.tmp_path) in started.reason and "license activate" in started.reason


async def test_unreadable_machine_id_is_a_clear_error_not_a_crash(
    offline_lease: OfflineLease, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTSPEED_MACHINE_ID_FILE", str(tmp_path / "missing"))
    client = LicenseClient(
        LicenseSettings(public_key=offline_lease.public_key),
        tmp_path,
        store=MemoryLeaseStore(offline_lease.token()),
    )
    assert client.state(T0).code == "no_fingerprint"
    started = await client.startup_check()
    assert started.code == "no_fingerprint" and "cannot identify this machine" in started.reason


def _restarted(offline_lease: OfflineLease, **settings: object) -> LicenseClient:
    """A new process on the same data dir (its saved state) and the same cached lease."""
    return offline_lease.client(**settings)  # type: ignore[arg-type]


def test_clock_set_back_offline_does_not_revive_a_grace_that_ran_out(
    offline_lease: OfflineLease,
) -> None:
    """Blocked at local T0+25 h (grace 24 h, no server contact since T0); set back to T0+20 h
    the lease stays blocked: now, and after a restart that reads the saved state."""
    client = offline_lease.client(offline_grace_hours=24)
    with freeze_time(T0 + 25 * HOUR) as clock:
        assert client.state().code == "grace_expired"
        clock.move_to(T0 + 20 * HOUR)  # the user winds the clock back, still offline
        state = client.state()
        assert state.code == "grace_expired" and not state.can_open
        again = _restarted(offline_lease, offline_grace_hours=24).state()
        assert again.code == "grace_expired" and not again.can_open


def test_clock_set_back_does_not_revive_an_expired_license(offline_lease: OfflineLease) -> None:
    expires = T0 + 10 * HOUR
    token = offline_lease.token(expires=expires)
    client = offline_lease.client(token)
    with freeze_time(expires + HOUR) as clock:
        assert client.state().code == "expired"
        clock.move_to(expires - 5 * HOUR)
        assert client.state().code == "expired"
        assert offline_lease.client(token).state().code == "expired"  # after a restart too


def test_the_clock_floor_is_written_at_most_once_a_minute(offline_lease: OfflineLease) -> None:
    client = offline_lease.client()
    path = client.state_path
    with freeze_time(T0 + HOUR) as clock:
        client.state()
        first = path.stat().st_mtime_ns
        clock.tick(30)
        client.state()
        assert path.stat().st_mtime_ns == first  # 30 s later: only in memory
        clock.tick(31)
        client.state()
    saved = LocalState.model_validate_json(path.read_text())
    assert saved.latest_local_time == T0 + HOUR + 61 * SECOND


async def test_a_server_answer_resets_the_local_floor(license_server, make_client) -> None:
    """A clock that once ran ahead does not keep a lease expired once the server answers."""
    client = make_client("a")
    await client.activate(license_server.issue(days=30))
    client.local.seen_local_time(client.local.latest_server_time + timedelta(days=60))
    assert client.state(client.local.latest_server_time).code == "expired"
    state = await client.renew()
    assert state.can_open and client.local.latest_local_time is not None
    assert client.local.latest_local_time < client.local.latest_server_time + HOUR


@pytest.mark.skipif(
    __import__("os").geteuid() != 0, reason="needs root: a data dir of another user"
)
def test_another_users_lease_on_this_machine_says_another_user(
    offline_lease: OfflineLease,
) -> None:
    """Issue 21 item 3: root reading the service's lease is not "another machine", and is not
    told to activate again (which replaced the service's lease)."""
    import os

    from lightspeed_cli.license.fingerprint import machine_fingerprint

    data_dir = offline_lease.tmp_path / "offline-client"  # the client's (license_helpers)
    data_dir.mkdir(exist_ok=True)
    os.chown(data_dir, 65534, 65534)  # nobody's data dir
    theirs = offline_lease.token(machine=machine_fingerprint(user="nobody"))
    client = offline_lease.client(theirs, fingerprint=machine_fingerprint())
    state = client.state(T0 + HOUR)
    assert state.code == "wrong_user" and not state.can_open
    assert "another user, nobody" in state.reason and "another machine" not in state.reason
    assert "do not activate again" in state.reason
