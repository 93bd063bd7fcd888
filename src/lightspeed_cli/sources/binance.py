"""Read a followed trader's open futures positions from Binance's web endpoints.

`BinanceSource.fetch` never raises for a remote problem: it returns a FetchResult that carries a
Snapshot only for a well-formed success answer (DESIGN rule 1). Errors, timeouts, 4xx/5xx,
malformed bodies, `success: false` and a missing session give ERROR; a trader who hides
positions gives HIDDEN. Neither is ever "flat".

Requests go through: a concurrency limit (semaphore) → an open exit (direct or a proxy; the
one whose budget frees soonest, round-robin when equal; 429/418 block an exit for Retry-After)
→ that exit's request budget (token bucket at `requests_per_second`, cut on 429/418 and won back
slowly: sources/schedule.py; once `reserve_background` is called the lead-portfolio reads have a
bucket of their own, `background_rate` of the budget, and the polls the rest) → a small
keep-alive pool of that exit. tenacity retries timeouts, 5xx, 429 and 418 with exponential
back-off and jitter; a throttled retry waits for (or switches to) an open exit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from lightspeed_cli.config.choices import LeaderboardApi
from lightspeed_cli.config.sections import BinanceSettings, PollingSettings, TraderSettings
from lightspeed_cli.models import FetchResult, FetchStatus, Snapshot, SourceKind
from lightspeed_cli.sources.bodycap import BodyCap, read_capped
from lightspeed_cli.sources.errors import (
    SESSION_NEEDED,
    MalformedAnswer,
    RejectedAnswer,
    SessionRefused,
    SourceError,
    ThrottledError,
    TransientError,
)
from lightspeed_cli.sources.failurelog import FailureLog
from lightspeed_cli.sources.pool import (
    CONNECTIONS_PER_POOL,
    Exit,
    ExitPool,
    shared_ssl_context,
)
from lightspeed_cli.sources.ratelimit import TokenBucket
from lightspeed_cli.sources.schedule import ExitBudget, ExitState, background_rate, poll_rate
from lightspeed_cli.sources.session import BinanceSession, parse_session
from lightspeed_cli.sources.wire import Book, parse_copytrade, parse_leaderboard

log = logging.getLogger(__name__)
_T = TypeVar("_T")

LEADERBOARD_PATHS = {
    LeaderboardApi.V2_PRIVATE: "/bapi/futures/v2/private/future/leaderboard/getOtherPosition",
    LeaderboardApi.V1_PUBLIC: "/bapi/futures/v1/public/future/leaderboard/getOtherPosition",
}
COPYTRADE_PATH = "/bapi/futures/v1/friendly/future/copy-trade/lead-data/positions"

BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36"
    ),
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Accept-Language": "en-US,en;q=0.9",
    "Connection": "keep-alive",
    "Content-Type": "application/json",
    "clienttype": "web",
    "lang": "en",
}
BAN_SECONDS_DEFAULT = 120.0  # a 418 without Retry-After
THROTTLE_SECONDS_DEFAULT = 2.0  # a 429 without Retry-After
BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_JITTER = 0.25, 4.0, 0.25  # seconds
POLL_TOLERANCE = 0.005  # seconds: a poll this late is not charged to the next (ratelimit.py)
# the most an answer may weigh, per endpoint (issue 22): a positions answer is a few KiB (a
# copy-trade list of every symbol ~100 KiB); a lead-portfolio page holds at most 100 rows
POSITIONS_CAP = BodyCap(wire=1 << 20, inflated=2 << 20)
READ_CAP = BodyCap(wire=1 << 20, inflated=2 << 20)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Request:
    """A trader's poll, built once: the same bytes go out on every poll."""

    http: httpx.Request
    parse: Callable[[bytes], Any]  # Book for positions; the lead-portfolio companions' own
    needs_session: bool
    background: bool = False  # a lead-portfolio read off the hot path: the background lane
    cap: BodyCap = POSITIONS_CAP


