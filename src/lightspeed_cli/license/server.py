"""The license server: a small starlette JSON API over the SQLite key store.

`LicenseService` holds the decisions (which key, which seat, which lease) and knows nothing of
HTTP; `create_app` wraps it with the HTTP rules: bounded bodies (413), strict pydantic
validation (400/422), JSON errors with a stable `code`, and never a 500 for bad input.
Activation attempts are rate-limited per client IP and per key. Every answer carries
`server_time`, which clients use to notice a clock turned back.

Database work runs in worker threads, so a request waiting on the SQLite lock never stalls the
event loop (`/v1/health` keeps answering); a lock held past `db_busy_timeout_seconds` is a 503
with Retry-After. A client hanging up mid-request is one INFO line. Connection-level limits
(cap, header and body timeouts) live in `listener.py`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lightspeed_cli.license.db import (
    DatabaseBusy,
    KeyRecord,
    KeyStatus,
    LicenseDB,
    SeatsExhausted,
)
from lightspeed_cli.license.keys import KeyFormatError, parse_key
from lightspeed_cli.license.protocol import (
    ACTIVATE_PATH,
    DEACTIVATE_PATH,
    ERROR_STATUS,
    HEALTH_PATH,
    VALIDATE_PATH,
    ActivateRequest,
    DeactivateResponse,
    ErrorCode,
    LeaseRequest,
    LeaseResponse,
)
from lightspeed_cli.license.ratelimit import SlidingWindowLimiter
from lightspeed_cli.license.token import (
    LeasePayload,
    TokenError,
    public_key_to_b64,
    sign_lease,
    to_epoch,
    verify_lease,
)

log = logging.getLogger(__name__)
KEY_FILE = "license-server.key"
_M = TypeVar("_M", bound=BaseModel)


MAX_LEASE_HOURS = 24 * 366.0


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # longest a client may run without contact; past a year a lease defeats revocation (and
    # 1e12 hours overflowed every activation into a 500)
    lease_hours: float = Field(default=72, gt=0, le=MAX_LEASE_HOURS, allow_inf_nan=False)
    max_body_bytes: int = Field(default=4096, gt=0)
    activate_per_ip: int = Field(default=10, ge=1)
    activate_per_key: int = Field(default=5, ge=1)
    rate_window_seconds: float = Field(default=60, gt=0)
    # Abuse limits (listener.py): open connections, and how long a request may take to arrive.
    max_connections: int = Field(default=500, ge=1)
    header_timeout_seconds: float = Field(default=5, gt=0)
    body_timeout_seconds: float = Field(default=5, gt=0)
    # Longest a request waits for the SQLite lock before it is answered 503 + Retry-After.
    db_busy_timeout_seconds: float = Field(default=5, gt=0)
    busy_retry_after_seconds: float = Field(default=5, gt=0)


class ApiError(Exception):
    def __init__(self, code: ErrorCode, message: str, *, retry_after: float = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def utcnow() -> datetime:
    return datetime.now(UTC)


def load_or_create_signing_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """Read the Ed25519 key, creating it (mode 0600) on first start. Returns (key, created)."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(
                f"{path}: the signing key is readable by others (mode {mode:o}); chmod 600 it"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return key, False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key, True


