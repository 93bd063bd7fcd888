"""The account model shared by the fake Bybit and the paper broker (pure)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from lightspeed_cli.execution.ledger import Ledger, LedgerReject, position_idx
from lightspeed_cli.execution.markets import markets_from_instruments
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import default_instruments

BTC = markets_from_instruments(default_instruments())["BTCUSDT"]


def fill(ledger: Ledger, side: str, qty: str, price: str, *, reduce: bool = False, idx: int = 0):
    return ledger.fill_market(BTC, side, D(qty), D(price), reduce_only=reduce, idx=idx)  # type: ignore[arg-type]


def test_position_idx() -> None:
    assert position_idx(Side.LONG, False) == position_idx(Side.SHORT, False) == 0
    assert (position_idx(Side.LONG, True), position_idx(Side.SHORT, True)) == (1, 2)


def test_open_increase_reduce_close_with_pnl_and_fees() -> None:
    ledger = Ledger(wallet=D(10_000))
    f = fill(ledger, "buy", "0.01", "60000")
    assert (f.qty, f.fee) == (D("0.01"), D("0.33"))
    fill(ledger, "buy", "0.01", "62000")
    pos = ledger.position("BTCUSDT", 0)
    assert (pos.side, pos.size, pos.entry_price) == (Side.LONG, D("0.02"), D(61000))
    f = fill(ledger, "sell", "0.01", "63000", reduce=True)
    assert f.realised_pnl == D(20)
    f = fill(ledger, "sell", "0.05", "63000", reduce=True)  # clipped to what is left
    assert f.qty == D("0.01")
    assert ledger.position("BTCUSDT", 0).size == 0
    fees = D("0.33") + D("0.341") + D("0.3465") + D("0.3465")
    assert ledger.wallet == D(10_000) + D(40) - fees


def test_one_way_flip_and_reduce_only_rules() -> None:
    ledger = Ledger(wallet=D(10_000))
    fill(ledger, "buy", "0.01", "60000")
    fill(ledger, "sell", "0.03", "60000")  # not reduce-only: closes 0.01, opens 0.02 short
    pos = ledger.position("BTCUSDT", 0)
    assert (pos.side, pos.size) == (Side.SHORT, D("0.02"))
    with pytest.raises(LedgerReject) as exc:
        fill(ledger, "sell", "0.01", "60000", reduce=True)  # would increase the short
    assert exc.value.code == 110017


def test_hedge_books_are_separate() -> None:
    ledger = Ledger(wallet=D(10_000), hedge_mode=True)
    fill(ledger, "buy", "0.01", "60000", idx=1)
    fill(ledger, "sell", "0.02", "60000", idx=2)
    assert ledger.position("BTCUSDT", 1).size == D("0.01")
    assert ledger.position("BTCUSDT", 2).size == D("0.02")
    with pytest.raises(LedgerReject) as exc:
        fill(ledger, "buy", "0.01", "60000", idx=0)
    assert (exc.value.code, exc.value.msg) == (10001, "position idx not match position mode")
    with pytest.raises(LedgerReject) as exc:
        fill(ledger, "buy", "0.01", "60000", reduce=True, idx=1)
    assert exc.value.code == 110017


@pytest.mark.parametrize(
    ("qty", "price", "code"),
    [
        ("0.0015", "60000", 10001),  # off the step
        ("120", "60000", 10001),  # above the market-order maximum
        ("0.001", "4000", 110094),  # 4 USDT < 5 USDT minimum notional
        ("2", "60000", 110007),  # 12,000 USDT at 10x needs 1,200 > 1,000
    ],
)
def test_rejections(qty: str, price: str, code: int) -> None:
    ledger = Ledger(wallet=D(1_000))
    with pytest.raises(LedgerReject) as exc:
        fill(ledger, "buy", qty, price)
    assert exc.value.code == code
    assert ledger.wallet == D(1_000) and not ledger.open_positions()


def test_json_round_trip() -> None:
    ledger = Ledger(wallet=D(10_000), hedge_mode=True)
    ledger.set_leverage("BTCUSDT", D(20))
    fill(ledger, "sell", "0.01", "60000", idx=2)
    again = Ledger.from_json(ledger.to_json())
    assert again.to_json() == ledger.to_json()
    assert again.equity({"BTCUSDT": D(59000)}) == ledger.wallet + D(10)
