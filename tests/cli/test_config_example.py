"""config.example.toml cannot drift from the Settings model: every field, its real default."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lightspeed_cli.config.editing import example_config_text
from lightspeed_cli.config.settings import Settings, fields_by_key, nested_model, validate_file_data

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
BLOCK = re.compile(r"^# >>> example trader\n(.*?)^# <<< example trader\n", re.S | re.M)


def example_with_trader_uncommented() -> str:
    """The example with its commented `[[traders]]` block switched on."""
    text = EXAMPLE.read_text(encoding="utf-8")
    match = BLOCK.search(text)
    assert match, "the example trader block markers are missing"
    lines = [line.removeprefix("#").removeprefix(" ") for line in match.group(1).splitlines()]
    return text[: match.start()] + "\n".join(lines) + "\n" + text[match.end() :]


def missing_keys(model: type[BaseModel], data: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field of `model` (recursively) that `data` does not spell out."""
    missing = []
    for key, (_, field) in fields_by_key(model).items():
        dotted = f"{prefix}{key}"
        if key not in data:
            missing.append(dotted)
            continue
        sub = nested_model(field.annotation)
        if sub is None:
            continue
        values = data[key] if isinstance(data[key], list) else [data[key]]
        if not values:
            missing.append(f"{dotted}[] (no example entry)")
        for value in values:
            missing.extend(missing_keys(sub, value, dotted + "."))
    return missing


def test_the_shipped_text_is_the_file_at_the_top() -> None:
    assert example_config_text() == EXAMPLE.read_text(encoding="utf-8")


def test_example_loads_and_every_value_is_the_default() -> None:
    loaded = validate_file_data(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")), "example")
    assert loaded.model_dump() == Settings().model_dump()


def test_example_names_every_field_of_the_model() -> None:
    data = tomllib.loads(example_with_trader_uncommented())
    assert missing_keys(Settings, data) == []


def test_example_trader_is_valid() -> None:
    data = tomllib.loads(example_with_trader_uncommented())
    settings = validate_file_data(data, "example")
    (trader,) = settings.traders
    assert trader.sizing is not None


def test_every_key_has_a_comment_with_its_default() -> None:
    """Each `key = value` line is preceded by a comment block that says `Default:`."""
    lines = example_with_trader_uncommented().splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"^[a-z_]+ = ", line):
            continue
        j = i - 1
        comment = []
        while j >= 0 and lines[j].startswith("#"):
            comment.append(lines[j])
            j -= 1
        assert comment, f"no comment above {line!r}"
        # per-trader overrides default to the [sizing] value, so they need no "Default:"
        if "[traders.sizing]" not in lines[:i]:
            assert any("Default" in c or "Required" in c for c in comment), line
