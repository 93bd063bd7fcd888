"""Blind traders: one not read successfully for longer than `notify.blind_after_seconds`.

While the bot cannot read a trader (a Binance ban such as 418 with Retry-After 3600, a hidden
book, a dead proxy), it cannot mirror that trader's closes: that must be heard, not found in a
log later. The decision is pure (`blindness`); `watch` is the thin loop the engine runs beside
the pollers, so even a poll that hangs is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from lightspeed_cli.notify.alerts import Alerts, Kind

ACTION = (
    "the bot cannot see this trader's trades, so a close would not be mirrored. Watch the"
    " trader on Binance and close on Bybit by hand if needed; a Binance ban (HTTP 418/429)"
    " lifts by itself after its Retry-After, and polling.proxies spreads the requests."
)


@dataclass(frozen=True, slots=True)
class Blind:
    trader: str
    seconds: float  # since the last good read (or since the start, if never read)
    reason: str  # the last poll's reason


def since_good_read(last_ok: datetime | None, started: datetime, now: datetime) -> float:
    """Seconds since the trader was last read successfully; since `started` if never."""
    return max(0.0, (now - (last_ok or started)).total_seconds())


def blindness(
    traders: Iterable[tuple[str, datetime | None, str]],
    started: datetime,
    now: datetime,
    limit_seconds: float,
) -> tuple[list[Blind], list[str]]:
    """(trader id, last good read, last reason) -> (the blind ones, the ids that can see)."""
    blind, seeing = [], []
    for trader, last_ok, reason in traders:
        age = since_good_read(last_ok, started, now)
        if age > limit_seconds:
            blind.append(Blind(trader, age, reason))
        else:
            seeing.append(trader)
    return blind, seeing


def check(
    alerts: Alerts,
    traders: Iterable[tuple[str, datetime | None, str]],
    started: datetime,
    now: datetime,
    limit_seconds: float,
) -> list[Blind]:
    """Raise an alert per blind trader, clear it for the others; returns the blind ones."""
    blind, seeing = blindness(traders, started, now, limit_seconds)
    for b in blind:
        why = f": {b.reason}" if b.reason else ""
        alerts.raise_(
            Kind.BLIND, b.trader, f"not read successfully for {b.seconds:.0f} s{why}", ACTION
        )
    for trader in seeing:
        alerts.clear(Kind.BLIND, trader, "read successfully again: mirroring resumes")
    return blind


async def watch(
    alerts: Alerts,
    traders: Callable[[], Iterable[tuple[str, datetime | None, str]]],
    clock: Callable[[], datetime],
    limit_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Check every second (or a quarter of the limit, if shorter) until `stop`."""
    started = clock()
    period = min(1.0, limit_seconds / 4)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=period)
        check(alerts, traders(), started, clock(), limit_seconds)
