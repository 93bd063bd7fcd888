"""Log each trader's failure once, not once per poll.

A trader polled every second that keeps failing the same way would otherwise write 3,600 identical
lines an hour. A failure is logged when it starts, when its kind changes, and then at most every
`repeat_after` seconds with a count; recovery is logged once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Streak:
    kind: str
    logged_at: float
    total: int = 1
    unlogged: int = 0


class FailureLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        repeat_after: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._repeat_after = repeat_after
        self._clock = clock
        self._streaks: dict[str, _Streak] = {}

    def failed(self, trader: str, kind: str, reason: str, *, level: int = logging.WARNING) -> None:
        now = self._clock()
        streak = self._streaks.get(trader)
        if streak is None or streak.kind != kind:
            total = streak.total + 1 if streak is not None else 1
            self._streaks[trader] = _Streak(kind, now, total)
            self._log.log(level, "trader %s: %s", trader, reason)
            return
        streak.total += 1
        streak.unlogged += 1
        if now - streak.logged_at >= self._repeat_after:
            self._log.log(
                level,
                "trader %s: still failing (%d more times since the last report): %s",
                trader,
                streak.unlogged,
                reason,
            )
            streak.logged_at = now
            streak.unlogged = 0

    def recovered(self, trader: str) -> None:
        streak = self._streaks.pop(trader, None)
        if streak is not None:
            self._log.info("trader %s: readable again after %d failed polls", trader, streak.total)
