"""Lease tokens: only what the server key signed, exactly as signed, is accepted."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from lightspeed_cli.license.token import (
    LeasePayload,
    TokenError,
    public_key_from_b64,
    public_key_to_b64,
    sign_lease,
    verify_lease,
)

SERVER_KEY = Ed25519PrivateKey.generate()
PUBLIC = SERVER_KEY.public_key()
PAYLOAD = LeasePayload(
    key_id="0123456789abcdef",
    machine="ab" * 32,
    issued_at=1_900_000_000,
    expires_at=1_902_592_000,
    lease_until=1_900_259_200,
    features=("copy",),
)
TOKEN = sign_lease(PAYLOAD, SERVER_KEY)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resigned(fields: dict[str, object], key: Ed25519PrivateKey = SERVER_KEY) -> str:
    """A token over arbitrary JSON, validly signed by `key`."""
    head = "lsl1." + _b64(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    return f"{head}.{_b64(key.sign(head.encode()))}"


def _expect(token: str, code: str) -> None:
    with pytest.raises(TokenError) as info:
        verify_lease(token, PUBLIC)
    assert info.value.code == code


def test_genuine_token_round_trips() -> None:
    assert verify_lease(TOKEN, PUBLIC) == PAYLOAD


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("machine", "cd" * 32),
        ("lease_until", PAYLOAD.lease_until + 86400 * 365),
        ("expires_at", PAYLOAD.expires_at + 1),
        ("key_id", "fedcba9876543210"),
        ("features", ["copy", "pro"]),
    ],
)
def test_changed_field_with_the_old_signature_is_refused(field: str, value: object) -> None:
    fields = {**PAYLOAD.model_dump(mode="json"), field: value}
    head = "lsl1." + _b64(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    _expect(f"{head}.{TOKEN.split('.')[2]}", "bad_signature")


def test_lease_signed_by_another_key_is_refused() -> None:
    _expect(sign_lease(PAYLOAD, Ed25519PrivateKey.generate()), "bad_signature")


def test_flipped_signature_bit_is_refused() -> None:
    head, sig = TOKEN.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 0x01
    _expect(f"{head}.{_b64(bytes(raw))}", "bad_signature")


@given(st.integers(min_value=0, max_value=len(TOKEN) - 1))
def test_every_truncation_is_refused(cut: int) -> None:
    with pytest.raises(TokenError):
        verify_lease(TOKEN[:cut], PUBLIC)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "lsl1",
        TOKEN + ".",
        TOKEN + "=",
        "lsl2." + TOKEN.split(".", 1)[1],
        TOKEN.replace(".", "..", 1),
        TOKEN[:-2] + "!!",
        "x" * 5000,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        verify_lease(token, PUBLIC)


@pytest.mark.parametrize(
    "fields",
    [
        {**PAYLOAD.model_dump(mode="json"), "admin": True},  # extra field
        {k: v for k, v in PAYLOAD.model_dump(mode="json").items() if k != "machine"},
        {**PAYLOAD.model_dump(mode="json"), "lease_until": "1900259200"},  # wrong type
        {**PAYLOAD.model_dump(mode="json"), "lease_until": 1900259200.5},
        {**PAYLOAD.model_dump(mode="json"), "v": 2},
        {**PAYLOAD.model_dump(mode="json"), "machine": "AB" * 32},
    ],
)
def test_signed_but_off_schema_payload_is_refused(fields: dict[str, object]) -> None:
    """Even the right key's signature does not make an unexpected payload a lease."""
    _expect(_resigned(fields), "malformed")


def test_non_canonical_payload_is_refused() -> None:
    body = json.dumps(PAYLOAD.model_dump(mode="json"), indent=1).encode()
    head = "lsl1." + _b64(body)
    _expect(f"{head}.{_b64(SERVER_KEY.sign(head.encode()))}", "malformed")


def test_public_key_text_round_trips_and_rejects_junk() -> None:
    text = public_key_to_b64(PUBLIC)
    assert public_key_to_b64(public_key_from_b64(text)) == text
    for junk in ("", "not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            public_key_from_b64(junk)
