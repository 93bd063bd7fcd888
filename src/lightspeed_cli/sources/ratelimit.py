"""A global request budget: every request to Binance, retries included, takes one slot.

Implemented as a virtual schedule (GCRA): each caller reserves the next free send time and sleeps
until it. No lock and no background task; callers are served in arrival order, and with
`burst=1` requests are evenly spaced, so any one-second window holds at most `rate + 1`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")  # theoretical send time of the next request

    def reserve(self) -> float:
        """Claim the next slot; return how long to wait before using it (0 if now)."""
        now = self._clock()
        start = max(self._next, now - self._tolerance)
        self._next = start + self._interval
        return max(0.0, start - now)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)
