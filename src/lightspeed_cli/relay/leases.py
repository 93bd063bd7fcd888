"""Is this lease good for the relay right now? Checked at connect, on renewal and on a period.

The relay shares the license server's database and trusts its public key: a lease is good when
the license server signed it, it names the machine that presents it, it has not run out, its
key is neither revoked nor expired, and that machine still holds a seat of the key. Each
refusal has a `code` and a short reason the client shows (a WebSocket close reason: <= 123
bytes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lightspeed_cli.license.db import KeyStatus, LicenseDB
from lightspeed_cli.license.token import LeasePayload, TokenError, verify_lease

CLOSE_LEASE_REFUSED = 4401  # WebSocket close code: bad, lapsed or foreign lease
CLOSE_REVOKED = 4403


class LeaseRefused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason

    @property
    def close_code(self) -> int:
        return CLOSE_REVOKED if self.code == "revoked" else CLOSE_LEASE_REFUSED


def utcnow() -> datetime:
    return datetime.now(UTC)


class LeaseChecker:
    def __init__(
        self,
        db: LicenseDB,
        license_key: Ed25519PublicKey,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._key = license_key
        self._clock = clock

    def check(self, lease: str, machine: str) -> LeasePayload:
        """The lease's payload, or LeaseRefused. Blocking (SQLite): call it in a thread."""
        try:
            payload = verify_lease(lease, self._key)
        except TokenError:
            raise LeaseRefused("bad_lease", "the license server did not issue this lease") from None
        if payload.machine != machine:
            raise LeaseRefused("machine_mismatch", "this lease was issued to another machine")
        now = self._clock()
        if now >= payload.lease_end:
            raise LeaseRefused("lease_expired", "the lease ran out; renew the license")
        record = self._db.get(payload.key_id)
        if record is None:
            raise LeaseRefused("unknown_key", "the license key is not known")
        status = record.status(now)
        if status is KeyStatus.REVOKED:
            raise LeaseRefused("revoked", "the license key was revoked")
        if status is KeyStatus.EXPIRED:
            raise LeaseRefused("expired", "the license key expired")
        if not any(seat.machine == machine for seat in self._db.seats(payload.key_id)):
            raise LeaseRefused("not_activated", "this machine's seat was released")
        return payload
