"""The engine's license gate: the reason for refusing opens, announced once per change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from freezegun import freeze_time
from license_helpers import T0, OfflineLease

from lightspeed_cli.license.gate import LicenseGate, license_summary, license_text


def test_closing_only_is_announced_once_and_resuming_too(offline_lease: OfflineLease) -> None:
    said: list[tuple[str, str]] = []
    gate = LicenseGate(offline_lease.client(offline_grace_hours=1), lambda *a: said.append(a))
    with freeze_time(T0 + timedelta(minutes=30)) as clock:
        assert gate.refusal() is None and said == []  # valid from the start: nothing said
        clock.tick(timedelta(hours=1))
        reason = gate.refusal()
        assert reason is not None and "offline grace of 1 h is over" in reason
        gate.refusal()
    assert said == [("error", f"license: CLOSING ONLY mode: {reason}")]


def test_a_bad_license_from_the_start_is_announced(offline_lease: OfflineLease) -> None:
    said: list[tuple[str, str]] = []
    gate = LicenseGate(offline_lease.client("not-a-lease"), lambda *a: said.append(a))
    assert gate.refusal() is not None
    assert len(said) == 1 and said[0][0] == "error" and "CLOSING ONLY" in said[0][1]


def test_no_license_client_never_refuses() -> None:
    assert LicenseGate(None, lambda *a: None).refusal() is None


async def test_watch_announces_a_lapse_without_any_signal(offline_lease: OfflineLease) -> None:
    said: list[tuple[str, str]] = []
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)  # real time: asyncio needs it
    client = offline_lease.client(offline_lease.token(issued=two_hours_ago), offline_grace_hours=1)
    gate = LicenseGate(client, lambda *a: said.append(a))
    stop = asyncio.Event()
    task = asyncio.create_task(gate.watch(stop, every=0.01))
    await asyncio.sleep(0.05)
    stop.set()
    await task
    assert len(said) == 1 and "CLOSING ONLY" in said[0][1]


def test_status_line_is_red_when_closing_only(offline_lease: OfflineLease) -> None:
    client = offline_lease.client(offline_grace_hours=1)
    good = client.state(T0 + timedelta(minutes=1))
    assert license_text(good).style == "green" and license_summary(good) == "valid"
    bad = client.state(T0 + timedelta(hours=2))
    text = license_text(bad)
    assert text.style == "bold red" and text.plain.startswith("CLOSING ONLY: ")
