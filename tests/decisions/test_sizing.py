"""size_order(): how many Bybit contracts mirror a signal, or why none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from decision_builders import mapping, signal

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import SizingSettings
from lightspeed_cli.decisions.sizing import (
    CLAMP_MARKET_MAX_QTY,
    CLAMP_ORDER_NOTIONAL,
    SizedQty,
    floor_to_step,
    size_order,
)
from lightspeed_cli.models import Refusal, SignalKind, SymbolMapping

D = Decimal
K = SignalKind


def ratio(value: str = "0.1", cap: str = "0") -> SizingSettings:
    return SizingSettings(mode=SizingMode.RATIO, value=D(value), max_order_notional_usdt=D(cap))


def size(
    sig,
    sizing: SizingSettings | None = None,
    m: SymbolMapping | None = None,
    *,
    equity: str = "10000",
    held: str = "0",
    leverage: int = 10,
    price: str | None = None,
    reduced: D = D(0),
):
    return size_order(
        sig,
        sizing=sizing or ratio(),
        mapping=m or mapping(),
        equity_usdt=D(equity),
        held_qty=D(held),
        leverage=leverage,
        price=D(price) if price is not None else None,
        reduced_qty=reduced,
    )


def sized(result) -> SizedQty:
    assert isinstance(result, SizedQty), result
    return result


def refused(result, check: str) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.check == check, result
    return result


# --- floor_to_step ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "step", "expected"),
    [
        ("0.0129", "0.001", "0.012"),
        ("0.012", "0.001", "0.012"),
        ("7.9", "0.5", "7.5"),
        ("129", "10", "120"),
        ("0.0009", "0.001", "0"),
        ("-1", "0.001", "0"),
    ],
)
def test_floor_to_step_rounds_down_to_a_multiple(qty: str, step: str, expected: str):
    assert floor_to_step(D(qty), D(step)) == D(expected)


# --- ratio ------------------------------------------------------------------------------------


def test_ratio_open_is_trader_size_times_ratio():
    r = sized(size(signal(K.OPEN, "0", "2.5"), ratio("0.1")))
    assert r.quantity == D("0.25") and r.notional_usdt == D("12500") and r.clamped_by is None


def test_ratio_increase_mirrors_the_size_change_only():
    assert sized(size(signal(K.INCREASE, "1", "3"), ratio("0.1"), held="0.1")).quantity == D("0.2")


def test_ratio_applies_the_mapping_qty_scale():
    # Binance 1000 units of a 1000x contract = 1 Bybit contract
    m = mapping("1000PEPEUSDT", qty_scale="0.001", price_scale="1000", qty_step="1", min_qty="1")
    s = signal(K.OPEN, "0", "50000", symbol="1000PEPEUSDT", mark="0.01")
    r = sized(size(s, ratio("1"), m))
    assert r.quantity == D(50)
    assert r.notional_usdt == D(500)  # price defaults to mark x price_scale = 10 USDT/contract


def test_quantity_rounds_down_to_step_never_up():
    assert sized(size(signal(K.OPEN, "0", "0.0999"), ratio("0.1"))).quantity == D("0.009")


def test_quantity_rounds_down_to_a_non_decimal_step():
    m = mapping(qty_step="0.5", min_qty="0.5", min_notional="0")
    assert sized(size(signal(K.OPEN, "0", "79", mark="1"), ratio("0.1"), m)).quantity == D("7.5")


# --- min qty / min notional -------------------------------------------------------------------


def test_min_qty_0_001_passes_at_0_001_contracts():
    # 0.01 x 0.1 = 0.001 contracts; 0.001 x 50000 = 50 USDT notional
    assert sized(size(signal(K.OPEN, "0", "0.01"), ratio("0.1"))).quantity == D("0.001")


def test_min_qty_0_002_refuses_0_001_contracts():
    r = refused(
        size(signal(K.OPEN, "0", "0.01"), ratio("0.1"), mapping(min_qty="0.002")), "min_qty"
    )
    assert (r.value, r.limit) == (D("0.001"), D("0.002"))


def test_min_qty_refuses_an_order_that_rounds_to_zero():
    r = refused(size(signal(K.OPEN, "0", "0.009"), ratio("0.1")), "min_qty")
    assert r.value == D(0) and "contracts" in r.reason


def test_min_notional_5usdt_passes_at_5usdt():
    m = mapping(min_notional="5", min_qty="0.1", qty_step="0.1")
    assert sized(size(signal(K.OPEN, "0", "1", mark="50"), ratio("0.1"), m)).notional_usdt == D(5)


def test_min_notional_5usdt_refuses_4_9usdt():
    m = mapping(min_notional="5", min_qty="0.1", qty_step="0.1")
    r = refused(size(signal(K.OPEN, "0", "1", mark="49"), ratio("0.1"), m), "min_notional_usdt")
    assert (r.value, r.limit) == (D("4.9"), D(5))
    assert "USDT" in r.reason


def test_opening_price_defaults_to_trader_mark_and_can_be_given():
    s = signal(K.OPEN, "0", "1", mark="50000")
    assert sized(size(s, ratio("0.1"))).notional_usdt == D(5000)
    assert sized(size(s, ratio("0.1"), price="40000")).notional_usdt == D(4000)


def test_opening_without_any_price_refuses():
    refused(size(signal(K.OPEN, "0", "1", mark="0"), ratio("0.1")), "price")


# --- caps -----------------------------------------------------------------------------------


def test_max_order_notional_1000usdt_does_not_clamp_an_order_of_exactly_1000usdt():
    r = sized(size(signal(K.OPEN, "0", "0.2"), ratio("0.1", cap="1000")))
    assert (r.quantity, r.notional_usdt, r.clamped_by) == (D("0.02"), D(1000), None)


def test_max_order_notional_1000usdt_clamps_an_order_of_1500usdt_to_the_step_below():
    r = sized(size(signal(K.OPEN, "0", "0.5"), ratio("0.1", cap="1000"), price="30000"))
    # 1000 / 30000 = 0.0333.. -> 0.033 contracts = 990 USDT
    assert (r.quantity, r.notional_usdt, r.clamped_by) == (D("0.033"), D(990), CLAMP_ORDER_NOTIONAL)


def test_market_max_qty_clamps():
    r = sized(size(signal(K.OPEN, "0", "200"), ratio("0.1"), mapping(max_qty="5")))
    assert (r.quantity, r.clamped_by) == (D(5), CLAMP_MARKET_MAX_QTY)


def test_market_max_qty_at_the_limit_is_not_clamped():
    r = sized(size(signal(K.OPEN, "0", "50"), ratio("0.1"), mapping(max_qty="5")))
    assert (r.quantity, r.clamped_by) == (D(5), None)


def test_clamp_below_min_qty_refuses():
    r = size(signal(K.OPEN, "0", "1"), ratio("0.1", cap="10"), mapping(min_notional="0"))
    refused(r, "min_qty")  # 10 USDT / 50000 = 0.0002 contracts


# --- fixed_margin / equity_pct ----------------------------------------------------------------


def test_fixed_margin_open_is_margin_times_leverage_over_price():
    s = SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100))
    r = sized(size(signal(K.OPEN, "0", "7"), s, leverage=10, price="50000"))
    assert r.quantity == D("0.02") and r.notional_usdt == D(1000)


def test_fixed_margin_ignores_the_trader_size_on_open():
    s = SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100))
    assert size(signal(K.OPEN, "0", "1"), s) == size(signal(K.OPEN, "0", "99"), s)


def test_equity_pct_open_uses_percent_of_equity_as_margin():
    s = SizingSettings(mode=SizingMode.EQUITY_PCT, value=D(5))
    # 5 % of 10000 = 500 USDT margin x 4 = 2000 USDT notional / 50000 = 0.04
    r = sized(size(signal(K.OPEN, "0", "1"), s, equity="10000", leverage=4))
    assert r.quantity == D("0.04") and r.notional_usdt == D(2000)


def test_equity_pct_without_equity_refuses():
    s = SizingSettings(mode=SizingMode.EQUITY_PCT, value=D(5))
    refused(size(signal(K.OPEN, "0", "1"), s, equity="0"), "equity_usdt")


@pytest.mark.parametrize("mode", [SizingMode.FIXED_MARGIN, SizingMode.EQUITY_PCT])
def test_margin_modes_increase_held_by_the_traders_relative_increase(mode: SizingMode):
    s = SizingSettings(mode=mode, value=D(5))
    assert sized(size(signal(K.INCREASE, "2", "3"), s, held="0.08")).quantity == D("0.04")


@pytest.mark.parametrize("mode", list(SizingMode))
def test_increase_of_a_position_we_do_not_hold_is_refused(mode: SizingMode):
    s = SizingSettings(mode=mode, value=D(5))
    refused(size(signal(K.INCREASE, "2", "3"), s, held="0"), "not_mirrored")


# --- reduce / close -------------------------------------------------------------------------


def test_reduce_scales_held_by_the_traders_fraction():
    r = sized(size(signal(K.REDUCE, "4", "3"), held="0.4"))
    assert r.quantity == D("0.1") and r.clamped_by is None


def test_reduce_keeps_the_target_rounded_down():
    """Issue 11: sized from the delta (a 28-digit 1/3) it sold 0.099 and left 0.201. The
    reduce keeps held x new / old rounded down to the step and sells the rest."""
    assert sized(size(signal(K.REDUCE, "3", "2"), held="0.3")).quantity == D("0.1")
    # held 0.1 x 2/3 = 0.0666.. -> keep 0.066, sell 0.034 (it used to sell 0.033 of the delta)
    assert sized(size(signal(K.REDUCE, "3", "2"), held="0.1")).quantity == D("0.034")


def test_reduce_of_what_an_earlier_partial_fill_left_keeps_the_same_target():
    # 0.3 held at 3, 3 -> 2: keep 0.2; the first try sold 0.04 of the 0.1 (IOC cut short)
    r = sized(size(signal(K.REDUCE, "3", "2"), held="0.26", reduced=D("0.04")))
    assert r.quantity == D("0.06")


def test_reduce_below_min_qty_is_refused():
    m = mapping(qty_step="0.001", min_qty="0.01")
    r = refused(size(signal(K.REDUCE, "100", "99"), m=m, held="0.05"), "min_qty")
    assert r.value == D("0.001")


def test_reduce_is_not_clamped_by_the_order_notional_cap_nor_min_notional():
    r = sized(size(signal(K.REDUCE, "2", "1"), ratio("0.1", cap="10"), held="1"))
    assert r.quantity == D("0.5") and r.clamped_by is None
    tiny = sized(size(signal(K.REDUCE, "2", "1"), mapping(min_notional="1000"), held="0.002"))
    assert tiny.quantity == D("0.001")


def test_reduce_with_nothing_held_is_refused():
    refused(size(signal(K.REDUCE, "2", "1"), held="0"), "nothing_to_reduce")


def test_close_sells_exactly_what_we_hold():
    r = sized(size(signal(K.CLOSE, "5", "0"), held="0.123"))
    assert r.quantity == D("0.123") and r.notional_usdt == D("6150")


def test_close_is_never_rounded_clamped_or_refused_for_minimums():
    m = mapping(qty_step="0.01", min_qty="1", max_qty="0.001", min_notional="1000000")
    r = sized(size(signal(K.CLOSE, "5", "0"), ratio("0.1", cap="1"), m, held="0.0057"))
    assert r.quantity == D("0.0057") and r.clamped_by is None


def test_close_with_nothing_held_is_refused():
    r = refused(size(signal(K.CLOSE, "5", "0"), held="0"), "nothing_to_close")
    assert "nothing to close" in r.reason


def test_flip_must_be_expanded_before_sizing():
    flip = signal(K.OPEN).model_copy(update={"kind": K.FLIP})
    with pytest.raises(ValueError, match="expand"):
        size(flip)


def test_reduce_never_leaves_a_remainder_below_min_qty_that_could_not_be_closed():
    m = mapping(qty_step="0.01", min_qty="0.05")
    # 65 % of 0.1 = 0.065 -> 0.06 would leave 0.04 < 0.05: sell 0.05, keep the minimum
    assert sized(size(signal(K.REDUCE, "1", "0.35"), m=m, held="0.1")).quantity == D("0.05")
    # leaving exactly the minimum is fine as it is
    assert sized(size(signal(K.REDUCE, "2", "1"), m=m, held="0.1")).quantity == D("0.05")
    # when keeping the minimum leaves less than a minimum order to sell: refused
    refused(size(signal(K.REDUCE, "1", "0.35"), m=m, held="0.09"), "min_qty")
