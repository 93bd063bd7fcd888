"""Safety checks: each boundary tested exactly at the limit and one unit either side."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from decision_builders import T0, mapping, safety_ctx

from lightspeed_cli.config.choices import LeveragePolicy
from lightspeed_cli.config.sections import SafetySettings
from lightspeed_cli.decisions.safety import (
    CHECKS,
    PRIORITY,
    check_allow_deny,
    check_daily_loss,
    check_leverage,
    check_open_positions,
    check_position_notional,
    check_price_divergence,
    check_snapshot_age,
    check_symbol_listed,
    check_total_notional,
    clamp_leverage,
    divergence_bps,
    evaluate,
)
from lightspeed_cli.execution.prices import fresh_price
from lightspeed_cli.models import Refusal, SignalKind

D = Decimal
K = SignalKind
CLAMP, REFUSE = LeveragePolicy.CLAMP, LeveragePolicy.REFUSE


# --- price divergence (the $8,000 check) ------------------------------------------------------
# mark 10000: 1 bp = 1 USDT, so Bybit last 10050 is exactly 50 bps away.


def test_divergence_bps_is_relative_to_the_binance_mark():
    assert divergence_bps(D(10_000), D(10_050)) == D(50)
    assert divergence_bps(D(10_000), D(9_950)) == D(50)
    assert divergence_bps(D(200), D(201)) == D(50)


def test_divergence_50bps_limit_passes_at_49bps():
    assert check_price_divergence(D(10_000), D(10_049), D(50)) is None


def test_divergence_50bps_limit_passes_at_exactly_50bps():
    assert check_price_divergence(D(10_000), D(10_050), D(50)) is None
    assert check_price_divergence(D(10_000), D(9_950), D(50)) is None


def test_divergence_50bps_limit_refuses_at_51bps():
    r = check_price_divergence(D(10_000), D(10_051), D(50))
    assert r is not None and r.check == "price_divergence_bps"
    assert (r.value, r.limit) == (D(51), D(50))
    assert "bps" in r.reason


def test_divergence_50bps_limit_refuses_at_51bps_below_the_mark():
    r = check_price_divergence(D(10_000), D(9_949), D(50))
    assert r is not None and r.value == D(51)


def test_regression_8000usd_limit_multiplied_by_100_never_fired():
    """The seed product lost $8,000 when the bps limit was scaled by 100 and never fired.

    Goes through the config model and evaluate(), so scaling anywhere on the path (a
    validator, a percent/bps mix-up in the check, a x100 in evaluate) fails this test.
    """
    settings = SafetySettings(max_price_divergence_bps=D(50))
    assert settings.max_price_divergence_bps == D(50)
    ok = safety_ctx(binance_mark=D(10_000), bybit_last=D(10_050))
    bad = safety_ctx(binance_mark=D(10_000), bybit_last=D(10_051))
    assert evaluate(K.OPEN, ok, settings).approved
    verdict = evaluate(K.OPEN, bad, settings)
    assert [r.check for r in verdict.refusals] == ["price_divergence_bps"]
    # 1 % away (100 bps) must refuse as well: a limit read as percent (50 %) would pass it
    assert not evaluate(K.OPEN, safety_ctx(bybit_last=D(50_500)), settings).approved


@pytest.mark.parametrize(("mark", "last"), [(D(0), D(100)), (D(100), D(0)), (D(-1), D(100))])
def test_divergence_without_a_usable_price_refuses(mark: Decimal, last: Decimal):
    r = check_price_divergence(mark, last, D(50))
    assert r is not None and r.check == "price_divergence_bps"


def test_divergence_0bps_limit_passes_only_identical_prices():
    assert check_price_divergence(D(100), D(100), D(0)) is None
    assert check_price_divergence(D(100), D("100.01"), D(0)) is not None


def test_divergence_compares_in_bybit_price_units():
    # Binance quotes 1 PEPE at 0.00001, Bybit's 1000PEPE contract at 0.01 (price_scale 1000)
    m = mapping("PEPEUSDT", price_scale="1000", symbol="1000PEPEUSDT")
    ctx = safety_ctx(binance_symbol="PEPEUSDT", mapping=m, binance_mark=D("0.00001"))
    ok = evaluate(K.OPEN, ctx.model_copy(update={"bybit_last": D("0.01")}), SafetySettings())
    assert ok.approved
    refused = evaluate(K.OPEN, ctx.model_copy(update={"bybit_last": D("0.0101")}), SafetySettings())
    assert [r.check for r in refused.refusals] == ["price_divergence_bps"]
    assert refused.refusals[0].value == D(100)


def test_divergence_is_never_checked_against_a_stale_cached_bybit_price():
    """The engine checks against prices.py's cache only while it is fresh; at the bound it is
    still used, a hair past it there is no cached price and the engine reads Bybit directly
    (tests/engine/test_engine_prices.py shows the refusal that direct read then gives)."""
    cached = {"BTCUSDT": D(10_050)}  # passes against a 10,000 mark: exactly 50 bps
    at_bound = fresh_price(cached, as_of=0.0, symbol="BTCUSDT", now=3.0, max_age=3.0)
    assert at_bound == D(10_050)
    assert check_price_divergence(D(10_000), at_bound, D(50)) is None
    assert fresh_price(cached, as_of=0.0, symbol="BTCUSDT", now=3.0001, max_age=3.0) is None


# --- leverage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [CLAMP, REFUSE])
def test_leverage_20x_limit_passes_at_20x(policy: LeveragePolicy):
    assert check_leverage(20, 20, policy) is None
    assert clamp_leverage(20, 20, policy) == 20


def test_leverage_20x_limit_refuses_21x_under_refuse_policy():
    r = check_leverage(21, 20, REFUSE)
    assert r is not None and r.check == "leverage_x" and (r.value, r.limit) == (D(21), D(20))


def test_leverage_20x_limit_clamps_21x_under_clamp_policy():
    assert check_leverage(21, 20, CLAMP) is None
    assert clamp_leverage(21, 20, CLAMP) == 20


def test_evaluate_reports_the_clamped_leverage():
    v = evaluate(K.OPEN, safety_ctx(requested_leverage=50), SafetySettings(max_leverage=20))
    assert v.approved and v.leverage == 20 and v.leverage_clamped


def test_evaluate_refuses_leverage_above_limit_under_refuse_policy():
    settings = SafetySettings(max_leverage=20, leverage_policy=REFUSE)
    v = evaluate(K.OPEN, safety_ctx(requested_leverage=21), settings)
    assert [r.check for r in v.refusals] == ["leverage_x"] and v.leverage == 21
    assert evaluate(K.OPEN, safety_ctx(requested_leverage=20), settings).approved


def test_market_max_leverage_is_a_limit_too():
    ctx = safety_ctx(mapping=mapping(max_leverage="12.5"), requested_leverage=20)
    assert evaluate(K.OPEN, ctx, SafetySettings(max_leverage=50)).leverage == 12
    refuse = SafetySettings(max_leverage=50, leverage_policy=REFUSE)
    assert evaluate(K.OPEN, ctx, refuse).refusals[0].limit == D(12)


# --- symbol listed / allow / deny -----------------------------------------------------------


def test_symbol_without_mapping_is_refused_with_the_mappers_reason():
    own = Refusal(check="symbol_multiplier", reason="Bybit lists no 1000X contract")
    assert check_symbol_listed("XUSDT", None, own) == own
    generic = check_symbol_listed("XUSDT", None)
    assert generic is not None and generic.check == "symbol_listed" and "XUSDT" in generic.reason
    assert check_symbol_listed("BTCUSDT", mapping()) is None


def test_deny_list_refuses_a_listed_symbol():
    r = check_allow_deny(["BTCUSDT"], [], ["BTCUSDT"])
    assert r is not None and r.check == "deny_symbols"
    assert check_allow_deny(["ETHUSDT"], [], ["BTCUSDT"]) is None


def test_allow_list_refuses_a_symbol_not_on_it():
    r = check_allow_deny(["ETHUSDT"], ["BTCUSDT"], [])
    assert r is not None and r.check == "allow_symbols"
    assert check_allow_deny(["BTCUSDT"], ["BTCUSDT"], []) is None


def test_empty_allow_list_allows_everything():
    assert check_allow_deny(["ANYUSDT"], [], []) is None


def test_deny_wins_over_allow():
    r = check_allow_deny(["BTCUSDT"], ["BTCUSDT"], ["BTCUSDT"])
    assert r is not None and r.check == "deny_symbols"


def test_allow_deny_match_either_the_binance_or_the_bybit_name():
    names = ["PEPEUSDT", "1000PEPEUSDT"]
    assert check_allow_deny(names, ["1000PEPEUSDT"], []) is None
    assert check_allow_deny(names, [], ["PEPEUSDT"]) is not None
    assert check_allow_deny(["pepeusdt"], [], ["PEPEUSDT"]) is not None


def test_allow_deny_in_settings_are_case_insensitive():
    settings = SafetySettings(deny_symbols=[" btcusdt "])
    assert [r.check for r in evaluate(K.OPEN, safety_ctx(), settings).refusals] == ["deny_symbols"]


# --- notional caps ------------------------------------------------------------------------------


def test_position_notional_5000usdt_cap_passes_at_exactly_5000usdt():
    assert check_position_notional(D(4_000), D(1_000), D(5_000)) is None


def test_position_notional_5000usdt_cap_refuses_5000_01usdt():
    r = check_position_notional(D(4_000), D("1000.01"), D(5_000))
    assert r is not None and r.check == "position_notional_usdt"
    assert (r.value, r.limit) == (D("5000.01"), D(5_000))


def test_total_notional_20000usdt_cap_passes_at_exactly_20000usdt():
    assert check_total_notional(D(19_000), D(1_000), D(20_000)) is None


def test_total_notional_20000usdt_cap_refuses_20000_01usdt():
    r = check_total_notional(D("19000.01"), D(1_000), D(20_000))
    assert r is not None and r.check == "total_notional_usdt" and r.value == D("20000.01")


# --- open positions -----------------------------------------------------------------------------


def test_max_open_positions_10_passes_an_open_with_9_held():
    assert check_open_positions(9, 10) is None


def test_max_open_positions_10_refuses_an_open_with_10_held():
    r = check_open_positions(10, 10)
    assert r is not None and r.check == "open_positions" and (r.value, r.limit) == (D(11), D(10))


def test_max_open_positions_does_not_apply_to_increase():
    ctx = safety_ctx(open_positions=10)
    settings = SafetySettings(max_open_positions=10)
    assert not evaluate(K.OPEN, ctx, settings).approved
    assert evaluate(K.INCREASE, ctx, settings).approved


# --- snapshot age -------------------------------------------------------------------------------


def test_snapshot_age_30s_limit_passes_at_exactly_30s():
    assert check_snapshot_age(T0, T0 + timedelta(seconds=30), 30) is None


def test_snapshot_age_30s_limit_refuses_at_30s_plus_1us():
    r = check_snapshot_age(T0, T0 + timedelta(seconds=30, microseconds=1), 30)
    assert r is not None and r.check == "snapshot_age_seconds"
    assert (r.value, r.limit) == (D("30.000001"), D(30))


def test_snapshot_age_fractional_limit_is_exact():
    assert check_snapshot_age(T0, T0 + timedelta(milliseconds=1500), 1.5) is None
    assert check_snapshot_age(T0, T0 + timedelta(milliseconds=1501), 1.5) is not None


# --- daily loss kill switch -------------------------------------------------------------------


def test_daily_loss_500usdt_limit_passes_at_499_99usdt_loss():
    assert check_daily_loss(D("499.99"), D(500)) is None


def test_daily_loss_500usdt_limit_refuses_at_exactly_500usdt_loss():
    r = check_daily_loss(D(500), D(500))
    assert r is not None and r.check == "daily_loss_usdt" and "00:00 UTC" in r.reason


def test_daily_profit_never_trips_the_kill_switch():
    assert check_daily_loss(D(-10_000), D(500)) is None


def test_kill_switch_reads_negative_realized_pnl_as_loss():
    settings = SafetySettings(daily_loss_limit_usdt=D(500))
    assert evaluate(K.OPEN, safety_ctx(daily_realized_pnl_usdt=D("-499.99")), settings).approved
    tripped = evaluate(K.OPEN, safety_ctx(daily_realized_pnl_usdt=D(-500)), settings)
    assert [r.check for r in tripped.refusals] == ["daily_loss_usdt"]
    assert evaluate(K.OPEN, safety_ctx(daily_realized_pnl_usdt=D(500)), settings).approved


# --- evaluate ---------------------------------------------------------------------------------


def everything_failing(**overrides: object):
    """A context that fails every opening check at once."""
    values: dict[str, object] = {
        "bybit_last": D(60_000),
        "requested_leverage": 125,
        "order_notional_usdt": D(30_000),
        "open_positions": 50,
        "now": T0 + timedelta(hours=1),
        "daily_realized_pnl_usdt": D(-10_000),
    }
    values.update(overrides)
    return safety_ctx(**values)


STRICT = SafetySettings(leverage_policy=REFUSE, deny_symbols=["BTCUSDT"])


def test_evaluate_collects_every_failing_check_most_fundamental_first():
    v = evaluate(K.OPEN, everything_failing(), STRICT)
    assert [r.check for r in v.refusals] == [
        "deny_symbols",
        "daily_loss_usdt",
        "snapshot_age_seconds",
        "price_divergence_bps",
        "leverage_x",
        "open_positions",
        "position_notional_usdt",
        "total_notional_usdt",
    ]
    assert v.first_refusal == v.refusals[0]


@pytest.mark.parametrize("kind", [K.REDUCE, K.CLOSE])
def test_reduce_and_close_pass_every_opening_risk_check(kind: SignalKind):
    v = evaluate(kind, everything_failing(), STRICT)
    assert v.approved and v.refusals == ()


@pytest.mark.parametrize("kind", [K.REDUCE, K.CLOSE])
def test_reduce_and_close_clamp_leverage_even_under_refuse_policy(kind: SignalKind):
    assert evaluate(kind, everything_failing(), STRICT).leverage == 20


@pytest.mark.parametrize("kind", [k for k in K if k is not K.FLIP])
def test_no_mapping_refuses_every_kind(kind: SignalKind):
    v = evaluate(kind, safety_ctx(mapping=None), SafetySettings())
    assert [r.check for r in v.refusals] == ["symbol_listed"]


def test_evaluate_refuses_to_judge_an_unexpanded_flip():
    with pytest.raises(ValueError, match="expand"):
        evaluate(K.FLIP, safety_ctx(), SafetySettings())


def test_priority_names_every_check():
    assert sorted(PRIORITY) == sorted(c.name for c in CHECKS)


def test_checks_run_in_reverse_give_the_same_verdict():
    ctx = everything_failing()
    forward = evaluate(K.OPEN, ctx, STRICT)
    assert evaluate(K.OPEN, ctx, STRICT, checks=tuple(reversed(CHECKS))) == forward
