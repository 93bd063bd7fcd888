"""Numeric options with bounds, shared by every command: a number out of range is exit 2.

click's ranges refuse what is below or above, but `nan` passes both comparisons and `inf` or
`1e12` days overflow a datetime later, as a traceback. Every count, duration and age a command
takes goes through here, with an upper bound that is generous but finite.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

MAX_DAYS = 36_500.0  # a hundred years: the longest key, extension or look back (license/db.py)
MAX_COUNT = 1_000_000_000  # rows, seats: far beyond any real use, far below SQLite's 2**63
MAX_LEASE_HOURS = 24 * 366.0  # a lease longer than a year defeats revocation (license/server)
MAX_SEATS = 1_000_000  # machines per key (license/db.py keeps the same bound)
MAX_SECONDS = 86_400.0  # a window or timeout of a day at most
MAX_USDT = 1e12  # an amount of money no account holds

AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number")
    return value


def float_option(default: Any, *flags: str, min: float, max: float, help: str) -> Any:
    """A float option in [min, max]; nan and inf refused."""
    return typer.Option(default, *flags, min=min, max=max, callback=_finite, help=help)


def int_option(default: Any, *flags: str, min: int, max: int = MAX_COUNT, help: str) -> Any:
    """An int option in [min, max]."""
    return typer.Option(default, *flags, min=min, max=max, help=help)


def parse_since(flag: str, value: str | None, now: datetime | None = None) -> datetime | None:
    """`30m`, `2h`, `7d` ago (at most MAX_DAYS), or an ISO date/time (UTC if no zone).

    Raises typer.BadParameter (exit 2) for anything else.
    """
    if not value:
        return None
    usage = f"{flag} {value!r}: use 30m, 2h, 7d or an ISO date like 2026-11-01"
    now = now or datetime.now(UTC)
    if value[-1:] in AGE_UNITS and value[:-1].isdigit():
        age = timedelta(**{AGE_UNITS[value[-1]]: min(int(value[:-1]), 10**8)})
        if age > timedelta(days=MAX_DAYS):
            raise typer.BadParameter(f"{usage} (at most {MAX_DAYS:g} days back)")
        return now - age
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(usage) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
