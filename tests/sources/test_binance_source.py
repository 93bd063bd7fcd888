"""BinanceSource against the fake Binance over real HTTP: no data is never flat."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from binance_helpers import COPYTRADE, CT_ID, LB_ID, LEADERBOARD, SESSION, fixture_body

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.models import FetchStatus, Side
from lightspeed_cli.sim.binance import COPYTRADE as COPYTRADE_PATH
from lightspeed_cli.sim.binance import (
    DETAIL,
    LEADERBOARD_V1,
    LEADERBOARD_V2,
    ORDER_HISTORY,
    FakePosition,
    Fault,
)
from lightspeed_cli.sources.errors import SESSION_NEEDED
from lightspeed_cli.sources.lead_portfolio import read_detail, read_orders

LOGGER = "lightspeed_cli.sources.binance"


def _seed(fake) -> None:
    fake.set_positions(
        LB_ID,
        [
            FakePosition.long("BTCUSDT", "0.25", "60000", 20),
            FakePosition.short("ETHUSDT", "2", "3000"),
        ],
    )
    fake.set_positions(CT_ID, [FakePosition.long("SOLUSDT", "31", "145.3", 10)])


def _failures(caplog: pytest.LogCaptureFixture, trader: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno >= logging.WARNING and trader in r.getMessage()
    ]


async def test_leaderboard_v2_sends_the_session_and_reads_positions(fake, make_source) -> None:
    _seed(fake)
    fake.require_session(SESSION["p20t"], SESSION["csrftoken"])
    fake.set_mark_price("BTCUSDT", "60500")
    result = await make_source().fetch(LEADERBOARD)
    assert result.status is FetchStatus.OK and result.reason == ""
    snap = result.snapshot
    assert snap is not None and snap.trader == LB_ID and snap.fetched_at.tzinfo is not None
    btc = snap.by_key()[("BTCUSDT", Side.LONG)]
    assert (btc.size, btc.entry_price, btc.mark_price, btc.leverage) == (
        Decimal("0.25"),
        Decimal("60000"),
        Decimal("60500"),
        20,
    )
    assert btc.pnl == Decimal("125")
    assert snap.by_key()[("ETHUSDT", Side.SHORT)].size == Decimal("2")
    assert snap.source_time is not None
    (request,) = fake.requests(LB_ID)
    assert request.path == LEADERBOARD_V2 and request.method == "POST"
    assert request.headers["csrftoken"] == SESSION["csrftoken"]
    assert f"p20t={SESSION['p20t']}" in request.headers["Cookie"]
    assert request.headers["clienttype"] == "web"
    assert request.headers["Content-Type"] == "application/json"


async def test_v1_public_path_works_without_a_session(fake, make_source) -> None:
    _seed(fake)
    result = await make_source(api="v1-public", session=None).fetch(LEADERBOARD)
    assert result.status is FetchStatus.OK and len(result.snapshot.positions) == 2
    (request,) = fake.requests(LB_ID)
    assert request.path == LEADERBOARD_V1 and "csrftoken" not in request.headers


async def test_copytrade_hedge_rows_and_zero_rows(fake, make_source) -> None:
    fake.set_positions(
        CT_ID,
        [
            FakePosition.long("ETHUSDT", "1.5", "3012.5", 25, hedge=True),
            FakePosition.short("ETHUSDT", "0.4", "3030", 25, hedge=True),
            FakePosition.long("BTCUSDT", "0.1", "60000", 25, hedge=True),
        ],
    )
    fake.set_positions(CT_ID, [p for p in fake._books[CT_ID].positions if p.symbol == "ETHUSDT"])
    source = make_source(session=None)
    result = await source.fetch(COPYTRADE)
    assert result.status is FetchStatus.OK
    assert sorted((p.symbol, p.side, p.size) for p in result.snapshot.positions) == [
        ("ETHUSDT", Side.LONG, Decimal("1.5")),
        ("ETHUSDT", Side.SHORT, Decimal("0.4")),
    ]
    (request,) = fake.requests(CT_ID)
    assert request.path == COPYTRADE_PATH and request.method == "GET"
    assert "csrftoken" not in request.headers  # no session configured: none sent


async def test_copytrade_sends_the_session_when_there_is_one(fake, make_source) -> None:
    _seed(fake)
    assert (await make_source().fetch(COPYTRADE)).status is FetchStatus.OK
    assert fake.requests(CT_ID)[0].headers["csrftoken"] == SESSION["csrftoken"]


@pytest.mark.parametrize("trader", [LEADERBOARD, COPYTRADE], ids=["leaderboard", "copytrade"])
async def test_flat_is_an_empty_snapshot_and_hidden_is_no_snapshot(
    fake, make_source, caplog, trader: TraderSettings
) -> None:
    source = make_source()
    fake.clear_positions(trader.id)
    flat = await source.fetch(trader)
    assert flat.status is FetchStatus.OK and flat.snapshot.positions == ()
    fake.hide(trader.id)
    hidden = await source.fetch(trader)
    assert hidden.status is FetchStatus.HIDDEN and hidden.snapshot is None
    assert "not shared" in hidden.reason
    assert any(hidden.reason in m for m in _failures(caplog, trader.id))


FAILURES = [
    pytest.param(dict(fault=Fault.RATE_LIMIT, retry_after=0), "HTTP 429", id="429"),
    pytest.param(dict(fault=Fault.BAN, retry_after=60), "HTTP 418", id="418"),
    pytest.param(dict(fault=Fault.SERVER_ERROR), "HTTP 500", id="500"),
    pytest.param(dict(fault=Fault.FORBIDDEN), "HTTP 403", id="403"),
    pytest.param(dict(fault=Fault.SLOW, delay=5), "no answer from Binance within 1 s", id="slow"),
    pytest.param(dict(fault=Fault.MALFORMED), "malformed answer", id="malformed"),
    pytest.param(
        dict(fault=Fault.REJECT, code="000001", message="system busy"),
        "success:false (code 000001: system busy)",
        id="success-false",
    ),
    pytest.param(dict(fault=Fault.BODY, status=404, body=b'{"code":"404"}'), "HTTP 404", id="404"),
]


@pytest.mark.parametrize("trader", [LEADERBOARD, COPYTRADE], ids=["leaderboard", "copytrade"])
@pytest.mark.parametrize(("fault", "reason"), FAILURES)
async def test_every_failure_gives_no_snapshot_and_a_logged_reason(
    fake, make_source, caplog, trader: TraderSettings, fault: dict, reason: str
) -> None:
    _seed(fake)
    fake.inject(**fault)
    # 1 s: long past a loaded CI runner's worst answer, still short of the slow fault's 5 s.
    result = await make_source(timeout_seconds=1).fetch(trader)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert reason in result.reason
    assert any(reason in m for m in _failures(caplog, trader.id))


@pytest.mark.parametrize(
    ("trader", "body", "reason"),
    [
        (LEADERBOARD, "leaderboard_row_without_amount.json", "row 1 (BTCUSDT): no amount"),
        (COPYTRADE, "copytrade_unparsable_number.json", "data[1].positionAmount"),
    ],
    ids=["leaderboard", "copytrade"],
)
async def test_recorded_body_with_one_bad_row_gives_no_snapshot(
    fake, make_source, caplog, trader: TraderSettings, body: str, reason: str
) -> None:
    fake.inject(Fault.BODY, body=fixture_body(body))
    result = await make_source().fetch(trader)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert reason in result.reason
    assert any(reason in m for m in _failures(caplog, trader.id))


async def test_missing_session_is_named_and_nothing_is_sent(fake, make_source, caplog) -> None:
    _seed(fake)
    result = await make_source(session=None).fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and result.reason == SESSION_NEEDED
    assert fake.request_count() == 0
    assert _failures(caplog, LB_ID) == [f"trader {LB_ID}: {SESSION_NEEDED}"]


async def test_expired_session_is_named_and_never_logged(fake, make_source, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _seed(fake)
    fake.require_session("a-newer-p20t", "a-newer-csrf")
    result = await make_source(retries=2).fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert result.reason.startswith(SESSION_NEEDED) and "HTTP 401" in result.reason
    assert fake.request_count() == 1  # an auth failure is not retried
    assert SESSION["p20t"] not in caplog.text and SESSION["csrftoken"] not in caplog.text


@pytest.mark.parametrize("status", [200, 401])
async def test_please_log_in_answer_names_the_session(fake, make_source, status: int) -> None:
    """Binance may say "log in" with HTTP 200 and an error code: same advice as a 401."""
    fake.inject(Fault.BODY, status=status, body=fixture_body("leaderboard_not_logged_in.json"))
    result = await make_source(retries=2).fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert result.reason.startswith(SESSION_NEEDED)
    assert fake.request_count() == 1  # an auth failure is not retried


async def test_please_log_in_on_a_public_path_stays_a_plain_rejection(fake, make_source) -> None:
    fake.inject(Fault.BODY, body=fixture_body("leaderboard_not_logged_in.json"))
    result = await make_source(session=None).fetch(COPYTRADE)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert "success:false (code 100002001: Please log in first)" in result.reason


async def test_unusable_session_secret_is_named_without_echoing_it(
    fake, make_source, caplog
) -> None:
    result = await make_source(session='{"p20t": "half-pasted-secret"}').fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and SESSION_NEEDED in result.reason
    assert "half-pasted-secret" not in result.reason + caplog.text


@pytest.mark.parametrize(
    "fault",
    [dict(fault=Fault.SERVER_ERROR), dict(fault=Fault.SLOW, delay=5)],
    ids=["500", "timeout"],
)
async def test_transient_failures_are_retried(fake, make_source, fault: dict) -> None:
    _seed(fake)
    fake.inject(**fault, times=1)
    result = await make_source(retries=1, timeout_seconds=1).fetch(COPYTRADE)
    assert result.status is FetchStatus.OK
    assert fake.request_count(CT_ID) == 2


@pytest.mark.parametrize(("failures", "status"), [(2, FetchStatus.OK), (3, FetchStatus.ERROR)])
async def test_retries_stop_after_the_configured_attempts(
    fake, make_source, failures: int, status: FetchStatus
) -> None:
    _seed(fake)
    fake.inject(Fault.SERVER_ERROR, times=failures)
    result = await make_source(retries=2).fetch(COPYTRADE)
    assert result.status is status
    assert fake.request_count(CT_ID) == 3


@pytest.mark.parametrize(
    "fault",
    [
        dict(fault=Fault.FORBIDDEN),
        dict(fault=Fault.MALFORMED),
        dict(fault=Fault.REJECT),
    ],
    ids=["403", "malformed", "success-false"],
)
async def test_definite_answers_are_not_retried(fake, make_source, fault: dict) -> None:
    _seed(fake)
    fake.inject(**fault, times=1)
    result = await make_source(retries=2).fetch(COPYTRADE)
    assert result.status is FetchStatus.ERROR
    assert fake.request_count(CT_ID) == 1


async def test_short_retry_after_is_waited_out(fake, make_source) -> None:
    _seed(fake)
    fake.inject(Fault.RATE_LIMIT, times=1, retry_after=1)
    result = await make_source(retries=1).fetch(COPYTRADE)
    assert result.status is FetchStatus.OK
    first, second = fake.requests(CT_ID)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.9


async def test_long_retry_after_stops_all_polls_on_that_exit(fake, make_source, caplog) -> None:
    _seed(fake)
    fake.inject(Fault.RATE_LIMIT, times=1, retry_after=120)
    source = make_source(retries=2)
    first = await source.fetch(COPYTRADE)
    assert first.status is FetchStatus.ERROR and "Retry-After 120 s" in first.reason
    other = await source.fetch(LEADERBOARD)
    assert other.status is FetchStatus.ERROR and "blocked every exit" in other.reason
    assert fake.request_count() == 1  # nothing more was sent before Retry-After ends


async def test_418_backs_off_that_proxy_and_uses_the_others(
    fake, make_source, proxies, caplog
) -> None:
    _seed(fake)
    a, b = await proxies(2)
    secret_url = a.url.replace("http://", "http://user:proxy-password@")
    fake.inject(Fault.BAN, client="proxy-a", retry_after=300)
    source = make_source(proxies=[secret_url, b.url], retries=1)
    results = [await source.fetch(COPYTRADE) for _ in range(6)]
    assert [r.status for r in results] == [FetchStatus.OK] * 6
    by_client = [(r.client, r.status) for r in fake.requests()]
    assert by_client.count(("proxy-a", 418)) == 1
    assert by_client.count(("proxy-b", 200)) == 6 and len(by_client) == 7
    bans = [r.getMessage() for r in caplog.records if "HTTP 418" in r.getMessage()]
    assert len(bans) == 1 and a.url.removeprefix("http://") in bans[0]
    assert "proxy-password" not in caplog.text


async def test_all_proxies_banned_is_an_error_and_sends_nothing_more(
    fake, make_source, proxies
) -> None:
    _seed(fake)
    exits = await proxies(2)
    fake.inject(Fault.BAN, retry_after=300)
    source = make_source(proxies=[p.url for p in exits], retries=1)
    first = await source.fetch(COPYTRADE)
    assert first.status is FetchStatus.ERROR and first.snapshot is None
    assert fake.request_count() == 2  # one try per proxy
    again = await source.fetch(COPYTRADE)
    assert again.status is FetchStatus.ERROR and "blocked every exit" in again.reason
    assert fake.request_count() == 2


async def test_polls_rotate_over_the_proxies(fake, make_source, proxies) -> None:
    _seed(fake)
    exits = await proxies(3)
    source = make_source(proxies=[p.url for p in exits])
    for _ in range(12):
        assert (await source.fetch(COPYTRADE)).status is FetchStatus.OK
    assert [p.forwarded for p in exits] == [4, 4, 4]
    clients = [r.client for r in fake.requests()]
    assert {name: clients.count(name) for name in set(clients)} == {
        "proxy-a": 4,
        "proxy-b": 4,
        "proxy-c": 4,
    }


async def test_a_confirming_read_goes_through_another_proxy(fake, make_source, proxies) -> None:
    _seed(fake)
    exits = await proxies(2)
    source = make_source(proxies=[p.url for p in exits])
    for _ in range(3):
        await source.fetch(COPYTRADE)
        assert (await source.fetch(COPYTRADE, other_exit=True)).status is FetchStatus.OK
    clients = [r.client for r in fake.requests()]
    assert all(x != y for x, y in zip(clients[::2], clients[1::2], strict=True)), clients


def _traders(count: int) -> list[TraderSettings]:
    return [TraderSettings(id=f"{4_000_000_000_000_000_000 + i}") for i in range(count)]


async def test_request_budget_is_honoured(threaded_fake, make_source) -> None:
    """The fake runs in its own thread, so arrival times do not depend on the client's loop."""
    fake = threaded_fake
    traders = _traders(30)
    for t in traders:
        fake.set_positions(t.id, [FakePosition.long("BTCUSDT", "1", "60000")])
    fake.rate_limit = 25  # Binance's own limit for this IP: never reached
    source = make_source(url=fake.url, requests_per_second=20, concurrency=64)
    await source.fetch(traders[0])  # pays the one-off imports of a first connection
    await asyncio.sleep(0.1)
    fake.clear_log()
    results = await asyncio.gather(*(source.fetch(t) for t in traders))
    assert all(r.status is FetchStatus.OK for r in results)
    times = sorted(r.at for r in fake.requests())
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert len(times) == 30 and busiest <= 22


