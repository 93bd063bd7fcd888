"""Config keys as the CLI sees them: dotted names, their kinds, and command-line values.

`lightspeed config set safety.max_leverage 5` gets the string "5"; this module finds the field
behind the dotted key and turns the string into the type the TOML file should hold, so the file
says `max_leverage = 5`, not `max_leverage = "5"`. Range checks stay in the Settings model.
"""

from __future__ import annotations

import difflib
import math
import tomllib
import types
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from lightspeed_cli.config.settings import (
    SECRET_FIELDS,
    ConfigError,
    Settings,
    fields_by_key,
    nested_model,
)


class Kind(StrEnum):
    BOOL = "true or false"
    INT = "a whole number"
    FLOAT = "a number"
    DECIMAL = "a decimal number"
    STR = "text"
    ENUM = "one of"
    STR_LIST = "a list of names"
    SECTION = "section"
    TABLE_LIST = "list of tables"


@dataclass(frozen=True)
class KeySpec:
    """One key of the config: where it is in the TOML file and in the model."""

    key: str  # dotted TOML key, e.g. "copy.follow_existing"
    path: tuple[str, ...]  # TOML keys: ("copy", "follow_existing")
    attrs: tuple[str, ...]  # attribute names: ("copy_", "follow_existing")
    field: FieldInfo
    kind: Kind
    choices: tuple[str, ...] = ()

    @property
    def secret(self) -> bool:
        return self.key in SECRET_FIELDS

    @property
    def allowed(self) -> str:
        """What a value must look like, for messages."""
        if self.kind is Kind.ENUM:
            return "one of " + ", ".join(self.choices)
        if self.kind is Kind.STR_LIST:
            return 'a list: comma separated (BTCUSDT,ETHUSDT) or a TOML array (["BTCUSDT"])'
        return str(self.kind.value)


def _strip_optional(annotation: Any) -> Any:
    """`Annotated[Decimal, ...] | None` -> Decimal."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            annotation = args[0]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _kind(annotation: Any) -> tuple[Kind, tuple[str, ...]]:
    annotation = _strip_optional(annotation)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if item is str:
            return Kind.STR_LIST, ()
        return Kind.TABLE_LIST, ()
    if nested_model(annotation) is not None:
        return Kind.SECTION, ()
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return Kind.ENUM, tuple(str(m.value) for m in annotation)
    simple = {bool: Kind.BOOL, int: Kind.INT, float: Kind.FLOAT, Decimal: Kind.DECIMAL}
    return simple.get(annotation, Kind.STR), ()


def _spec(path: tuple[str, ...], attrs: tuple[str, ...], field: FieldInfo) -> KeySpec:
    kind, choices = _kind(field.annotation)
    return KeySpec(".".join(path), path, attrs, field, kind, choices)


def iter_specs(
    model: type[BaseModel] = Settings, prefix: tuple[str, ...] = (), attrs: tuple[str, ...] = ()
) -> list[KeySpec]:
    """Every key of `model`, depth first, sections included (before their keys)."""
    out: list[KeySpec] = []
    for key, (attr, field) in fields_by_key(model).items():
        spec = _spec((*prefix, key), (*attrs, attr), field)
        out.append(spec)
        if spec.kind is Kind.SECTION:
            sub = nested_model(field.annotation)
            assert sub is not None
            out.extend(iter_specs(sub, spec.path, spec.attrs))
    return out


def leaf_specs() -> list[KeySpec]:
    """The keys `config show` lists: every value outside `[[traders]]`."""
    return [s for s in iter_specs() if s.kind not in (Kind.SECTION, Kind.TABLE_LIST)]


_SECRET_WORDS = ("key", "secret", "session", "token", "password", "lease", "cookie")


def lookup(key: str, model: type[BaseModel] = Settings) -> KeySpec:
    """The spec for a dotted key, or ConfigError saying what keys exist there."""
    specs = {s.key: s for s in iter_specs(model)}
    if key in specs:
        return specs[key]
    parent, _, last = key.rpartition(".")
    parent_spec = specs.get(parent)
    if parent and parent_spec is not None and parent_spec.kind is Kind.SECTION:
        where = f"keys in [{parent}]"
        names = [s.path[-1] for s in specs.values() if s.path[:-1] == parent_spec.path]
    else:
        where = "sections"
        names = [s.key for s in specs.values() if len(s.path) == 1]
    msg = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, list(specs), n=1, cutoff=0.75)
    if close:
        msg += f"; did you mean {close[0]!r}?"
    msg += f" ({where}: {', '.join(names)})"
    if any(word in last.lower() for word in _SECRET_WORDS):
        msg += "; secrets never go in config.toml: use `lightspeed keys set`"
    raise ConfigError(msg)


def settable(key: str) -> KeySpec:
    """A key `config set` can write: a single value, not a section or the trader list."""
    spec = lookup(key)
    if spec.kind is Kind.SECTION:
        keys = ", ".join(s.key for s in iter_specs() if s.path[:-1] == spec.path)
        raise ConfigError(f"{key!r} is a section; set one of its keys: {keys}")
    if spec.kind is Kind.TABLE_LIST:
        raise ConfigError(f"{key!r} is edited with `lightspeed traders add/remove`")
    return spec


# --- values ------------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_cli_value(spec: KeySpec, raw: str) -> Any:
    """Turn a command-line string into the value the TOML file should hold for this key."""
    text = raw.strip()

    def bad() -> ConfigError:
        shown = "" if spec.secret else f" (got {raw!r})"
        return ConfigError(f"{spec.key}: must be {spec.allowed}{shown}")

    if spec.kind is Kind.BOOL:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise bad()
    if spec.kind is Kind.INT:
        try:
            return int(text)
        except ValueError:
            raise bad() from None
    if spec.kind is Kind.FLOAT:
        try:
            number = float(text)
        except ValueError:
            raise bad() from None
        if not math.isfinite(number):
            raise bad()
        return number
    if spec.kind is Kind.DECIMAL:
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise bad() from None
        if not dec.is_finite():
            raise bad()
        return dec
    if spec.kind is Kind.STR_LIST:
        return _parse_list(text, bad)
    if spec.kind in (Kind.SECTION, Kind.TABLE_LIST):
        raise bad()
    return raw  # STR and ENUM: the model says what is allowed


def _parse_list(text: str, bad: Any) -> list[str]:
    if text.startswith("["):
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            raise bad() from None
        if not all(isinstance(v, str) for v in value):
            raise bad()
        return [v.strip() for v in value if v.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def to_toml(value: Any) -> Any:
    """A value tomlkit can write; a Decimal stays exact (a string if a float would round it)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and abs(value) < 2**63:
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, list):
        return [to_toml(v) for v in value]
    return value


def format_value(value: Any) -> str:
    """How `config get` prints a value: TOML spelling, strings bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]"
    return str(value)


def current_value(settings: Settings, spec: KeySpec) -> Any:
    """The effective value of a key in loaded settings."""
    value: Any = settings
    for attr in spec.attrs:
        value = getattr(value, attr)
    return value


def lookup_nested(data: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) for a key path in a parsed TOML dict."""
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
