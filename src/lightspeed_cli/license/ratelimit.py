"""In-memory sliding-window limiter for activation attempts (per IP and per key).

Memory stays bounded: at most `max_keys` buckets are tracked; when full, the least recently
used one is dropped (an attacker spraying addresses can at worst reset their own buckets, and
the per-key limit still holds for the key being guessed). Thread-safe: the server decides in
worker threads (database work is kept off the event loop).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Count one attempt; 0 if allowed, else the seconds until the next one would be."""
        with self._lock:
            return self._hit(key, self._clock())

    def _hit(self, key: str, now: float) -> float:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - now, 0.001)
        hits.append(now)
        return 0.0

    @staticmethod
    def retry_after_header(seconds: float) -> str:
        return str(max(1, math.ceil(seconds)))

    def __len__(self) -> int:
        """How many buckets are tracked."""
        return len(self._hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