async def test_lead_portfolio_reads_wait_in_their_own_lane_and_never_delay_a_poll(
    threaded_fake, make_source
) -> None:
    """A burst of background reads (an order-history read after each change) waits in the
    background lane (5 % of the budget: one read every 4 s at 5/s); a poll, and an urgent read
    (a mass close waits for it), go at once. In one shared queue both would wait behind the
    whole burst; and the reads waiting for their turn hold none of the 2 connection slots."""
    fake = threaded_fake
    _seed(fake)
    source = make_source(url=fake.url, requests_per_second=5, concurrency=2)
    assert source.request_rate() == 5  # no background lane yet: the polls have it all
    source.reserve_background()
    assert source.request_rate() == pytest.approx(4.75)
    await source.fetch(COPYTRADE)  # pays the one-off imports of a first connection
    fake.clear_log()
    burst = [asyncio.create_task(read_detail(source, CT_ID)) for _ in range(5)]
    try:
        while not fake.request_count(paths=[DETAIL]):  # the first of them has gone
            await asyncio.sleep(0.01)
        assert (await source.fetch(COPYTRADE)).status is FetchStatus.OK
        await read_orders(source, CT_ID, since_ms=0, urgent=True)
        paths = [r.path for r in fake.requests()]
        assert paths == [DETAIL, COPYTRADE_PATH, ORDER_HISTORY], paths
    finally:
        for task in burst:
            task.cancel()
        await asyncio.gather(*burst, return_exceptions=True)