class BinanceSource:
    """Polls Binance for traders' positions; one instance serves every followed trader."""

    def __init__(
        self,
        binance: BinanceSettings,
        polling: PollingSettings,
        *,
        session: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        pool_size: int = CONNECTIONS_PER_POOL,
    ) -> None:
        """`session`: the stored Binance web session secret (JSON), or None. `pool_size`:
        connections per keep-alive pool, a tuning knob for benchmarks."""
        self._leaderboard_api = binance.leaderboard_api
        self._timeout = polling.timeout_seconds
        self._timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)
        self._attempts = polling.retries + 1
        self._clock = clock
        self._session, self._session_problem = _load_session(session)
        self._headers = {**BROWSER_HEADERS, **(self._session.headers() if self._session else {})}
        self._base_url = binance.base_url.rstrip("/")
        self._ssl = shared_ssl_context()
        self._pool = ExitPool(
            polling.proxies,
            concurrency=polling.concurrency,
            make_transport=self._make_transport,
            pool_size=pool_size,
        )
        # the budget is per exit: each proxy (or the direct line) is its own IP to Binance
        rate = polling.requests_per_second
        self._budgets = {e: _Lanes(ExitBudget(rate)) for e in self._pool.exits}
        self._background = False  # True: reads have their own lane (reserve_background)
        self._slots = asyncio.Semaphore(polling.concurrency)
        self._failures = FailureLog(log)
        self._requests: dict[tuple[SourceKind, str], _Request] = {}
        self._last_exit: dict[int, Exit] = {}  # id(request) -> the exit of its latest attempt

    async def __aenter__(self) -> BinanceSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult:
        """One poll of one trader: OK with a snapshot, HIDDEN, or ERROR with the reason.
        `other_exit`: through another exit than the trader's last read, if one is open (a
        confirming read, massclose.py)."""
        try:
            request = self._request_for(trader)
            avoid = self._last_exit.get(id(request)) if other_exit else None
            async with self._slots:
                book = await self._with_retries(request, avoid)
        except SourceError as exc:
            return self._failed(trader, FetchStatus.ERROR, exc.kind, exc.reason)
        except Exception as exc:  # a bug must not read as "flat" either; keep the traceback
            log.debug("trader %s: unexpected error", trader.id, exc_info=True)
            reason = f"internal error while reading Binance: {type(exc).__name__}: {exc}"
            return self._failed(trader, FetchStatus.ERROR, "internal", reason)
        if book.positions is None:
            return self._failed(trader, FetchStatus.HIDDEN, "hidden", book.hidden_reason)
        self._failures.recovered(trader.id)
        fetched_at = self._clock()
        snapshot = Snapshot(
            trader=trader.id,
            positions=book.positions,
            fetched_at=fetched_at,
            source_time=book.source_time,
        )
        return FetchResult(
            trader=trader.id, status=FetchStatus.OK, snapshot=snapshot, fetched_at=fetched_at
        )

    def reserve_background(self) -> None:
        """From now on `read` goes through a lane of its own (`background_rate` of each exit's
        budget) and the polls get the rest (`request_rate`): a burst of lead-portfolio reads
        never takes a poll's slot. Leaders calls it when it reads copy-trade portfolios."""
        self._background = True

    async def read(
        self,
        method: str,
        path: str,
        payload: dict[str, Any],
        parse: Callable[[bytes], _T],
        *,
        urgent: bool = False,
    ) -> _T:
        """One request to another Binance endpoint (the lead portfolio's detail and history)
        through the same exits, budget and retries as the positions. Raises SourceError.
        `urgent`: on the hot path (a mass close waits for it): the polls' lane, not the
        background one."""
        url, body = f"{self._base_url}{path}", None
        if method == "GET":
            url = f"{url}?{urlencode(payload)}"
        else:
            body = json.dumps(payload).encode()
        http = httpx.Request(
            method, url, headers=self._headers, content=body, extensions={"timeout": self._timeouts}
        )
        request = _Request(http, parse, needs_session=False, background=not urgent, cap=READ_CAP)
        try:
            if request.background:  # takes a connection slot only once its turn came (_attempt)
                return await self._with_retries(request)  # type: ignore[no-any-return]
            async with self._slots:
                return await self._with_retries(request)  # type: ignore[no-any-return]
        finally:
            self._last_exit.pop(id(request), None)

    def _failed(
        self, trader: TraderSettings, status: FetchStatus, kind: str, reason: str
    ) -> FetchResult:
        self._failures.failed(trader.id, kind, reason)
        return FetchResult(trader=trader.id, status=status, reason=reason, fetched_at=self._clock())

    def _request_for(self, trader: TraderSettings) -> _Request:
        needs_session = (
            trader.source is SourceKind.LEADERBOARD
            and self._leaderboard_api is LeaderboardApi.V2_PRIVATE
        )
        if needs_session and self._session is None:
            raise SourceError("session", self._session_problem)
        key = (trader.source, trader.id)
        request = self._requests.get(key)
        if request is None:
            request = self._requests[key] = self._build_request(trader, needs_session)
        return request

    def _build_request(self, trader: TraderSettings, needs_session: bool) -> _Request:
        if trader.source is SourceKind.COPYTRADE:
            url = f"{self._base_url}{COPYTRADE_PATH}?portfolioId={trader.id}"
            method, body, parse = "GET", None, parse_copytrade
        else:
            url = f"{self._base_url}{LEADERBOARD_PATHS[self._leaderboard_api]}"
            payload = {"encryptedUid": trader.id, "tradeType": "PERPETUAL"}
            method, body, parse = "POST", json.dumps(payload).encode(), parse_leaderboard
        http = httpx.Request(
            method, url, headers=self._headers, content=body, extensions={"timeout": self._timeouts}
        )
        return _Request(http, parse, needs_session)

    async def _with_retries(self, request: _Request, avoid: Exit | None = None) -> Book:
        """The first attempt runs bare: tenacity's set-up costs ~0.1 ms, a tenth of a poll's
        CPU (BENCHMARKS.md), and nearly every poll succeeds first time. Retries use tenacity."""
        try:
            return await self._attempt(request, avoid)
        except SourceError as error:
            if not error.retryable or self._attempts == 1:
                raise
            await asyncio.sleep(_pause(error, 1))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts - 1),
            wait=lambda state: _pause(state.outcome.exception(), state.attempt_number + 1),
            retry=retry_if_exception(lambda e: isinstance(e, SourceError) and e.retryable),
            reraise=True,
        )
        return await retrying(self._attempt, request)

    async def _attempt(self, request: _Request, avoid: Exit | None = None) -> Book:
        exit_ = await self._open_exit_within_budget(avoid, request.background)
        self._last_exit[id(request)] = exit_
        if request.background:  # it waited for its turn without a slot: a backlog of them
            async with self._slots:  # never holds the polls' (`polling.concurrency`)
                response, body = await self._send(request, exit_)
        else:
            response, body = await self._send(request, exit_)
        self._check_status(response, request, exit_)
        try:
            return request.parse(body)
        except RejectedAnswer as exc:
            if request.needs_session and exc.login_required:  # an expired session, said plainly
                raise SessionRefused(f"Binance: {exc.detail}") from None
            raise

    async def _send(self, request: _Request, exit_: Exit) -> tuple[httpx.Response, bytes]:
        with exit_.lease() as transport:
            try:
                response = await transport.handle_async_request(request.http)
                try:
                    body = await read_capped(response, request.cap)
                except MalformedAnswer:
                    if response.status_code == 200:
                        raise
                    body = b""  # an error's status says more than its oversized page
                finally:
                    await response.aclose()
            except httpx.TimeoutException:
                raise TransientError(
                    "timeout", f"no answer from Binance within {self._timeout:g} s ({exit_.name})"
                ) from None
            except httpx.HTTPError as exc:
                raise TransientError(
                    "connection", f"cannot reach Binance ({exit_.name}): {type(exc).__name__}"
                ) from None
        return response, body

    async def _open_exit_within_budget(
        self, avoid: Exit | None = None, background: bool = False
    ) -> Exit:
        """An open exit whose budget (in the request's lane) lets the request go soonest (round
        robin when equal; not `avoid` while another is open), once our turn in it comes."""
        while True:
            exit_ = await self._pool.wait_for_exit(self._timeout, avoid)
            now = time.monotonic()
            for other in self._pool.open_exits():
                if other is avoid:
                    continue
                if self._free_at(other, now, background) < self._free_at(exit_, now, background):
                    exit_ = other
            await self._bucket(exit_, now, background).acquire()
            if self._pool.is_open(exit_):
                return exit_

    def _free_at(self, exit_: Exit, now: float, background: bool) -> float:
        return self._bucket(exit_, now, background).free_at(now)

    def _bucket(self, exit_: Exit, now: float, background: bool) -> TokenBucket:
        """The exit's bucket for this lane, at the lane's share of the exit's budget now."""
        return self._budgets[exit_].bucket(now, background=background, reserved=self._background)

    def request_rate(self) -> float:
        """Poll requests per second the open exits allow now (the schedule spends it; the
        background lane's share excluded); the floors when every exit is blocked."""
        now = time.monotonic()
        open_exits = self._pool.open_exits()
        if not open_exits:
            rates = [lanes.budget.floor for lanes in self._budgets.values()]
        else:
            rates = [self._budgets[e].budget.at(now) for e in open_exits]
        return sum(poll_rate(rate, self._background) for rate in rates)

    def exit_states(self) -> list[ExitState]:
        now = time.monotonic()
        states = []
        for e, lanes in self._budgets.items():
            budget = lanes.budget
            states.append(
                ExitState(
                    name=e.name,
                    budget=round(budget.at(now), 2),
                    ceiling=budget.ceiling,
                    cuts=budget.cuts,
                    blocked_for_seconds=round(max(0.0, e.blocked_until - now), 1),
                    reason=budget.reason or e.block_reason,
                )
            )
        return states

    def _check_status(self, response: httpx.Response, request: _Request, exit_: Exit) -> None:
        status = response.status_code
        if status == 200:
            return
        if status in (429, 418):
            default = THROTTLE_SECONDS_DEFAULT if status == 429 else BAN_SECONDS_DEFAULT
            retry_after = parse_retry_after(response.headers.get("Retry-After"), default)
            error = ThrottledError(status, retry_after, exit_.name)
            if self._pool.block(exit_, retry_after, error.reason):
                log.warning("%s: no requests through it for %g s", error.reason, retry_after)
            budget = self._budgets[exit_].budget
            before = budget.at(time.monotonic())
            after = budget.cut(time.monotonic(), retry_after, error.reason)
            if after < before:
                log.warning("%s: its request budget is cut to %.2f/s", exit_.name, after)
            raise error
        if status in (401, 403) and request.needs_session:
            raise SessionRefused(f"Binance refused the session: HTTP {status}")
        if status >= 500:
            raise TransientError(f"http-{status}", f"Binance server error: HTTP {status}")
        if status == 403:
            raise SourceError(
                "http-403", f"Binance refused the request (HTTP 403, firewall?) via {exit_.name}"
            )
        raise SourceError(f"http-{status}", f"unexpected answer from Binance: HTTP {status}")

    def _make_transport(self, proxy: str | None, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self._ssl,
            proxy=proxy,
            limits=limits,
            trust_env=False,  # proxies come from config only: polling.proxies
        )


