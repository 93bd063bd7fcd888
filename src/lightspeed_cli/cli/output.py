"""Machine-readable output: one `--json` option and one way to print it, for every command.

The JSON goes to stdout alone (no rich markup, no wrapping), so `lightspeed status --json | jq`
works. Keys are stable and documented in the README; secrets appear only as masked on screen.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import typer

JSON_HELP = "Print JSON (stable keys, see the README) instead of tables."

# Set by the `--json` flag as it is parsed: `fail` then prints the error as JSON on stdout too.
_JSON_ERRORS: ContextVar[bool] = ContextVar("lightspeed_json_errors", default=False)


def _json_flag(value: bool) -> bool:
    if value:
        _JSON_ERRORS.set(True)
    return value


def json_option(help: str = JSON_HELP) -> Any:
    """The `--json` flag, the same on every command that has it: errors become JSON too."""
    return typer.Option(False, "--json", help=help, callback=_json_flag)


def json_errors() -> bool:
    """Whether this invocation asked for JSON (so an error is `{"error", "code"}` on stdout)."""
    return _JSON_ERRORS.get()


def reset_json_errors() -> None:
    """At the start of each invocation (CliRunner runs many in one process)."""
    _JSON_ERRORS.set(False)


def emit_json_error(message: str, code: int) -> None:
    typer.echo(to_json({"error": message, "code": code}))


def _plain(value: Any) -> Any:
    """What json.dumps cannot take itself: decimals as strings (exact), times as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, default=_plain, indent=2, ensure_ascii=False)


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout, nothing else."""
    typer.echo(to_json(data))