async def test_concurrency_limit_is_honoured(fake, make_source) -> None:
    traders = _traders(9)
    for t in traders:
        fake.set_positions(t.id, [])
    fake.latency = 0.2
    source = make_source(concurrency=3)
    results = await asyncio.gather(*(source.fetch(t) for t in traders))
    assert all(r.status is FetchStatus.OK for r in results)
    assert fake.peak_in_flight <= 3


async def test_a_repeated_failure_is_logged_once(fake, make_source, caplog) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    _seed(fake)
    source = make_source()
    fake.inject(Fault.SERVER_ERROR, times=5)
    for _ in range(5):
        assert (await source.fetch(COPYTRADE)).status is FetchStatus.ERROR
    fake.inject(Fault.FORBIDDEN, times=1)
    assert (await source.fetch(COPYTRADE)).status is FetchStatus.ERROR
    assert (await source.fetch(COPYTRADE)).status is FetchStatus.OK
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert messages == [
        f"trader {CT_ID}: Binance server error: HTTP 500",
        f"trader {CT_ID}: Binance refused the request (HTTP 403, firewall?) via direct",
        f"trader {CT_ID}: readable again after 6 failed polls",
    ]


async def test_an_unexpected_error_is_an_error_result_not_a_crash(
    fake, make_source, monkeypatch
) -> None:
    _seed(fake)

    def broken(body: bytes) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("lightspeed_cli.sources.binance.parse_copytrade", broken)
    result = await make_source().fetch(COPYTRADE)
    assert result.status is FetchStatus.ERROR and "internal error" in result.reason
    assert result.snapshot is None


async def test_a_429_cuts_only_that_exits_budget_and_the_others_carry_on(
    fake, make_source, proxies
) -> None:
    _seed(fake)
    a, b = await proxies(2)
    fake.inject(Fault.RATE_LIMIT, client="proxy-a", times=1, retry_after=0)
    source = make_source(proxies=[a.url, b.url], retries=1, requests_per_second=10)
    assert source.request_rate() == 20  # proxies multiply the budget
    results = [await source.fetch(COPYTRADE) for _ in range(3)]
    assert [r.status for r in results] == [FetchStatus.OK] * 3
    states = {s.name.split(":")[-1]: s for s in source.exit_states()}
    cut, kept = states[a.url.rsplit(":", 1)[1]], states[b.url.rsplit(":", 1)[1]]
    assert cut.cuts == 1 and cut.budget < 6 and "429" in cut.reason
    assert (kept.cuts, kept.budget) == (0, 10)
    assert 15 <= source.request_rate() < 16
