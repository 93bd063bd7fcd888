"""The fake Bybit on the wire: envelope, signatures and the refusals Bybit makes."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from exec_helpers import Client

from lightspeed_cli.sim.bybit import FakeBybit, Fault


def test_envelope_and_unknown_path(client: Client) -> None:
    body = client.get("/v5/market/time", signed=False)
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert body["retCode"] == 0
    assert client.get("/v5/no/such/thing", signed=False)["retCode"] == 10017


def test_prelaunch_list_is_empty(client: Client) -> None:
    q = "category=linear&limit=1000"
    assert len(client.get("/v5/market/instruments-info", q, signed=False)["result"]["list"]) > 5
    pre = client.get("/v5/market/instruments-info", q + "&status=PreLaunch", signed=False)
    assert pre["result"]["list"] == []


def test_signature_is_checked(fake: FakeBybit) -> None:
    q = "accountType=UNIFIED"
    assert Client(fake).get("/v5/account/wallet-balance", q)["retCode"] == 0
    assert (
        Client(fake, secret="not-the-secret").get("/v5/account/wallet-balance", q)["retCode"]
        == 10004
    )
    assert Client(fake).get("/v5/account/wallet-balance", q, signed=False)["retCode"] == 10001


def test_order_refusals(client: Client, fake: FakeBybit) -> None:
    assert client.order(qty="0.01", positionIdx=1, orderLinkId="a")["retMsg"] == (
        "position idx not match position mode"
    )
    assert client.order(qty="0.0015", orderLinkId="b")["retCode"] == 10001  # off step
    assert client.order(qty="0.0001", orderLinkId="c")["retCode"] == 10001
    assert client.order(qty="0.01", reduceOnly=True, orderLinkId="d")["retCode"] == 110017
    assert client.order(qty="1", symbol="XRPUSDT", orderLinkId="e")["retCode"] == 110094
    assert client.order(qty="10", orderLinkId="f")["retCode"] == 110007
    assert client.order(qty="0.01", orderLinkId="g")["retCode"] == 0
    assert client.order(qty="0.01", orderLinkId="g")["retCode"] == 110072
    assert client.order(qty="0.01", side="Buy", reduceOnly=True, orderLinkId="h")["retCode"] == (
        110017  # reduce-only that would increase the long
    )
    assert [o.order_link_id for o in fake.orders] == ["g"]
    assert [r[0] for r in fake.rejections] == ["a", "b", "c", "d", "e", "f", "g", "h"]


@pytest.mark.parametrize(
    "fields",
    [
        {"qty": 0.01},  # a JSON number: Bybit wants decimal strings ("Request parameter error")
        {"qty": "1E-2"},  # exponent notation
        {"qty": " 0.01"},
        {"orderLinkId": "ls:1"},  # only letters, digits, "-" and "_"
        {"orderLinkId": "ls.1"},
        {"orderLinkId": "a" * 37},  # at most 36
    ],
)
def test_order_fields_bybit_refuses(client: Client, fake: FakeBybit, fields: dict) -> None:
    body = {"qty": "0.01", "orderLinkId": "ok-1", **fields}
    assert client.order(**body)["retCode"] == 10001
    assert fake.orders == []
    assert client.order(qty="0.01", orderLinkId="A-z_09" + "x" * 30)["retCode"] == 0  # 36 chars


def test_settings_endpoints(client: Client, fake: FakeBybit) -> None:
    lev = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}
    assert client.post("/v5/position/set-leverage", lev)["retCode"] == 0
    assert client.post("/v5/position/set-leverage", lev)["retCode"] == 110043
    mode = {"category": "linear", "coin": "USDT", "mode": 0}
    assert client.post("/v5/position/switch-mode", mode)["retCode"] == 110025
    client.order(qty="0.01", orderLinkId="p")
    assert client.post("/v5/position/switch-mode", {**mode, "mode": 3})["retCode"] == 110024
    client.order(qty="0.01", side="Sell", reduceOnly=True, orderLinkId="q")
    assert client.post("/v5/position/switch-mode", {**mode, "mode": 3})["retCode"] == 0
    assert fake.hedge_mode


def test_position_slots_by_symbol(client: Client, fake: FakeBybit) -> None:
    q = "category=linear&symbol=ETHUSDT"
    slots = client.get("/v5/position/list", q)["result"]["list"]
    assert [(s["positionIdx"], s["size"], s["side"]) for s in slots] == [(0, "0", "")]
    assert (
        client.get("/v5/position/list", "category=linear&settleCoin=USDT")["result"]["list"] == []
    )
    fake.set_position_mode(True)
    slots = client.get("/v5/position/list", q)["result"]["list"]
    assert [s["positionIdx"] for s in slots] == [1, 2]


def test_order_log_and_lookup(client: Client, fake: FakeBybit) -> None:
    fake.set_price("BTCUSDT", "65000")
    created = client.order(qty="0.02", orderLinkId="log1")["result"]
    [record] = fake.orders
    assert (record.order_id, record.symbol, record.side, record.qty) == (
        created["orderId"], "BTCUSDT", "Buy", D("0.02"),
    )  # fmt: skip
    assert (record.price, record.fee, record.position_idx, record.reduce_only) == (
        D(65000), D("0.715"), 0, False,
    )  # fmt: skip
    rows = client.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT&orderLinkId=log1")
    [row] = rows["result"]["list"]
    assert (row["orderStatus"], row["cumExecQty"], row["avgPrice"]) == ("Filled", "0.02", "65000")
    assert (
        client.get("/v5/order/realtime", "category=linear&settleCoin=USDT")["result"]["list"] == []
    )  # nothing open


def test_faults_apply_to_the_next_calls_only(client: Client, fake: FakeBybit) -> None:
    fake.inject("/v5/market/time", Fault.rate_limit(), times=2)
    codes = [client.get("/v5/market/time", signed=False)["retCode"] for _ in range(3)]
    assert codes == [10006, 10006, 0]
    fake.inject("/v5/market/time", Fault.maintenance())
    response = client.http.get("/v5/market/time")
    assert response.status_code == 503
    assert fake.calls("/v5/market/time") == 4
