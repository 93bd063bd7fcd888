"""When each followed trader is read: the request budget spent evenly, cut on 429 / 418.

Detection latency is half the poll interval plus round trips, so the budget is worth spending:
in budget mode (the default) every trader is read every `traders / budget` seconds, never more
often than `polling.min_interval_seconds`. The budget is `polling.requests_per_second` per exit
(each proxy, or the direct connection), so proxies multiply it. In fixed mode every trader is
read every `polling.interval_seconds`. In both modes the reads are spread evenly: one slot every
`interval / traders` seconds, round robin, so the phases are staggered and never bunched.

Copy-trade leaders' lead-portfolio reads (detail, order-history: leaders.py, leader_fills.py)
go through the same exits but in a lane of their own: `background_rate` (5 %) of each exit's
budget is kept for them and the polls are scheduled on the rest (`poll_rate`), so a burst of
those reads never takes a poll's slot. (Sharing one queue, the order-history read after each
change stretched the polls: 50 traders' detection p50 was 1.38 x its floor in the latency
benchmark.) The two lanes together stay within the exit's budget.

An exit that answers 429 or 418 has its budget halved (down to a floor) and, once the exit's
Retry-After has passed, won back slowly: additive increase, multiplicative decrease. Only that
exit slows down; the others keep their budget.

The decisions (`ExitBudget`, `poll_interval`, `Pacer`) are pure and take the time as an
argument; `PollSchedule.run` is the thin loop that sleeps and starts the polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

from lightspeed_cli.config.choices import PollingMode
from lightspeed_cli.config.sections import PollingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEDULE_META_KEY = "poll_schedule"  # where the running bot leaves ScheduleState for `status`
DECREASE = 0.5  # a 429 / 418 halves the exit's budget...
FLOOR_FRACTION = 1 / 16  # ...down to this share of the configured budget
RECOVER_SECONDS = 120.0  # additive increase: the whole budget is won back over this long
CUT_COOLDOWN = 1.0  # 429s answered to requests already in flight count as one cut
RATE_SAFETY = 1e-9  # slots a hair further apart than 1 / rate: float error never adds one
BACKGROUND_SHARE = 0.05  # of each exit's budget, kept for the lead-portfolio reads (1/s of 20)


@dataclass
class ExitBudget:
    """One exit's request budget (requests per second), AIMD."""

    ceiling: float  # the configured budget
    rate: float = 0.0  # the budget now; 0 = the ceiling
    updated: float = float("-inf")  # time from which `rate` recovers
    cuts: int = 0
    reason: str = ""  # what the last cut was for
    last_cut: float = float("-inf")

    def __post_init__(self) -> None:
        if self.rate <= 0:
            self.rate = self.ceiling

    @property
    def floor(self) -> float:
        return self.ceiling * FLOOR_FRACTION

    def at(self, now: float) -> float:
        """The budget at `now`: recovering linearly from the last cut once its hold ended."""
        if self.rate < self.ceiling and now > self.updated:
            gained = (now - self.updated) * self.ceiling / RECOVER_SECONDS
            self.rate = min(self.ceiling, self.rate + gained)
            self.updated = now
        return self.rate

    def cut(self, now: float, hold_seconds: float, reason: str) -> float:
        """A 429 / 418: halve the budget; it starts recovering `hold_seconds` from now. Answers
        to requests sent before the last cut took effect do not cut it again."""
        current = self.at(now)
        if now - self.last_cut >= CUT_COOLDOWN:
            self.rate = max(self.floor, current * DECREASE)
            self.cuts += 1
            self.last_cut = now
        self.updated = max(self.updated, now + max(0.0, hold_seconds))
        self.reason = reason
        return self.rate


def background_rate(rate: float) -> float:
    """Of an exit's budget `rate` (requests/s), the part kept for background reads. Each lane
    is a token bucket at its own rate (the polls' with a tolerance for late wake-ups), so a
    one-second window never holds more polls than `rate`, and of both together at most
    ceil(rate) + 2 (21 at the default 20/s)."""
    return rate * BACKGROUND_SHARE


def poll_rate(rate: float, background: bool) -> float:
    """Of an exit's budget `rate`, the part the polls are scheduled on: all of it unless a
    background lane is kept (`background`: copy-trade leaders whose portfolios are read)."""
    return rate - background_rate(rate) if background else rate


