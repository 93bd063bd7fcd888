"""The license verdict at a moment, from a verified lease and what the client remembers: pure,
so every expiry, grace and clock-rollback boundary is tested without a server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel

from lightspeed_cli.license.store import LocalState
from lightspeed_cli.license.timefmt import human_duration, stamp
from lightspeed_cli.license.token import LeasePayload

if TYPE_CHECKING:
    from lightspeed_cli.config.sections import LicenseSettings

EXPIRY_WARNING = timedelta(days=7)
CLOSES_STILL_MIRROR = "no new positions are opened (closing and reducing still mirror)"
NO_LEASE = "no license lease found for this data dir"


class LicenseState(BaseModel):
    """What the engine needs to know. `can_open` gates opens/increases only, never closes.

    `valid`: the lease is genuine, for this machine, and the server has not refused it (not
    revoked, not expired). `can_open`: valid, and also fresh enough (offline grace) with a sane
    clock. `reason` says why in a sentence; `warning` is set while running on borrowed time.
    """

    valid: bool
    can_open: bool
    reason: str
    warning: str | None = None
    lease_until: datetime | None = None
    expires_at: datetime | None = None
    code: str = "ok"  # stable: ok, no_lease, bad_lease, wrong_machine, wrong_user, revoked, ...
    grace_until: datetime | None = None  # opening stops then unless the server answers
    key_id: str | None = None
    key_hint: str | None = None
    last_contact: datetime | None = None


class LeaseProblem(Exception):
    """Why a stored lease cannot be used (bad signature, another machine, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def evaluate(
    lease: LeasePayload | None,
    problem: LeaseProblem | None,
    local: LocalState,
    settings: LicenseSettings,
    now: datetime,
    no_lease: str = NO_LEASE,
) -> LicenseState:
    """Pure: the license state at `now` from the verified lease and what the client remembers.

    Expiry and grace are judged at the latest of `now` and every time the client has seen."""
    if problem is not None:
        return LicenseState(
            valid=False,
            can_open=False,
            code=problem.code,
            reason=f"{problem.message}; {CLOSES_STILL_MIRROR}",
        )
    if lease is None:
        return LicenseState(
            valid=False,
            can_open=False,
            code="no_lease",
            reason=f"{no_lease}; {CLOSES_STILL_MIRROR}",
        )
    grace_until = min(lease.lease_end, lease.issued + timedelta(hours=settings.offline_grace_hours))
    known = {
        "lease_until": lease.lease_end,
        "expires_at": lease.expires,
        "grace_until": grace_until,
        "key_id": lease.key_id,
        "key_hint": local.key_hint or None,
        "last_contact": local.last_contact or lease.issued,
    }

    def refused(code: str, reason: str, *, valid: bool = False) -> LicenseState:
        return LicenseState(
            valid=valid,
            can_open=False,
            code=code,
            reason=f"{reason}; {CLOSES_STILL_MIRROR}",
            **known,
        )

    if local.refusal is not None:
        return refused(
            local.refusal.code, f"the license server refused this license: {local.refusal.message}"
        )
    clock_now, now = now, max(now, local.time_floor(), lease.issued)
    if now >= lease.expires:
        return refused("expired", f"the license expired at {stamp(lease.expires)}")
    latest = max(local.latest_server_time or lease.issued, lease.issued)
    if clock_now < latest - timedelta(seconds=settings.clock_tolerance_seconds):
        return refused(
            "clock_rollback",
            f"this machine's clock ({stamp(clock_now)}) is behind the license server's time"
            f" ({stamp(latest)}) by {human_duration(latest - clock_now)}; fix the system clock"
            " (NTP)",
            valid=True,
        )
    if now >= grace_until:
        limit = (
            "the lease ran out"
            if grace_until == lease.lease_end
            else f"the offline grace of {settings.offline_grace_hours:g} h is over"
        )
        return refused(
            "grace_expired",
            f"no contact with the license server since {stamp(lease.issued)}: {limit}"
            f" at {stamp(grace_until)}",
            valid=True,
        )
    warning = None
    if local.last_error:
        warning = (
            f"license server unreachable ({local.last_error}); running on the cached lease:"
            f" new positions stop at {stamp(grace_until)} (in {human_duration(grace_until - now)})"
            " unless it answers"
        )
    elif lease.expires - now < EXPIRY_WARNING:
        warning = (
            f"the license expires at {stamp(lease.expires)}"
            f" (in {human_duration(lease.expires - now)})"
        )
    return LicenseState(
        valid=True,
        can_open=True,
        code="ok",
        reason=f"license valid until {stamp(lease.expires)}",
        warning=warning,
        **known,
    )
