"""Issue 22 against the fake Binance: one odd answer is a malformed answer, never a book.

Items 1 (strict rows), 5 (answers capped on the wire and inflated, memory bounded) and 6 (rows
per answer capped) of "a glitch never trades", over real HTTP.
"""

from __future__ import annotations

import tracemalloc

import pytest
from binance_helpers import COPYTRADE, CT_ID, LB_ID, LEADERBOARD

from lightspeed_cli.models import FetchStatus
from lightspeed_cli.sim.binance import DETAIL, FakePosition, Fault, gzip_bomb
from lightspeed_cli.sources.errors import MalformedAnswer
from lightspeed_cli.sources.lead_portfolio import read_detail

ROW = '{"symbol":"BTCUSDT","amount":AMOUNT,"entryPrice":60000,"markPrice":60000,"leverage":10}'


def _leaderboard_body(*rows: str) -> str:
    listed = ",".join(rows)
    return f'{{"code":"000000","success":true,"data":{{"otherPositionRetList":[{listed}]}}}}'


@pytest.mark.parametrize(
    "amount", ['"1_0"', '"١"', '"1e400"', "1e400", "1e-400", '"NaN"', "NaN", '"Infinity"']
)
async def test_an_odd_amount_is_a_malformed_answer_not_a_book(fake, make_source, amount) -> None:
    fake.set_positions(LB_ID, [FakePosition.long("BTCUSDT", "1", "60000")])
    source = make_source(api="v1-public")
    assert (await source.fetch(LEADERBOARD)).snapshot is not None  # a true book first
    fake.inject(Fault.BODY, trader=LB_ID, body=_leaderboard_body(ROW.replace("AMOUNT", amount)))
    result = await source.fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert "malformed answer" in result.reason


@pytest.mark.parametrize("symbol", ["btcusdt", "BTCUSDT\u200b", "ВTCUSDT"])
async def test_a_renamed_symbol_is_a_malformed_answer(fake, make_source, symbol) -> None:
    row = ROW.replace("AMOUNT", '"1"').replace("BTCUSDT", symbol)
    fake.inject(Fault.BODY, trader=LB_ID, body=_leaderboard_body(row))
    result = await make_source(api="v1-public").fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and "symbol" in result.reason


async def test_a_5000_row_answer_is_malformed_not_5000_refusals(fake, make_source) -> None:
    rows = [ROW.replace("BTCUSDT", f"X{i}USDT").replace("AMOUNT", '"1"') for i in range(5000)]
    fake.inject(Fault.BODY, trader=LB_ID, body=_leaderboard_body(*rows))
    result = await make_source(api="v1-public").fetch(LEADERBOARD)
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert "5000 rows" in result.reason


async def _peak_mib_of(awaitable) -> tuple[object, float]:
    tracemalloc.start()
    try:
        result = await awaitable
        return result, tracemalloc.get_traced_memory()[1] / (1 << 20)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("trader", [LEADERBOARD, COPYTRADE], ids=["leaderboard", "copytrade"])
async def test_a_gzip_bomb_is_malformed_and_memory_stays_bounded(fake, make_source, trader):
    bomb = gzip_bomb(1 << 30)  # built before measuring: the fake's own cost
    assert len(bomb) < 1_100_000
    fake.inject(Fault.GZIP_BOMB, size=1 << 30)
    result, peak = await _peak_mib_of(make_source(api="v1-public").fetch(trader))
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert "cap inflated" in result.reason
    assert peak < 24, f"{peak:.1f} MiB allocated while reading a 1 MiB bomb"


async def test_a_200_mib_body_is_malformed_and_memory_stays_bounded(fake, make_source) -> None:
    fake.inject(Fault.HUGE_BODY, size=200 << 20)
    result, peak = await _peak_mib_of(make_source(api="v1-public").fetch(LEADERBOARD))
    assert result.status is FetchStatus.ERROR and result.snapshot is None
    assert "cap on the wire" in result.reason
    assert peak < 24, f"{peak:.1f} MiB allocated while reading a 200 MiB body"


async def test_a_small_gzip_answer_still_reads(fake, make_source) -> None:
    """The cap is a cap, not a refusal of gzip: a bomb under the cap is just a padded book."""
    fake.inject(Fault.GZIP_BOMB, size=1 << 20)
    result = await make_source(api="v1-public").fetch(LEADERBOARD)
    assert result.status is FetchStatus.OK and result.snapshot is not None
    assert result.snapshot.positions == ()


async def test_the_lead_portfolio_reads_are_capped_too(fake, make_source) -> None:
    fake.inject(Fault.HUGE_BODY, path=DETAIL, size=50 << 20)
    with pytest.raises(MalformedAnswer, match="cap on the wire"):
        await read_detail(make_source(), CT_ID)


async def test_a_nickname_is_read_without_control_or_bidi_characters(fake, make_source) -> None:
    fake.set_detail(CT_ID, nickname="Top\u202eTrader\x1b[31m" + "x" * 100)
    detail = await read_detail(make_source(), CT_ID)
    assert detail.nickname == ("TopTrader[31m" + "x" * 100)[:64]