class _Lanes:
    """One exit's budget and its two token buckets: the polls' and the background reads'."""

    def __init__(self, budget: ExitBudget) -> None:
        self.budget = budget
        # the polls come paced by the schedule: a little lateness is not charged to the next
        self.polls = TokenBucket(budget.ceiling, tolerance=POLL_TOLERANCE)
        self.background = TokenBucket(background_rate(budget.ceiling))

    def bucket(self, now: float, *, background: bool, reserved: bool) -> TokenBucket:
        """The lane's bucket at its share of the budget now. Without a `reserved` background
        lane every request is the polls' and they have all of the budget."""
        rate = self.budget.at(now)
        if background and reserved:
            self.background.set_rate(background_rate(rate))
            return self.background
        self.polls.set_rate(poll_rate(rate, reserved))
        return self.polls


def _pause(error: BaseException | None, failed_attempts: int) -> float:
    """Sleep before the next attempt: exponential back-off with jitter, none after a 429 or
    418 (the exit's block is the wait, or another exit is open)."""
    if isinstance(error, ThrottledError):
        return 0.0
    return min(BACKOFF_FIRST * 2 ** (failed_attempts - 1), BACKOFF_MAX) + random.uniform(
        0, BACKOFF_JITTER
    )


def parse_retry_after(value: str | None, default: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); `default` if absent."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else default
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())


def _load_session(secret: str | None) -> tuple[BinanceSession | None, str]:
    """The parsed session, or None and the reason to show on leaderboard fetches."""
    if not secret:
        return None, SESSION_NEEDED
    try:
        return parse_session(secret), ""
    except ValueError as exc:
        log.warning("%s", exc)
        return None, f"{SESSION_NEEDED} ({exc})"
