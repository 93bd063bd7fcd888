"""The lead portfolio's history readers the forecast uses: position-history rows as recorded,
order-history's totalPnl, and paging back to a date (or up to a page limit, said so) through
BinanceSource.read against the fake Binance."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from binance_helpers import CT_ID, fixture_body

from lightspeed_cli.models import LeaderLot, Side
from lightspeed_cli.sim.binance import ORDER_HISTORY, POSITION_HISTORY, FakeBinance, FakePosition
from lightspeed_cli.sources.errors import MalformedAnswer, RejectedAnswer
from lightspeed_cli.sources.lead_portfolio import (
    parse_lots,
    parse_orders,
    read_lots,
    read_order_window,
)

T0 = 1_714_557_600_000
MINUTE = 60_000


def test_position_history_as_recorded() -> None:
    lots, total = parse_lots(fixture_body("lead_portfolio_position_history.json"))
    assert lots == [LeaderLot("ETHUSDT", Side.LONG, 1714557600456, 1714561260123)]
    assert total == 1


def test_position_history_rows_missing_fields_are_skipped_open_lots_have_no_close() -> None:
    rows = [
        {"symbol": "BTCUSDT", "side": "Short", "opened": "1714557600000", "closed": None},
        {"symbol": "ETHUSDT", "side": "Long"},  # no open time
        {"side": "Long", "opened": 1},  # no symbol
        {"symbol": "SOLUSDT", "side": "Sideways", "opened": 1},
    ]
    body = json.dumps({"success": True, "code": "000000", "data": {"list": rows, "total": 4}})
    lots, total = parse_lots(body.encode())
    assert lots == [LeaderLot("BTCUSDT", Side.SHORT, 1714557600000, None)] and total == 4
    assert lots[0].open_at(1714557600001) and not lots[0].open_at(1714557600000)
    with pytest.raises(RejectedAnswer):
        parse_lots(b'{"success": false, "code": "000002", "message": "illegal parameter"}')
    with pytest.raises(MalformedAnswer):
        parse_lots(b'{"success": true, "data": null}')


def test_orders_keep_the_leaders_realized_pnl() -> None:
    orders, _ = parse_orders(fixture_body("lead_portfolio_order_history.json"))
    assert [o.pnl for o in orders] == [Decimal("45.2"), Decimal(0)]
    body = fixture_body("lead_portfolio_order_history.json").replace(b"45.2", b'"45.2"')
    assert parse_orders(body)[0][0].pnl == Decimal("45.2")  # a string number too


def _busy_leader(fake: FakeBinance, round_trips: int) -> None:
    """`round_trips` opens and closes a minute apart: two orders and one lot each."""
    for i in range(round_trips):
        at = T0 + 2 * i * MINUTE
        fake.set_positions(CT_ID, [FakePosition.long("BTCUSDT", "1", "60000")], at_ms=at)
        fake.clear_positions(CT_ID, prices={"BTCUSDT": "60100"}, at_ms=at + MINUTE)


async def test_the_order_window_pages_back_to_its_start_or_says_it_did_not(
    fake: FakeBinance, make_source
) -> None:
    _busy_leader(fake, 125)  # 250 orders
    source = make_source()
    orders, complete = await read_order_window(source, CT_ID, since_ms=T0, max_pages=5)
    assert complete and len(orders) == 250
    assert len(fake.requests(CT_ID, paths=[ORDER_HISTORY])) == 3
    fake.clear_log()
    orders, complete = await read_order_window(source, CT_ID, since_ms=T0, max_pages=2)
    assert not complete and len(orders) == 200
    fake.clear_log()
    recent = T0 + 200 * MINUTE  # the last 50 orders only: one page is enough
    orders, complete = await read_order_window(source, CT_ID, since_ms=recent, max_pages=5)
    assert complete and len(orders) == 50 and min(o.time_ms for o in orders) >= recent
    assert len(fake.requests(CT_ID, paths=[ORDER_HISTORY])) == 1


async def test_position_history_pages_until_its_total(fake: FakeBinance, make_source) -> None:
    _busy_leader(fake, 125)  # 125 lots
    fake.set_positions(CT_ID, [FakePosition.short("ETHUSDT", "2", "3000")], at_ms=T0 + 10**8)
    source = make_source()
    lots, complete = await read_lots(source, CT_ID, max_pages=5)
    assert complete and len(lots) == 126
    assert lots[0] == LeaderLot("ETHUSDT", Side.SHORT, T0 + 10**8, None)  # newest first
    assert len(fake.requests(CT_ID, paths=[POSITION_HISTORY])) == 2
    lots, complete = await read_lots(source, CT_ID, max_pages=1)
    assert not complete and len(lots) == 100