def configured_poll_rate(settings: PollingSettings, background: bool) -> float:
    """The polls' budget over every exit as configured (each proxy, or the direct line)."""
    return poll_rate(settings.requests_per_second, background) * max(1, len(settings.proxies))


def poll_interval(traders: int, rate: float, min_interval: float) -> float:
    """Budget mode: each trader every `traders / rate` seconds, never below `min_interval`."""
    if traders <= 0 or rate <= 0:
        return min_interval
    return max(min_interval, traders / rate)


@dataclass
class Pacer:
    """Poll slots `step` seconds apart, round robin over `count` traders.

    A slot is never earlier than `step` after the previous one, so no window of time ever holds
    more slots than the rate allows; after a stall the slots resume from now, never in a burst
    to catch up.
    """

    count: int
    last_at: float | None = None
    cursor: int = 0

    def next_slot(self, now: float, step: float) -> tuple[int, float]:
        """(trader index, time) of the next slot; call `take` once it is used."""
        at = now if self.last_at is None else max(now, self.last_at + step)
        return self.cursor, at

    def take(self, at: float) -> None:
        self.last_at = at
        self.cursor = (self.cursor + 1) % max(1, self.count)


class ExitState(BaseModel):
    """One exit's budget as `status` shows it."""

    name: str
    budget: float  # requests per second now
    ceiling: float  # configured
    cuts: int
    blocked_for_seconds: float = 0.0
    reason: str = ""


class ScheduleState(BaseModel):
    """The schedule as `status` shows it (persisted in the journal's meta table)."""

    at: datetime
    mode: PollingMode
    traders: int
    interval_seconds: float
    exits: list[ExitState]
    pushed: int = 0  # traders pushed rather than polled (Hyperliquid wallets on the socket)


def source_rate(source: object, settings: PollingSettings) -> Callable[[], float]:
    """The polls' live budget (BinanceSource.request_rate), else the configured one."""
    live = getattr(source, "request_rate", None)
    if callable(live):
        return live  # type: ignore[no-any-return]
    configured = configured_poll_rate(settings, background=False)
    return lambda: configured


class PollSchedule(Generic[T]):
    """Starts `poll(trader)` for each trader in its slot. A trader still being polled at its
    slot (a slow answer, an order going out) is never read twice at once: it is read again as
    soon as that poll ends, within the budget (each request still waits its turn in its exit's
    token bucket)."""

    def __init__(
        self,
        settings: PollingSettings,
        traders: Sequence[T],
        rate: Callable[[], float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.traders = list(traders)
        self.pushed = 0  # traders the engine hears pushed, beside these (shown, never polled)
        self._rate = rate
        self._clock = clock
        self._pacer = Pacer(len(self.traders))

    def interval(self) -> float:
        if self.settings.mode is PollingMode.FIXED:
            return self.settings.interval_seconds
        min_interval = self.settings.min_interval_seconds
        return poll_interval(len(self.traders), self._rate(), min_interval)

    def state(self, exits: list[ExitState], at: datetime) -> ScheduleState:
        return ScheduleState(
            at=at,
            mode=self.settings.mode,
            traders=len(self.traders),
            interval_seconds=round(self.interval(), 4),
            exits=exits,
            pushed=self.pushed,
        )

    def step(self) -> float:
        return self.interval() / max(1, len(self.traders)) * (1 + RATE_SAFETY)

    async def run(self, poll: Callable[[T], Awaitable[None]], stop: asyncio.Event) -> None:
        """Poll on schedule until `stop` is set; then wait for the polls in flight."""
        busy: dict[int, asyncio.Task[None]] = {}
        owed: set[int] = set()
        closing = False

        def start(index: int) -> None:
            task = asyncio.create_task(poll(self.traders[index]))
            busy[index] = task
            task.add_done_callback(lambda _t: finished(index))

        def finished(index: int) -> None:
            busy.pop(index, None)
            if index in owed and not closing and not stop.is_set():
                owed.discard(index)
                start(index)

        try:
            while not stop.is_set() and self.traders:
                index, at = self._pacer.next_slot(self._clock(), self.step())
                delay = at - self._clock()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                    if stop.is_set():
                        break
                self._pacer.take(at)
                if index in busy:
                    owed.add(index)
                else:
                    start(index)
        finally:
            closing = True
            while busy:
                await asyncio.gather(*busy.values(), return_exceptions=True)
