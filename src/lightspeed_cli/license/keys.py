"""License keys: random, human-typeable, self-checking, and never stored or shown in full.

A key is `LS-` followed by 30 Crockford base32 symbols in six groups of five: 26 random symbols
(130 bits) and 4 check symbols. The check is the body, read as a base-32 number, modulo the
prime 1048573 (just under 2**20): since the prime is larger than 32 and coprime to it, every
single mistyped symbol and every swap of two neighbouring body symbols changes the check, so a
typo is caught on the client before any request is sent.

The server stores only `key_hash`; `key_id` names a key in leases, logs and admin listings.
Both are derived one-way from the key.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
PREFIX = "LS"
BODY_LEN = 26  # 130 random bits
CHECK_LEN = 4
KEY_LEN = BODY_LEN + CHECK_LEN
GROUP = 5
CHECK_PRIME = 1_048_573  # largest prime below 2**20; fits in 4 symbols
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})
_VALUES = {c: i for i, c in enumerate(ALPHABET)}


class KeyFormatError(ValueError):
    """The text is not a well-formed license key; the message says what to fix."""


def _to_int(symbols: str) -> int:
    value = 0
    for c in symbols:
        value = value * 32 + _VALUES[c]
    return value


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def check_symbols(body: str) -> str:
    return _encode(_to_int(body) % CHECK_PRIME, CHECK_LEN)


def format_key(symbols: str) -> str:
    groups = [symbols[i : i + GROUP] for i in range(0, len(symbols), GROUP)]
    return "-".join([PREFIX, *groups])


def generate_key() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LEN))
    return format_key(body + check_symbols(body))


def parse_key(text: str) -> str:
    """Return the canonical `LS-…` form, or raise KeyFormatError naming the problem.

    Case, spaces, dashes and the look-alikes I/L (→1) and O (→0) are forgiven; the `LS` prefix
    is optional. Anything else, including a wrong check, is refused.
    """
    compact = "".join(text.split()).replace("-", "").upper()
    if compact.startswith(PREFIX):  # L is not a key symbol, so this is always the prefix
        compact = compact[len(PREFIX) :]
    compact = compact.translate(_LOOKALIKES)
    if len(compact) != KEY_LEN:
        raise KeyFormatError(
            f"a license key has {KEY_LEN} characters after `LS-` (got {len(compact)});"
            " check that it was copied in full"
        )
    bad = sorted({c for c in compact if c not in _VALUES})
    if bad:
        raise KeyFormatError(
            f"a license key never contains {', '.join(repr(c) for c in bad)}; check for a typo"
        )
    body, check = compact[:BODY_LEN], compact[BODY_LEN:]
    if check_symbols(body) != check:
        raise KeyFormatError("this license key has a typo (its check characters do not match)")
    return format_key(compact)


def _digest(purpose: str, canonical_key: str) -> str:
    return hashlib.sha256(f"lightspeed:{purpose}:{canonical_key}".encode()).hexdigest()


def key_hash(canonical_key: str) -> str:
    """What the server stores instead of the key."""
    return _digest("key-hash", canonical_key)


def key_id(canonical_key: str) -> str:
    """A public name for the key (16 hex chars), safe to log and print."""
    return _digest("key-id", canonical_key)[:16]


def mask_key(canonical_key: str) -> str:
    """`LS-ABCDE-…-WXYZ`: enough to recognise a key, far too little to use it."""
    return f"{canonical_key[: len(PREFIX) + 1 + GROUP]}-…-{canonical_key[-4:]}"


def looks_like_key_id(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)
