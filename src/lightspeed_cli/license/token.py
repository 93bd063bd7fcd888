"""Ed25519-signed lease tokens: `lsl1.<base64url(canonical JSON)>.<base64url(signature)>`.

The signature covers `lsl1.<payload part>` exactly as sent, so a changed field, a re-encoded
payload, a truncated token or another server's key all fail verification. After the signature,
the payload must also be the canonical JSON of a `LeasePayload` with no unknown or mistyped
field: the server never signs anything else, so anything else is a forgery or a bug.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

TOKEN_PREFIX = "lsl1"
MAX_TOKEN_LEN = 2048
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
SIGNATURE_LEN = 64
PUBLIC_KEY_LEN = 32


class TokenError(ValueError):
    """The lease token is not one this server key signed; `code` says how it failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LeasePayload(BaseModel):
    """What the server vouches for. Times are whole UTC seconds so the JSON is canonical."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    v: int = Field(default=1, ge=1, le=1)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    machine: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: int = Field(ge=0)
    expires_at: int = Field(ge=0)
    lease_until: int = Field(ge=0)
    features: tuple[str, ...] = ()

    @property
    def issued(self) -> datetime:
        return from_epoch(self.issued_at)

    @property
    def expires(self) -> datetime:
        return from_epoch(self.expires_at)

    @property
    def lease_end(self) -> datetime:
        return from_epoch(self.lease_until)


def to_epoch(when: datetime) -> int:
    return int(when.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def canonical_json(payload: BaseModel) -> bytes:
    return json.dumps(
        payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(part: str, which: str, what: str = "lease") -> bytes:
    if not _B64URL.match(part):
        raise TokenError("malformed", f"{what} {which} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", f"{what} {which} is not base64url") from None


def sign_envelope(prefix: str, body: bytes, key: Ed25519PrivateKey) -> str:
    """`<prefix>.<base64url(body)>.<base64url(signature over the first two parts)>`: the
    shape of a lease, and of every other message a LightSpeed server signs (relay books)."""
    head = f"{prefix}.{_b64encode(body)}"
    return f"{head}.{_b64encode(key.sign(head.encode()))}"


def open_envelope(
    prefix: str, token: str, public_key: Ed25519PublicKey, *, what: str, max_len: int
) -> bytes:
    """The body of a genuine envelope, or TokenError (`malformed` or `bad_signature`)."""
    if not isinstance(token, str) or len(token) > max_len:
        raise TokenError("malformed", f"{what} is not a token of a sane size")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix:
        raise TokenError(
            "malformed", f"{what} does not have the {prefix}.<payload>.<signature> shape"
        )
    body = _b64decode(parts[1], "payload", what)
    signature = _b64decode(parts[2], "signature", what)
    if len(signature) != SIGNATURE_LEN or _b64encode(signature) != parts[2]:
        raise TokenError("malformed", f"{what} signature is truncated or padded")
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature:
        raise TokenError(
            "bad_signature", f"{what} signature does not match the server key"
        ) from None
    return body


def sign_lease(payload: LeasePayload, key: Ed25519PrivateKey) -> str:
    return sign_envelope(TOKEN_PREFIX, canonical_json(payload), key)


def verify_lease(token: str, public_key: Ed25519PublicKey) -> LeasePayload:
    """Return the payload of a genuine token, or raise TokenError."""
    body = open_envelope(TOKEN_PREFIX, token, public_key, what="lease", max_len=MAX_TOKEN_LEN)
    try:
        payload = LeasePayload.model_validate_json(body)
    except ValidationError:
        raise TokenError("malformed", "lease payload is not a valid lease") from None
    if canonical_json(payload) != body:
        raise TokenError("malformed", "lease payload is not canonical")
    return payload


def public_key_to_b64(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse the base64 raw public key the server prints; ValueError with a clear message."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the license public key is not valid base64") from None
    if len(raw) != PUBLIC_KEY_LEN:
        raise ValueError(f"the license public key must be {PUBLIC_KEY_LEN} bytes (got {len(raw)})")
    return Ed25519PublicKey.from_public_bytes(raw)
