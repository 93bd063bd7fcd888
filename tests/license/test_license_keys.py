"""License keys: format, entropy, typo detection, and the derived (never reversible) names."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightspeed_cli.license.keys import (
    ALPHABET,
    BODY_LEN,
    KeyFormatError,
    check_symbols,
    format_key,
    generate_key,
    key_hash,
    key_id,
    mask_key,
    parse_key,
)

KEY_SHAPE = re.compile(r"^LS(-[0-9A-HJKMNP-TV-Z]{5}){6}$")
FIXED_KEYS = [
    format_key(body + check_symbols(body)) for body in ("0" * 26, "Z" * 26, "7K3M9" * 5 + "Q")
]


def _symbols(key: str) -> str:
    return key[3:].replace("-", "")


def test_generated_keys_are_well_formed_and_random_enough() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert KEY_SHAPE.match(key)
        assert parse_key(key) == key
    assert BODY_LEN * 5 >= 128  # bits of randomness in the body


@pytest.mark.parametrize("key", FIXED_KEYS)
def test_every_single_substitution_is_caught(key: str) -> None:
    symbols = _symbols(key)
    for i, original in enumerate(symbols):
        for replacement in ALPHABET:
            if replacement == original:
                continue
            typo = symbols[:i] + replacement + symbols[i + 1 :]
            with pytest.raises(KeyFormatError, match="typo"):
                parse_key(format_key(typo))


@given(st.text(alphabet=ALPHABET, min_size=BODY_LEN, max_size=BODY_LEN))
def test_every_neighbour_swap_in_the_body_is_caught(body: str) -> None:
    symbols = body + check_symbols(body)
    for i in range(BODY_LEN - 1):
        if symbols[i] == symbols[i + 1]:
            continue
        swapped = symbols[:i] + symbols[i + 1] + symbols[i] + symbols[i + 2 :]
        with pytest.raises(KeyFormatError):
            parse_key(format_key(swapped))


def test_forgiving_spelling_is_accepted() -> None:
    key = generate_key()
    assert parse_key(key.lower()) == key
    assert parse_key(f"  {key[3:]}  ") == key  # prefix optional
    assert parse_key(_symbols(key)) == key  # no dashes
    spaced = " ".join(key.split("-"))
    assert parse_key(spaced) == key
    body = "01" * 13
    zero_one = format_key(body + check_symbols(body))
    assert parse_key(zero_one.replace("0", "O").replace("1", "l")) == zero_one  # look-alikes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "30 characters"),
        ("LS-ABCDE", "30 characters"),
        (FIXED_KEYS[0] + "0", "30 characters"),
        (FIXED_KEYS[0][:-1] + "U", "never contains 'U'"),
        (FIXED_KEYS[0][:-1] + "*", "never contains"),
    ],
)
def test_malformed_keys_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=re.escape(message)):
        parse_key(text)


def test_derived_names_do_not_reveal_the_key() -> None:
    key = generate_key()
    kid, digest, hint = key_id(key), key_hash(key), mask_key(key)
    assert re.fullmatch(r"[0-9a-f]{16}", kid)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert not digest.startswith(kid)  # two different derivations
    assert hint == f"{key[:8]}-…-{key[-4:]}"
    for name in (kid, digest, hint):
        assert _symbols(key) not in name.replace("-", "").upper()
