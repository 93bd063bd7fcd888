"""decide(): one signal + follower state -> an OrderIntent or the refusal that stopped it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from decision_builders import T0, decision_ctx, signal

from lightspeed_cli.config.choices import LeveragePolicy, SizingMode
from lightspeed_cli.config.sections import SafetySettings, SizingSettings
from lightspeed_cli.decisions.decide import decide
from lightspeed_cli.models import Decision, Refusal, Side, SignalKind

D = Decimal
K = SignalKind
RATIO = SizingSettings(mode=SizingMode.RATIO, value=D("0.1"))
SAFE = SafetySettings()


def run(sig, sizing: SizingSettings = RATIO, safety: SafetySettings = SAFE, **ctx) -> Decision:
    license_refusal = ctx.pop("license_refusal", None)
    return decide(
        sig, decision_ctx(**ctx), sizing=sizing, safety=safety, license_refusal=license_refusal
    )


def approved(d: Decision):
    assert d.approved and d.refusal is None, d.refusal
    assert d.intent is not None
    return d.intent


def refused(d: Decision, check: str) -> Refusal:
    assert not d.approved and d.intent is None
    assert d.refusal is not None and d.refusal.check == check, d.refusal
    return d.refusal


def test_open_long_builds_a_buy_intent():
    sig = signal(K.OPEN, "0", "0.5", leverage=7)
    i = approved(run(sig))
    assert (i.signal_kind, i.order_side, i.side, i.reduce_only) == (K.OPEN, "buy", Side.LONG, False)
    assert (i.binance_symbol, i.symbol, i.trader) == ("BTCUSDT", "BTCUSDT", sig.trader)
    assert (i.quantity, i.leverage, i.reference_price) == (D("0.05"), 7, D(50000))
    assert i.client_order_id == "ls-test-0001"


def test_open_short_builds_a_sell_intent():
    i = approved(run(signal(K.OPEN, "0", "0.5", side=Side.SHORT)))
    assert (i.order_side, i.side, i.reduce_only) == ("sell", Side.SHORT, False)


@pytest.mark.parametrize(
    ("side", "order_side"), [(Side.LONG, "sell"), (Side.SHORT, "buy")], ids=["long", "short"]
)
def test_close_is_reduce_only_on_the_closing_order_side(side: Side, order_side: str):
    i = approved(run(signal(K.CLOSE, "2", "0", side=side), held_qty=D("0.2")))
    assert (i.order_side, i.reduce_only, i.quantity, i.side) == (order_side, True, D("0.2"), side)
    assert i.reference_price == D(50000)  # from the trader's previous position


def test_reduce_is_reduce_only():
    i = approved(run(signal(K.REDUCE, "2", "1"), held_qty=D("0.2")))
    assert (i.order_side, i.reduce_only, i.quantity) == ("sell", True, D("0.1"))


def test_increase_grows_the_position():
    i = approved(run(signal(K.INCREASE, "1", "2"), held_qty=D("0.1")))
    assert (i.order_side, i.reduce_only, i.quantity) == ("buy", False, D("0.1"))


# --- leverage ---------------------------------------------------------------------------------


def test_sizing_leverage_overrides_the_traders():
    sizing = RATIO.model_copy(update={"leverage": 3})
    assert approved(run(signal(K.OPEN, leverage=15), sizing)).leverage == 3


def test_traders_leverage_above_max_is_clamped():
    assert (
        approved(run(signal(K.OPEN, leverage=50), safety=SafetySettings(max_leverage=20))).leverage
        == 20
    )


def test_traders_leverage_above_max_is_refused_under_refuse_policy():
    safety = SafetySettings(max_leverage=20, leverage_policy=LeveragePolicy.REFUSE)
    refused(run(signal(K.OPEN, leverage=21), safety=safety), "leverage_x")
    assert approved(run(signal(K.OPEN, leverage=20), safety=safety)).leverage == 20


def test_clamped_leverage_is_what_fixed_margin_sizes_with():
    sizing = SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100))
    i = approved(run(signal(K.OPEN, leverage=50), sizing, SafetySettings(max_leverage=10)))
    assert (i.leverage, i.quantity) == (10, D("0.02"))  # 100 x 10 / 50000


def test_close_under_refuse_policy_is_clamped_not_refused():
    safety = SafetySettings(max_leverage=20, leverage_policy=LeveragePolicy.REFUSE)
    i = approved(run(signal(K.CLOSE, "1", "0", leverage=125), safety=safety, held_qty=D("0.1")))
    assert i.leverage == 20


# --- refusals -----------------------------------------------------------------------------------


def test_missing_mapping_refuses_with_the_mappers_refusal():
    own = Refusal(check="symbol_multiplier", reason="no 1000X contract on Bybit")
    d = run(signal(K.CLOSE, "1", "0"), mapping=None, mapping_refusal=own, held_qty=D(1))
    assert d.refusal == own


def test_missing_mapping_without_reason_refuses_generically():
    refused(run(signal(K.OPEN), mapping=None), "symbol_listed")


@pytest.mark.parametrize("kind", [K.OPEN, K.INCREASE])
def test_license_that_cannot_open_refuses_opens_and_increases(kind: SignalKind):
    sig = signal(kind, "0" if kind is K.OPEN else "1", "2")
    reason = "the license was revoked; no new positions are opened"
    assert refused(run(sig, held_qty=D("0.1"), license_refusal=reason), "license").reason == reason


@pytest.mark.parametrize(("kind", "new"), [(K.REDUCE, "1"), (K.CLOSE, "0")])
def test_license_that_cannot_open_still_reduces_and_closes(kind: SignalKind, new: str):
    approved(run(signal(kind, "2", new), held_qty=D("0.2"), license_refusal="revoked"))


def test_sizing_refusal_is_the_decision():
    refused(run(signal(K.CLOSE, "1", "0"), held_qty=D(0)), "nothing_to_close")


def test_divergence_refuses_an_open_but_not_a_close():
    ctx = {"bybit_last": D(50_300)}  # 60 bps from the 50000 mark
    refused(run(signal(K.OPEN, "0", "0.5"), **ctx), "price_divergence_bps")
    approved(run(signal(K.CLOSE, "1", "0"), held_qty=D("0.1"), **ctx))


def test_kill_switch_blocks_opens_and_lets_closes_through():
    ctx = {"daily_realized_pnl_usdt": D(-500)}
    refused(run(signal(K.OPEN), **ctx), "daily_loss_usdt")
    approved(run(signal(K.CLOSE, "1", "0"), held_qty=D("0.1"), **ctx))


def test_stale_snapshot_blocks_an_open_but_not_a_close():
    ctx = {"now": T0 + timedelta(seconds=31)}
    refused(run(signal(K.OPEN), **ctx), "snapshot_age_seconds")
    approved(run(signal(K.CLOSE, "1", "0"), held_qty=D("0.1"), **ctx))


def test_order_notional_feeds_the_position_cap():
    # ratio 0.1 of 1 BTC at 50000 = 5000 USDT; the cap is 5000 USDT per position
    approved(run(signal(K.OPEN)))
    refused(run(signal(K.OPEN), position_notional_usdt=D("0.01")), "position_notional_usdt")


def test_sizing_uses_the_bybit_price_when_known():
    d = run(signal(K.OPEN), SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100)))
    assert approved(d).quantity == D("0.02")
    d = run(
        signal(K.OPEN),
        SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100)),
        bybit_last=D(50_200),
    )
    assert approved(d).quantity == D("0.019")  # 1000 / 50200 = 0.01992 -> 0.019


def test_an_unexpanded_flip_is_a_programming_error():
    flip = signal(K.OPEN).model_copy(update={"kind": K.FLIP})
    with pytest.raises(ValueError, match="expand"):
        run(flip)


def test_client_order_id_must_be_bybit_safe():
    with pytest.raises(ValueError):
        decision_ctx(client_order_id="has spaces")
