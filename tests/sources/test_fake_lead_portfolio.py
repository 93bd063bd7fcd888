"""The fake Binance's lead-portfolio detail, order-history and position-history: the recorded
shapes, and orders that always explain the scripted positions."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import httpx
from binance_helpers import CT_ID, fixture_body

from lightspeed_cli.sim.binance import (
    COPYTRADE,
    DETAIL,
    ORDER_HISTORY,
    POSITION_HISTORY,
    FakeBinance,
    FakePosition,
    Fault,
)

T0 = 1_714_557_600_000


def _page(client: httpx.Client, path: str, number: int = 1, size: int = 100, **extra: Any):
    body = {"pageNumber": number, "pageSize": size, "portfolioId": CT_ID, **extra}
    return client.post(path, json=body)


def test_bodies_have_the_recorded_shapes(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", "0.5", "3012")], at_ms=T0)
    fake.clear_positions(CT_ID, prices={"ETHUSDT": "3102.4"}, at_ms=T0 + 60_000)
    with httpx.Client(base_url=fake.url) as client:
        detail = client.get(DETAIL, params={"portfolioId": CT_ID}).json()
        orders = _page(client, ORDER_HISTORY).json()
        lots = _page(client, POSITION_HISTORY).json()
        unknown = client.get(DETAIL, params={"portfolioId": "1" * 19})
    want_detail = json.loads(fixture_body("lead_portfolio_detail.json"))
    want_orders = json.loads(fixture_body("lead_portfolio_order_history.json"))
    want_lots = json.loads(fixture_body("lead_portfolio_position_history.json"))
    assert detail.keys() == want_detail.keys()
    assert detail["data"].keys() == want_detail["data"].keys()
    assert detail["data"]["status"] == "ACTIVE" and detail["data"]["leadPortfolioId"] == CT_ID
    assert orders["data"].keys() == want_orders["data"].keys() == {"list", "total"}
    assert [r.keys() for r in orders["data"]["list"]] == [
        r.keys() for r in want_orders["data"]["list"]
    ]
    close, open_ = orders["data"]["list"]  # newest first
    assert (open_["side"], open_["executedQty"], open_["avgPrice"]) == ("BUY", 0.5, 3012.0)
    assert (close["side"], close["avgPrice"], close["totalPnl"]) == ("SELL", 3102.4, 45.2)
    assert (open_["orderUpdateTime"], close["orderUpdateTime"]) == (T0, T0 + 60_000)
    assert orders["data"]["total"] == 2
    (lot,) = lots["data"]["list"]
    assert lot.keys() == want_lots["data"]["list"][0].keys()
    assert (lot["side"], lot["status"], lot["opened"], lot["closed"]) == (
        "Long",
        "Closed",
        T0,
        T0 + 60_000,
    )
    assert (lot["maxOpenInterest"], lot["closedVolume"], lot["avgClosePrice"]) == (
        "0.5",
        "0.5",
        "3102.4",
    )
    assert unknown.status_code == 400
    assert unknown.json() == json.loads(fixture_body("lead_portfolio_unknown.json"))


def test_adds_fill_at_the_price_that_gives_the_new_entry(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", "1", "3000")])
    fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", "2", "3050")])
    fake.set_mark_price("ETHUSDT", "3200")
    fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", "0.5", "3050")])
    opened, added, reduced = fake.orders(CT_ID)
    assert (opened.side, opened.qty, opened.avg_price) == ("BUY", 1, 3000)
    assert (added.side, added.qty, added.avg_price) == ("BUY", 1, 3100)
    assert (reduced.side, reduced.qty, reduced.avg_price) == ("SELL", Decimal("1.5"), 3200)
    assert reduced.pnl == 150 * Decimal("1.5")
    (lot,) = fake.lots(CT_ID)
    assert (lot.status, lot.max_open, lot.closed_volume, lot.closed) == (
        "Partially Closed",
        2,
        Decimal("1.5"),
        None,
    )


def test_a_one_way_flip_is_one_order_and_two_lots(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [FakePosition.long("BTCUSDT", "1", "60000")])
    fake.set_positions(CT_ID, [FakePosition.short("BTCUSDT", "2", "61000")])
    _, flip = fake.orders(CT_ID)
    assert (flip.side, flip.qty, flip.avg_price, flip.pnl) == ("SELL", 3, 61000, 1000)
    first, second = fake.lots(CT_ID)
    assert (first.side, first.status, second.side, second.status) == (
        "Long",
        "Closed",
        "Short",
        "Open",
    )


def test_hedge_orders_name_their_position_side(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    both = [
        FakePosition.long("ETHUSDT", "1", "3000", hedge=True),
        FakePosition.short("ETHUSDT", "2", "3000", hedge=True),
    ]
    fake.set_positions(CT_ID, both)
    fake.set_positions(CT_ID, both[1:], prices={"ETHUSDT": "2900"})
    sides = [(o.position_side, o.side, o.qty) for o in fake.orders(CT_ID)]
    assert sides == [("LONG", "BUY", 1), ("SHORT", "SELL", 2), ("LONG", "SELL", 1)]
    assert fake.orders(CT_ID)[-1].pnl == -100


def test_orders_replayed_rebuild_every_scripted_book(threaded_fake: FakeBinance) -> None:
    """Whatever positions are scripted, summing the orders gives the amounts and entries."""
    fake = threaded_fake
    rng = random.Random(16)
    for _ in range(60):
        book = []
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            size = Decimal(rng.randint(-4, 4)) / 2
            entry = Decimal(rng.randint(90, 110))
            if size:
                book.append(FakePosition(symbol, size, entry, 10, "BOTH"))
        fake.set_mark_price("ETHUSDT", Decimal(rng.randint(90, 110)))
        previous = {p.symbol: p for p in fake_book(fake)}
        # an unchanged size keeps its entry (an entry price moves only with a fill)
        book = [
            FakePosition(p.symbol, p.amount, previous[p.symbol].entry_price, 10, "BOTH")
            if p.symbol in previous and previous[p.symbol].amount == p.amount
            else p
            for p in book
        ]
        fake.set_positions(CT_ID, book)
        assert _replay(fake) == {p.symbol: p.amount for p in book}
        open_lots = {lot.symbol: lot for lot in fake.lots(CT_ID) if lot.closed is None}
        assert {s: lot.size for s, lot in open_lots.items()} == {
            p.symbol: abs(p.amount) for p in book
        }
        assert all(
            (lot.side == "Long") == (p.amount > 0) for p in book for lot in [open_lots[p.symbol]]
        )


def fake_book(fake: FakeBinance) -> list[FakePosition]:
    return list(fake._books[CT_ID].positions) if CT_ID in fake._books else []


def _replay(fake: FakeBinance) -> dict[str, Decimal]:
    held: dict[str, Decimal] = {}
    for order in fake.orders(CT_ID):
        held[order.symbol] = held.get(order.symbol, Decimal(0)) + (
            order.qty if order.side == "BUY" else -order.qty
        )
    return {s: amount for s, amount in held.items() if amount}


def test_pages_newest_first_and_bounded(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    for i in range(5):
        fake.set_positions(CT_ID, [FakePosition.long("ETHUSDT", str(i + 1), "3000")], at_ms=T0 + i)
    with httpx.Client(base_url=fake.url) as client:
        first = _page(client, ORDER_HISTORY, 1, 2).json()["data"]
        third = _page(client, ORDER_HISTORY, 3, 2).json()["data"]
        since = _page(client, ORDER_HISTORY, startTime=T0 + 3).json()["data"]
        too_big = _page(client, ORDER_HISTORY, size=101)
    assert [r["orderUpdateTime"] for r in first["list"]] == [T0 + 4, T0 + 3]
    assert [r["orderUpdateTime"] for r in third["list"]] == [T0]
    assert first["total"] == third["total"] == 5 and since["total"] == 2
    assert too_big.status_code == 400 and too_big.json()["success"] is False


def test_detail_status_and_balance_are_scriptable(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_detail(CT_ID, status="CLOSING", margin_balance="2001.39704602")
    with httpx.Client(base_url=fake.url) as client:
        data = client.get(DETAIL, params={"portfolioId": CT_ID}).json()["data"]
    assert (data["status"], data["marginBalance"]) == ("CLOSING", "2001.39704602")


def test_faults_can_target_one_endpoint(threaded_fake: FakeBinance) -> None:
    fake = threaded_fake
    fake.set_positions(CT_ID, [])
    fake.inject(Fault.SERVER_ERROR, path=ORDER_HISTORY)
    with httpx.Client(base_url=fake.url) as client:
        history = _page(client, ORDER_HISTORY)
        positions = client.get(COPYTRADE, params={"portfolioId": CT_ID})
    assert (history.status_code, positions.status_code) == (500, 200)
    assert fake.position_reads(CT_ID) == 1 and fake.request_count(CT_ID) == 2
