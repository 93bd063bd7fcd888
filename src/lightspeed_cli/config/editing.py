"""Editing config.toml in place: comments kept, validated before writing, written atomically.

Every edit goes through `edit_config`: read the document with tomlkit, apply a change, check the
whole resulting file through the Settings model (without the environment, so the file is valid
on its own), then replace the file in one rename. A refused edit leaves the file byte for byte
as it was.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Table
from tomlkit.toml_document import TOMLDocument

from lightspeed_cli.config.atomicfile import write_atomic
from lightspeed_cli.config.keys import to_toml
from lightspeed_cli.config.settings import ConfigError, Settings, read_toml, validate_file_data

NEW_FILE_HEADER = (
    "# LightSpeed config. Every key with its unit and default: `lightspeed config init --force`\n"
    "# writes the commented example (config.example.toml); `lightspeed config show` lists them.\n"
)
EXAMPLE_NAME = "config.example.toml"


def example_config_text() -> str:
    """The commented example config: shipped in the wheel, or at the top of a source checkout."""
    shipped = resources.files("lightspeed_cli").joinpath(EXAMPLE_NAME)
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[3] / EXAMPLE_NAME
    try:
        return checkout.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{EXAMPLE_NAME} is missing from this installation") from None


# --- reading and writing -----------------------------------------------------------------------


def read_document(path: Path) -> TOMLDocument:
    """The file as an editable tomlkit document; ConfigError if missing, unreadable or bad TOML."""
    read_toml(path)  # same wording as every other command for missing / unreadable / bad TOML
    try:
        return tomlkit.parse(path.read_bytes().decode("utf-8"))
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


@contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    """Serialise concurrent edits of files in one directory (flock on the directory itself)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the rename is still atomic
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        with suppress(OSError):  # a filesystem without flock (some NFS): rename still atomic
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def edit_config(
    path: Path, change: Callable[[TOMLDocument], None], *, create: bool = False
) -> Settings:
    """Apply `change` to the file, validate the result, write it atomically; return the result.

    With `create`, a missing file starts as an empty document. Any ConfigError (from `change`
    or from validation) leaves the file untouched.
    """
    target = Path(os.path.realpath(path))
    if create:
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot create its directory: {exc.strerror}") from None
    elif not target.parent.is_dir():
        read_document(path)  # raises the usual "no config file here"
    with _dir_lock(target.parent):
        if create and not target.exists():
            doc = tomlkit.parse(NEW_FILE_HEADER)
        else:
            doc = read_document(path)
        change(doc)
        text = doc.as_string()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # a tomlkit edit that would not read back
            raise ConfigError(f"{path}: the edit would make the file unreadable: {exc}") from None
        settings = validate_file_data(data, str(path))
        try:
            write_atomic(target, text)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
    return settings


# --- document edits ----------------------------------------------------------------------------


def set_value(doc: TOMLDocument, path: tuple[str, ...], value: Any) -> None:
    """Set a dotted key, creating its table if needed; comments around it are kept."""
    *tables, key = path
    node: Any = doc
    for name in tables:
        if name not in node:
            node[name] = tomlkit.table()
        node = node[name]
        if not isinstance(node, Table | dict):
            raise ConfigError(f"{'.'.join(path)}: {name!r} in the file is not a table")
    node[key] = to_toml(value)


def unset_value(doc: TOMLDocument, path: tuple[str, ...]) -> bool:
    """Remove a key (back to its default). False if it was not in the file."""
    *tables, key = path
    node: Any = doc
    for name in tables:
        if not isinstance(node, Table | dict) or name not in node:
            return False
        node = node[name]
    if not isinstance(node, Table | dict) or key not in node:
        return False
    del node[key]
    return True


def _traders(doc: TOMLDocument) -> AoT | Array | None:
    existing = doc.get("traders")
    if existing is None:
        return None
    if not isinstance(existing, AoT | Array):
        raise ConfigError("traders: must be a list of [[traders]] tables")
    return existing


def trader_ids(doc: TOMLDocument) -> list[str]:
    return [str(t.get("id", "")) for t in _traders(doc) or [] if isinstance(t, dict)]


def add_trader(doc: TOMLDocument, entry: dict[str, Any]) -> None:
    """Append one `[[traders]]` table (a `[traders.sizing]` sub-table when given)."""
    table = tomlkit.table()
    last = table
    for key, value in entry.items():
        if isinstance(value, dict):
            last = tomlkit.table()
            for sub_key, sub_value in value.items():
                last[sub_key] = to_toml(sub_value)
            table[key] = last
        else:
            table[key] = to_toml(value)
    last.add(tomlkit.nl())  # a blank line before whatever table follows
    existing = _traders(doc)
    if existing is None or (isinstance(existing, Array) and len(existing) == 0):
        if existing is not None:
            del doc["traders"]
        doc.add(tomlkit.nl())
        doc.append("traders", tomlkit.aot())
        existing = _traders(doc)
    if isinstance(existing, Array):  # `traders = [{...}]` written inline by hand
        inline = tomlkit.inline_table()
        inline.update(_plain(entry))
        existing.append(inline)
        return
    assert isinstance(existing, AoT)
    existing.append(table)


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, dict) else to_toml(v) for k, v in entry.items()}


def remove_trader(doc: TOMLDocument, ref: str) -> str | None:
    """Remove the `[[traders]]` entry whose id, else whose label, is `ref`; its id, or None.

    A label that more than one trader carries removes nothing: ConfigError names their ids.
    """
    existing = _traders(doc)
    if existing is None:
        return None
    entries = [(i, t) for i, t in enumerate(existing) if isinstance(t, dict)]
    matches = [(i, t) for i, t in entries if str(t.get("id")) == ref]
    if not matches:
        matches = [(i, t) for i, t in entries if str(t.get("label", "")) == ref and ref]
    if len(matches) > 1:
        ids = ", ".join(str(t.get("id")) for _, t in matches)
        raise ConfigError(f"label {ref!r} is on {len(matches)} traders ({ids}): remove by id")
    if not matches:
        return None
    index, item = matches[0]
    del existing[index]
    if len(existing) == 0:
        del doc["traders"]
    return str(item.get("id"))
