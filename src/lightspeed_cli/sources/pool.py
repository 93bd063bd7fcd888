"""HTTP connections to Binance: one "exit" per proxy (or direct), several small pools per exit.

Why small pools: one httpx pool with many requests in flight collapses by ~10x on bookkeeping
(shared/PERFORMANCE.md), so each exit holds up to `ceil(concurrency / 4)` pools of 4 keep-alive
connections, created on first use and filled in order. A pool is an `httpx.AsyncHTTPTransport`:
the layer under `AsyncClient`, used directly because the client's per-request work (URL merge,
cookie jar, auth and redirect flow) doubled the CPU per poll (BENCHMARKS.md, Binance polling).

Why exits: Binance rate-limits and bans per IP. A 429 or 418 blocks the exit that received it
for the Retry-After time; requests go round-robin over the exits that are open, so the others
carry on.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from lightspeed_cli.sources.errors import SourceError

CONNECTIONS_PER_POOL = 4  # 4 beat 8 on CPU per poll (BENCHMARKS.md, Binance polling)
MakeTransport = Callable[[str | None, httpx.Limits], httpx.AsyncHTTPTransport]


def proxy_label(proxy: str | None) -> str:
    """A proxy URL safe to log: scheme, host and port, never the credentials."""
    if proxy is None:
        return "direct"
    parts = urlsplit(proxy)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"proxy {parts.scheme}://{host}{port}"


@dataclass(slots=True)
class _Shard:
    transport: httpx.AsyncHTTPTransport
    in_flight: int = 0


class Exit:
    """One way out to Binance, with its own pools and its own block (after 429 / 418)."""

    def __init__(
        self, proxy: str | None, make_transport: MakeTransport, shards: int, pool_size: int
    ) -> None:
        self.proxy = proxy
        self.name = proxy_label(proxy)
        self.blocked_until = 0.0
        self.block_reason = ""
        self._make_transport = make_transport
        self._max_shards = shards
        self._pool_size = pool_size
        self._limits = httpx.Limits(
            max_connections=pool_size, max_keepalive_connections=pool_size, keepalive_expiry=30
        )
        # One pool up front: the first transport pays one-off imports (~0.1 s), not the first poll.
        self._shards = [_Shard(make_transport(proxy, self._limits))]

    @contextmanager
    def lease(self) -> Iterator[httpx.AsyncHTTPTransport]:
        """The first pool with a free connection (creating one if all are full)."""
        shard = self._pick()
        shard.in_flight += 1
        try:
            yield shard.transport
        finally:
            shard.in_flight -= 1

    def _pick(self) -> _Shard:
        for shard in self._shards:
            if shard.in_flight < self._pool_size:
                return shard
        if len(self._shards) < self._max_shards:
            self._shards.append(_Shard(self._make_transport(self.proxy, self._limits)))
            return self._shards[-1]
        return min(self._shards, key=lambda s: s.in_flight)

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        await asyncio.gather(*(s.transport.aclose() for s in shards), return_exceptions=True)


class ExitsBlocked(SourceError):
    """Every exit is blocked for longer than we are willing to wait."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(
            "blocked",
            f"not polling: Binance blocked every exit ({reason}); open again in {wait:.0f} s",
        )
        self.wait = wait


class ExitPool:
    def __init__(
        self,
        proxies: list[str],
        *,
        concurrency: int,
        make_transport: MakeTransport,
        pool_size: int = CONNECTIONS_PER_POOL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        shards = max(1, math.ceil(concurrency / pool_size))
        self.exits = [Exit(p, make_transport, shards, pool_size) for p in (proxies or [None])]
        self._clock = clock
        self._next = 0

    def block(self, exit_: Exit, seconds: float, reason: str) -> bool:
        """Keep requests off `exit_` for `seconds`; True if it was open until now."""
        now = self._clock()
        was_open = exit_.blocked_until <= now
        exit_.blocked_until = max(exit_.blocked_until, now + seconds)
        if was_open or exit_.blocked_until == now + seconds:
            exit_.block_reason = reason
        return was_open

    def is_open(self, exit_: Exit) -> bool:
        return exit_.blocked_until <= self._clock()

    def open_exit(self, avoid: Exit | None = None) -> Exit | None:
        """The next open exit, round-robin, other than `avoid` if another is open; None if all
        are blocked."""
        now = self._clock()
        count = len(self.exits)
        fallback = None
        for step in range(count):
            exit_ = self.exits[(self._next + step) % count]
            if exit_.blocked_until <= now:
                if exit_ is avoid:
                    fallback = exit_
                    continue
                self._next = (self._next + step + 1) % count
                return exit_
        return fallback

    def open_exits(self) -> list[Exit]:
        now = self._clock()
        return [e for e in self.exits if e.blocked_until <= now]

    async def wait_for_exit(self, max_wait: float, avoid: Exit | None = None) -> Exit:
        """An open exit (not `avoid`, if another is open), waiting up to `max_wait` s for a
        block to end; else ExitsBlocked."""
        while (exit_ := self.open_exit(avoid)) is None:
            first = min(self.exits, key=lambda e: e.blocked_until)
            wait = first.blocked_until - self._clock()
            if wait > max_wait:
                raise ExitsBlocked(wait, first.block_reason)
            await asyncio.sleep(max(wait, 0.001))
        return exit_

    async def aclose(self) -> None:
        await asyncio.gather(*(e.aclose() for e in self.exits))


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every pool: building one per pool costs ~10 ms each."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
