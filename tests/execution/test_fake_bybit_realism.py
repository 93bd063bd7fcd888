"""The fake Bybit's switches for real Bybit behaviours (shared/api/bybit_ccxt.md section 5)."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest
from exec_helpers import Client

from lightspeed_cli.sim.bybit import FakeBybit, main

BY_LINK = "category=linear&symbol=BTCUSDT&orderLinkId="


def _listed(client: Client, link: str) -> tuple[list[dict], list[dict]]:
    realtime = client.get("/v5/order/realtime", BY_LINK + link)["result"]["list"]
    history = client.get("/v5/order/history", BY_LINK + link)["result"]["list"]
    return realtime, history


def test_a_request_past_its_recv_window_is_refused_and_not_executed(
    client: Client, fake: FakeBybit
) -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market"}
    late = client.post("/v5/order/create", {**body, "qty": "0.01", "orderLinkId": "w1"}, 5100)
    assert late["retCode"] == 10002 and "recv_window" in late["retMsg"]
    in_time = client.post("/v5/order/create", {**body, "qty": "0.01", "orderLinkId": "w2"}, 4000)
    assert in_time["retCode"] == 0
    assert [o.order_link_id for o in fake.orders] == ["w2"]


def test_accepted_orders_can_stay_unlisted_for_a_while(client: Client, fake: FakeBybit) -> None:
    fake.hide_orders(0.4)
    assert client.order(qty="0.01", orderLinkId="h1")["result"]["orderId"]
    assert _listed(client, "h1") == ([], [])
    assert client.order(qty="0.01", orderLinkId="h1")["retCode"] == 110072  # Bybit has it
    time.sleep(0.5)
    realtime, history = _listed(client, "h1")
    assert len(realtime) == len(history) == 1


def test_closed_orders_only_in_history(client: Client, fake: FakeBybit) -> None:
    client.order(qty="0.01", orderLinkId="r1")
    fake.history_only()
    realtime, history = _listed(client, "r1")
    assert realtime == [] and history[0]["orderStatus"] == "Filled"


@pytest.mark.parametrize("status", ["Cancelled", "PartiallyFilledCanceled", "Deactivated"])
def test_market_order_out_of_liquidity_ends_with_a_partial_fill(
    client: Client, fake: FakeBybit, status: str
) -> None:
    fake.partial_fills("0.4", status=status)
    client.order(qty="0.05", orderLinkId="p1")
    client.order(qty="0.05", orderLinkId="p2")  # the switch was for one order
    [row] = _listed(client, "p1")[1]
    assert (row["orderStatus"], row["cumExecQty"], row["leavesQty"]) == (status, "0.02", "0")
    assert (row["orderType"], row["timeInForce"]) == ("Market", "IOC")
    assert D(row["price"]) > D(row["avgPrice"]) == D(60000)  # the protection price, not the fill
    assert fake.ledger.position("BTCUSDT", 0).size == D("0.07")


def test_partial_fill_below_the_minimum_fills_nothing(client: Client, fake: FakeBybit) -> None:
    fake.partial_fills("0.1")
    assert client.order(qty="0.005", orderLinkId="p3")["retCode"] == 0
    [row] = _listed(client, "p3")[1]
    assert (row["orderStatus"], row["cumExecQty"]) == ("Cancelled", "0")
    assert fake.ledger.open_positions() == []


def _pages(client: Client, query: str) -> list[tuple[list[str], str]]:
    pages, cursor = [], ""
    for _ in range(5):
        q = query + (f"&cursor={cursor}" if cursor else "")
        result = client.get("/v5/position/list", q)["result"]
        pages.append(([r["symbol"] for r in result["list"]], result["nextPageCursor"]))
        cursor = result["nextPageCursor"]
        if not cursor:
            break
    return pages


@pytest.mark.parametrize(("last", "tail"), [("repeat", ["ETHUSDT"]), ("empty", [])])
def test_paging_with_a_cursor_on_the_last_page(
    client: Client, fake: FakeBybit, last: str, tail: list[str]
) -> None:
    client.order(qty="0.01", orderLinkId="a")
    client.order(qty="0.1", symbol="ETHUSDT", orderLinkId="b")
    fake.paging(page_size=1, last_cursor=last)
    pages = _pages(client, "category=linear&settleCoin=USDT&limit=200")
    assert [p[0] for p in pages] == [["BTCUSDT"], ["ETHUSDT"], tail]
    assert pages[1][1] != "" and pages[2][1] == ""


def test_multi_coin_unified_wallet(client: Client, fake: FakeBybit) -> None:
    fake.set_balance("0")
    fake.set_coins({"USDC": "90000", "BTC": "2255.97"})
    [account] = client.get("/v5/account/wallet-balance", "accountType=UNIFIED")["result"]["list"]
    assert D(account["totalEquity"]) == D("92255.97")
    assert [c["coin"] for c in account["coin"]] == ["USDT", "USDC", "BTC"]
    only = client.get("/v5/account/wallet-balance", "accountType=UNIFIED&coin=USDT")
    [account] = only["result"]["list"]
    assert [c["coin"] for c in account["coin"]] == ["USDT"] and account["coin"][0]["equity"] == "0"
    assert client.order(qty="0.01", orderLinkId="c1")["retCode"] == 0  # USDC margins it


def test_runs_standalone_with_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "--hide-orders" in capsys.readouterr().out
