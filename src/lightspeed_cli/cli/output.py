"""Machine-readable output: one `--json` option and one way to print it, for every command.

The JSON goes to stdout alone (no rich markup, no wrapping), so `lightspeed status --json | jq`
works. Keys are stable and documented in the README; secrets appear only as masked on screen.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import typer

JSON_HELP = "Print JSON (stable keys, see the README) instead of tables."


def json_option() -> Any:
    """The `--json` flag, the same on every command that has it."""
    return typer.Option(False, "--json", help=JSON_HELP)


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
