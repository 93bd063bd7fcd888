"""The license server's wire format, shared by server and client so the two cannot drift.

Requests are strict (no unknown fields, no type coercion); responses are read leniently so an
older client keeps working when the server adds a field. Every error is
`{"code": ..., "message": ..., "server_time": ...}` with one of the stable codes below.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from lightspeed_cli.license.token import MAX_TOKEN_LEN

ACTIVATE_PATH = "/v1/activate"
VALIDATE_PATH = "/v1/validate"
DEACTIVATE_PATH = "/v1/deactivate"
HEALTH_PATH = "/v1/health"
FINGERPRINT_PATTERN = r"^[0-9a-f]{64}$"


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    INVALID_REQUEST = "invalid_request"
    MALFORMED_KEY = "malformed_key"
    BODY_TOO_LARGE = "body_too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_KEY = "unknown_key"
    REVOKED = "revoked"
    EXPIRED = "expired"
    SEATS_EXHAUSTED = "seats_exhausted"
    BAD_LEASE = "bad_lease"
    MACHINE_MISMATCH = "machine_mismatch"
    NOT_ACTIVATED = "not_activated"
    BUSY = "busy"  # the database stayed locked: retry after Retry-After seconds
    INTERNAL = "internal_error"


ERROR_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_JSON: 400,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.MALFORMED_KEY: 422,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNKNOWN_KEY: 403,
    ErrorCode.REVOKED: 403,
    ErrorCode.EXPIRED: 403,
    ErrorCode.SEATS_EXHAUSTED: 409,
    ErrorCode.BAD_LEASE: 401,
    ErrorCode.MACHINE_MISMATCH: 403,
    ErrorCode.NOT_ACTIVATED: 403,
    ErrorCode.BUSY: 503,
    ErrorCode.INTERNAL: 500,
}

# The server's definite "no" for this license: the client stops opening positions at once.
# Anything else (network, 5xx, 429, garbage) is "could not ask" and the offline grace applies.
REFUSAL_CODES = frozenset(
    {
        ErrorCode.UNKNOWN_KEY,
        ErrorCode.REVOKED,
        ErrorCode.EXPIRED,
        ErrorCode.BAD_LEASE,
        ErrorCode.MACHINE_MISMATCH,
        ErrorCode.NOT_ACTIVATED,
    }
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ActivateRequest(_Request):
    key: str = Field(min_length=1, max_length=80)
    machine: str = Field(pattern=FINGERPRINT_PATTERN)


class LeaseRequest(_Request):
    """Heartbeat and deactivation: the lease itself proves which activation this is."""

    lease: str = Field(min_length=1, max_length=MAX_TOKEN_LEN)
    machine: str = Field(pattern=FINGERPRINT_PATTERN)


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server_time: datetime


class LeaseResponse(_Response):
    lease: str
    public_key: str
    key_id: str
    seats: int
    seats_used: int
    expires_at: datetime
    lease_until: datetime


class DeactivateResponse(_Response):
    key_id: str
    seats_used: int


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str
    message: str
    server_time: datetime | None = None