class LicenseService:
    """The server's decisions, free of HTTP so they can be read (and tested) on their own."""

    def __init__(
        self,
        db: LicenseDB,
        signing_key: Ed25519PrivateKey,
        config: ServerConfig | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.config = config or ServerConfig()
        self._key = signing_key
        self._public = signing_key.public_key()
        self.public_key = public_key_to_b64(self._public)
        self.now = clock
        window = self.config.rate_window_seconds
        self.ip_limiter = SlidingWindowLimiter(self.config.activate_per_ip, window)
        self.key_limiter = SlidingWindowLimiter(self.config.activate_per_key, window)

    @staticmethod
    def _limit(limiter: SlidingWindowLimiter, bucket: str, what: str) -> None:
        wait = limiter.hit(bucket)
        if wait:
            raise ApiError(
                ErrorCode.RATE_LIMITED,
                f"too many activation attempts {what}; retry in {wait:.0f} s",
                retry_after=wait,
            )

    def _usable(self, record: KeyRecord | None) -> tuple[KeyRecord, datetime]:
        """The key record and the time of the decision, or the refusal for a dead key."""
        if record is None:
            raise ApiError(ErrorCode.UNKNOWN_KEY, "this license key is not known to the server")
        now = self.now()
        status = record.status(now)
        if status is KeyStatus.REVOKED:
            raise ApiError(ErrorCode.REVOKED, "this license key was revoked; contact your provider")
        if status is KeyStatus.EXPIRED:
            raise ApiError(
                ErrorCode.EXPIRED,
                f"this license key expired on {record.expires_at:%Y-%m-%d %H:%M} UTC;"
                " ask your provider to extend it",
            )
        return record, now

    def _lease(self, record: KeyRecord, machine: str, now: datetime) -> LeaseResponse:
        lease_until = min(now + timedelta(hours=self.config.lease_hours), record.expires_at)
        payload = LeasePayload(
            key_id=record.key_id,
            machine=machine,
            issued_at=to_epoch(now),
            expires_at=to_epoch(record.expires_at),
            lease_until=to_epoch(lease_until),
            features=record.features,
        )
        return LeaseResponse(
            lease=sign_lease(payload, self._key),
            public_key=self.public_key,
            key_id=record.key_id,
            seats=record.seats,
            seats_used=record.seats_used,
            expires_at=payload.expires,
            lease_until=payload.lease_end,
            server_time=now,
        )

    def activate(self, req: ActivateRequest, client_ip: str) -> LeaseResponse:
        self._limit(self.ip_limiter, client_ip, "from your address")
        try:
            key = parse_key(req.key)
        except KeyFormatError as exc:
            raise ApiError(ErrorCode.MALFORMED_KEY, str(exc)) from None
        self._limit(self.key_limiter, hashlib.sha256(key.encode()).hexdigest(), "for this key")
        record, now = self._usable(self.db.get_by_key(key))
        try:
            record = self.db.activate(record.key_id, req.machine, now)
        except SeatsExhausted as exc:
            raise ApiError(
                ErrorCode.SEATS_EXHAUSTED,
                f"all {exc.record.seats} seat(s) of this license key are in use; run"
                " `lightspeed license deactivate` on a machine you no longer use,"
                " or ask your provider for more seats",
            ) from None
        log.info(
            "activated key %s on machine %s… (%d/%d seats)",
            record.key_id,
            req.machine[:8],
            record.seats_used,
            record.seats,
        )
        return self._lease(record, req.machine, now)

    def _lease_record(self, req: LeaseRequest) -> LeasePayload:
        try:
            payload = verify_lease(req.lease, self._public)
        except TokenError:
            raise ApiError(
                ErrorCode.BAD_LEASE,
                "this server did not issue that lease; run `lightspeed license activate` again",
            ) from None
        if payload.machine != req.machine:
            raise ApiError(ErrorCode.MACHINE_MISMATCH, "this lease was issued to another machine")
        return payload

    def validate(self, req: LeaseRequest) -> LeaseResponse:
        payload = self._lease_record(req)
        record, now = self._usable(self.db.get(payload.key_id))
        if not self.db.touch(record.key_id, req.machine, now):
            raise ApiError(
                ErrorCode.NOT_ACTIVATED,
                "this machine's seat was released; run `lightspeed license activate` again",
            )
        return self._lease(record, req.machine, now)

    def deactivate(self, req: LeaseRequest) -> DeactivateResponse:
        payload = self._lease_record(req)
        if not self.db.deactivate(payload.key_id, req.machine):
            raise ApiError(ErrorCode.NOT_ACTIVATED, "this machine holds no seat of that key")
        record = self.db.get(payload.key_id)
        log.info("deactivated key %s on machine %s…", payload.key_id, req.machine[:8])
        return DeactivateResponse(
            key_id=payload.key_id,
            seats_used=record.seats_used if record else 0,
            server_time=self.now(),
        )


# --- HTTP ---------------------------------------------------------------------------------


def _error(service: LicenseService, err: ApiError, **extra: Any) -> JSONResponse:
    body = {"code": err.code.value, "message": err.message, **extra}
    body["server_time"] = service.now().isoformat()
    headers = {}
    if err.retry_after:
        headers["Retry-After"] = SlidingWindowLimiter.retry_after_header(err.retry_after)
    return JSONResponse(body, status_code=ERROR_STATUS[err.code], headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = ApiError(ErrorCode.BODY_TOO_LARGE, f"request body is larger than {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(model: type[_M], body: bytes) -> _M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise ApiError(ErrorCode.BAD_JSON, "request body is not valid JSON") from None
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors
        )
        raise ApiError(ErrorCode.INVALID_REQUEST, f"invalid request: {detail}") from None


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _endpoint(
    service: LicenseService,
    model: type[BaseModel],
    handle: Callable[[Any, str], BaseModel],
) -> Callable[[Request], Awaitable[Response]]:
    """One JSON POST route: bounded body → strict model → service call (in a worker thread,
    as it waits on SQLite) → JSON or error."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, service.config.max_body_bytes)
            result = await run_in_threadpool(handle, _parse(model, body), _client_ip(request))
        except ApiError as err:
            return _error(service, err)
        except ClientDisconnect:
            log.info(
                "%s %s from %s ended before its body was complete (the client hung up, or"
                " was dropped by the body timeout or the connection cap)",
                request.method,
                request.url.path,
                _client_ip(request),
            )
            return Response(status_code=400)  # nobody is left to read it
        except DatabaseBusy as exc:
            log.warning("%s: answered 503 busy (%s)", request.url.path, exc)
            busy = ApiError(
                ErrorCode.BUSY,
                "the license database is busy; retry shortly",
                retry_after=service.config.busy_retry_after_seconds,
            )
            return _error(service, busy)
        return JSONResponse(result.model_dump(mode="json"))

    return endpoint


def create_app(service: LicenseService) -> Starlette:
    async def health(request: Request) -> Response:
        return JSONResponse(
            {"ok": True, "server_time": service.now().isoformat(), "public_key": service.public_key}
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.INVALID_REQUEST
        )
        response = _error(service, ApiError(code, str(exc.detail)))
        response.status_code = exc.status_code
        return response

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("license server bug on %s", request.url.path, exc_info=exc)
        return _error(service, ApiError(ErrorCode.INTERNAL, "internal error; see the server log"))

    routes: list[tuple[str, type[BaseModel], Callable[[Any, str], BaseModel]]] = [
        (ACTIVATE_PATH, ActivateRequest, service.activate),
        (VALIDATE_PATH, LeaseRequest, lambda req, ip: service.validate(req)),
        (DEACTIVATE_PATH, LeaseRequest, lambda req, ip: service.deactivate(req)),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: http_error,
        Exception: crash,
    }
    return Starlette(
        routes=[
            *(Route(p, _endpoint(service, m, h), methods=["POST"]) for p, m, h in routes),
            Route(HEALTH_PATH, health, methods=["GET"]),
        ],
        exception_handlers=handlers,
    )


def build_service(
    db_path: Path, key_file: Path, config: ServerConfig | None = None
) -> tuple[LicenseService, bool]:
    """Open the store and the signing key (created on first start). Returns (service, created)."""
    config = config or ServerConfig()
    database = LicenseDB(db_path, busy_timeout=config.db_busy_timeout_seconds)  # refused first
    try:
        signing_key, created = load_or_create_signing_key(key_file)
    except BaseException:
        database.close()
        raise
    return LicenseService(database, signing_key, config), created
