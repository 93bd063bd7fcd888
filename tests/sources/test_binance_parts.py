"""The source's small parts, on a fake clock: request budget, exits, log throttling, headers."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lightspeed_cli.sources.binance import _pause, parse_retry_after
from lightspeed_cli.sources.errors import ThrottledError, TransientError
from lightspeed_cli.sources.failurelog import FailureLog
from lightspeed_cli.sources.pool import ExitPool, ExitsBlocked, proxy_label
from lightspeed_cli.sources.ratelimit import TokenBucket
from lightspeed_cli.sources.session import BinanceSession, parse_session


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SleepyClock(Clock):
    """A clock that `sleep` moves forward, oversleeping by `late` seconds (a busy loop)."""

    def __init__(self, late: float = 0.0) -> None:
        super().__init__()
        self.late = late
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds + self.late


async def test_token_bucket_spaces_requests_evenly() -> None:
    clock = SleepyClock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        await bucket.acquire()
    assert clock.slept == [0.25, 0.25, 0.25]
    clock.now += 10  # idle time does not bank a burst
    await bucket.acquire()
    await bucket.acquire()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]


async def test_token_bucket_spaces_from_the_actual_send_time() -> None:
    clock = SleepyClock(late=0.4)  # every wake-up comes 0.4 s late
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(3):
        await bucket.acquire()
        sent.append(clock.now)
    assert [b - a for a, b in zip(sent, sent[1:], strict=False)] == pytest.approx([0.65, 0.65])


async def test_a_tolerant_bucket_does_not_charge_a_late_wake_up_to_the_next_turn() -> None:
    """Paced requests (the poll schedule) keep their rate though every wake-up is late; a
    request later than the tolerance is charged the excess; none are ever closer than
    an interval less the tolerance apart."""
    clock = SleepyClock(late=0.05)  # every wake-up 0.05 s late, a fifth of the interval
    bucket = TokenBucket(4, tolerance=0.125, clock=clock, sleep=clock.sleep)
    sent = []

    async def send(count: int) -> None:
        for _ in range(count):
            await bucket.acquire()
            sent.append(clock.now)

    await send(6)
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    # the first turn counts from the first request less the tolerance; then the rate holds
    # (a strict bucket: 0.3 each, the lateness added every time)
    assert gaps == pytest.approx([0.175, 0.25, 0.25, 0.25, 0.25])
    clock.late = 0.4  # later than the tolerance (0.125 s): the excess is charged
    await send(3)
    assert sent[-1] - sent[-2] == pytest.approx(0.25 + 0.4 - 0.125)
    assert min(b - a for a, b in zip(sent, sent[1:], strict=False)) >= 0.125
    with pytest.raises(ValueError):
        TokenBucket(4, tolerance=-1)


async def test_token_bucket_serves_concurrent_callers_in_turn() -> None:
    clock = SleepyClock()
    bucket = TokenBucket(10, clock=clock, sleep=clock.sleep)
    sent: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        sent.append(round(clock.now - 1000.0, 6))

    await asyncio.gather(*(one() for _ in range(5)))
    assert sent == [0.0, 0.1, 0.2, 0.3, 0.4]


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_retry_after_forms() -> None:
    assert parse_retry_after("7", 2.0) == 7.0
    assert parse_retry_after("0.5", 2.0) == 0.5
    assert parse_retry_after(None, 2.0) == 2.0
    assert parse_retry_after("soon", 2.0) == 2.0
    assert parse_retry_after("inf", 2.0) == 2.0
    assert parse_retry_after("-3", 2.0) == 0.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= parse_retry_after(when, 2.0) <= 91


def test_back_off_grows_with_jitter_and_is_skipped_when_throttled() -> None:
    timeout = TransientError("timeout", "t")
    for attempt, base in [(1, 0.25), (2, 0.5), (3, 1.0), (6, 4.0), (9, 4.0)]:
        assert base <= _pause(timeout, attempt) <= base + 0.25
    assert _pause(ThrottledError(429, 5, "direct"), 1) == 0.0


def _pool(proxies: list[str], clock: Clock) -> ExitPool:
    return ExitPool(proxies, concurrency=16, make_transport=lambda proxy, limits: None, clock=clock)  # type: ignore[arg-type,return-value]


def test_exits_rotate_and_skip_blocked_ones_until_the_block_ends() -> None:
    clock = Clock()
    pool = _pool(["http://a:1", "http://b:2", "http://c:3"], clock)
    a, b, c = pool.exits
    assert [pool.open_exit() for _ in range(4)] == [a, b, c, a]
    assert pool.block(b, 30, "418") is True
    assert pool.block(b, 10, "429") is False  # a shorter block does not shorten it
    assert [pool.open_exit() for _ in range(4)] == [c, a, c, a]
    clock.now += 30
    assert b in {pool.open_exit() for _ in range(3)}


def test_a_confirming_read_avoids_the_exit_of_the_last_one_when_it_can() -> None:
    clock = Clock()
    pool = _pool(["http://a:1", "http://b:2"], clock)
    a, b = pool.exits
    assert pool.open_exit(avoid=a) is b
    assert pool.open_exit(avoid=a) is b  # round-robin would have given a
    pool.block(b, 30, "418")
    assert pool.open_exit(avoid=a) is a  # better the same exit than no read
    single = _pool([], clock)
    assert single.open_exit(avoid=single.exits[0]) is single.exits[0]


async def test_waiting_for_an_exit_gives_up_past_the_limit() -> None:
    clock = Clock()
    pool = _pool([], clock)
    (direct,) = pool.exits
    pool.block(direct, 120, "Binance IP banned direct (HTTP 418, Retry-After 120 s)")
    with pytest.raises(ExitsBlocked) as err:
        await pool.wait_for_exit(max_wait=10)
    assert "HTTP 418" in err.value.reason and "120 s" in err.value.reason
    assert not err.value.retryable


def test_proxy_label_never_shows_credentials() -> None:
    assert proxy_label("http://user:pw@10.0.0.1:3128") == "proxy http://10.0.0.1:3128"
    assert proxy_label("socks5://u:p@host") == "proxy socks5://host"
    assert proxy_label(None) == "direct"


def test_failure_log_reports_start_changes_repeats_and_recovery(caplog) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    failures = FailureLog(logging.getLogger("t"), repeat_after=300, clock=clock)
    for _ in range(10):
        failures.failed("T1", "http-500", "HTTP 500")
        clock.now += 10
    clock.now += 300
    failures.failed("T1", "http-500", "HTTP 500")
    failures.failed("T1", "timeout", "timed out")
    failures.failed("T2", "timeout", "timed out")
    failures.recovered("T1")
    failures.recovered("T1")  # no streak: nothing to say
    assert [r.getMessage() for r in caplog.records] == [
        "trader T1: HTTP 500",
        "trader T1: still failing (10 more times since the last report): HTTP 500",
        "trader T1: timed out",
        "trader T2: timed out",
        "trader T1: readable again after 12 failed polls",
    ]


def test_session_headers_and_repr() -> None:
    session = parse_session('{"p20t": "cookie-value", "csrftoken": "csrf-value"}')
    assert session.headers() == {"csrftoken": "csrf-value", "Cookie": "p20t=cookie-value"}
    assert "cookie-value" not in repr(session) and "csrf-value" not in repr(session)
    assert isinstance(session, BinanceSession)


@pytest.mark.parametrize(
    "secret",
    ["not json", "[]", '{"p20t": "x"}', '{"p20t": "a;b=c", "csrftoken": "t"}'],
)
def test_unusable_sessions_are_refused_without_echo(secret: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_session(secret)
    assert "a;b=c" not in str(err.value)
