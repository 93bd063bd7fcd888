"""configfile / configkeys as plain functions: atomic writes, value parsing, TOML spelling."""

from __future__ import annotations

import os
import threading
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from lightspeed_cli.config.editing import edit_config, set_value, write_atomic
from lightspeed_cli.config.keys import Kind, parse_cli_value, settable, to_toml
from lightspeed_cli.config.settings import ConfigError


def test_write_atomic_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "d" / "c.toml"
    write_atomic(target, "a = 1\n")
    write_atomic(target, "a = 2\n")
    assert target.read_text(encoding="utf-8") == "a = 2\n"
    assert os.listdir(target.parent) == ["c.toml"]


def test_write_atomic_keeps_crlf(tmp_path: Path) -> None:
    target = tmp_path / "c.toml"
    write_atomic(target, "a = 1\r\nb = 2\r\n")
    assert target.read_bytes() == b"a = 1\r\nb = 2\r\n"


def test_failed_change_writes_nothing_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "c.toml"
    target.parent.mkdir()
    target.write_text("# keep me\n[safety]\nmax_leverage = 3\n", encoding="utf-8")
    before = target.read_bytes()

    def bad(doc: object) -> None:
        raise ConfigError("nope")

    with pytest.raises(ConfigError):
        edit_config(target, bad)
    with pytest.raises(ConfigError, match="safety.max_leverage"):
        edit_config(target, lambda doc: set_value(doc, ("safety", "max_leverage"), 0))
    assert target.read_bytes() == before
    assert os.listdir(target.parent) == ["c.toml"]


def test_concurrent_edits_do_not_lose_updates(tmp_path: Path) -> None:
    target = tmp_path / "c.toml"
    target.write_text("", encoding="utf-8")
    keys = [
        ("safety", "max_leverage", 7),
        ("safety", "max_open_positions", 9),
        ("polling", "concurrency", 11),
        ("polling", "retries", 3),
        ("sizing", "leverage", 4),
        ("logging", "json_lines", True),
    ]

    def worker(section: str, key: str, value: object) -> None:
        for _ in range(5):
            edit_config(target, lambda doc: set_value(doc, (section, key), value))

    threads = [threading.Thread(target=worker, args=k) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = tomllib.loads(target.read_text(encoding="utf-8"))
    for section, key, value in keys:
        assert data[section][key] == value


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("copy.follow_existing", "TRUE", True),
        ("copy.follow_existing", "on", True),
        ("copy.follow_existing", "0", False),
        ("safety.max_leverage", " 12 ", 12),
        ("safety.max_leverage", "1_000", 1000),
        ("polling.interval_seconds", "1e-1", 0.1),
        ("sizing.value", "0.30", Decimal("0.30")),
        ("safety.allow_symbols", "a,,b , ", ["a", "b"]),
        ("safety.allow_symbols", '[" a ", "b"]', ["a", "b"]),
        ("bybit.base_url", "  http://127.0.0.1:1  ", "  http://127.0.0.1:1  "),
    ],
)
def test_parse_cli_value(key: str, raw: str, expected: object) -> None:
    assert parse_cli_value(settable(key), raw) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("copy.follow_existing", "maybe"),
        ("safety.max_leverage", "1.5"),
        ("polling.interval_seconds", "nan"),
        ("polling.interval_seconds", "-inf"),
        ("sizing.value", "Infinity"),
        ("sizing.value", "1/2"),
        ("safety.allow_symbols", "[1"),
        ("safety.allow_symbols", "[true]"),
    ],
)
def test_parse_cli_value_rejects(key: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_cli_value(settable(key), raw)


def test_enum_keys_say_what_is_allowed() -> None:
    spec = settable("sizing.mode")
    assert spec.kind is Kind.ENUM
    assert spec.allowed == "one of ratio, fixed_margin, equity_pct, leader_equity"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("5"), 5),
        (Decimal("5E+3"), 5000),
        (Decimal("0.1"), 0.1),
        (Decimal("0.12345678901234567891"), "0.12345678901234567891"),
        (Decimal("-2.5"), -2.5),
        ([Decimal("1"), "x"], [1, "x"]),
    ],
)
def test_to_toml_keeps_decimals_exact(value: object, expected: object) -> None:
    out = to_toml(value)
    assert out == expected and type(out) is type(expected)
    if isinstance(value, Decimal):
        assert Decimal(str(out)) == value
