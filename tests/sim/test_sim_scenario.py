"""The scripted leaders: the changes they make, how they map onto Bybit, and the price path."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from lightspeed_cli.models import Side, SignalKind, SymbolMapping
from lightspeed_cli.sim.report import expected_positions
from lightspeed_cli.sim.scenario import (
    UNLISTED,
    PriceModel,
    Scenario,
    default_scenario,
    hyperliquid_scenario,
    leader_changes,
    short_scenario,
)
from lightspeed_cli.sim.simulate import SimulationError, Timing, minimum_seconds, run_simulation

SCENARIOS = [default_scenario(), short_scenario(), hyperliquid_scenario()]


def test_default_scenario_makes_every_kind_of_change() -> None:
    scenario = default_scenario()
    changes = leader_changes(scenario)
    assert len(changes) == 24
    kinds = Counter(c.kind for c in changes)
    assert set(kinds) == {SignalKind.OPEN, SignalKind.INCREASE, SignalKind.REDUCE, SignalKind.CLOSE}
    assert [c.trader for c in changes if c.symbol == UNLISTED] == [scenario.traders[2].id] * 2
    # alpha's one-way flip: its ETH long closes and a short opens in the same step
    flip = [(c.kind, c.side) for c in changes if c.step == 6 and c.symbol == "ETHUSDT"]
    assert flip == [(SignalKind.CLOSE, Side.LONG), (SignalKind.OPEN, Side.SHORT)]
    # bravo in hedge mode holds ETH long and short at once
    hedge = next(t for t in scenario.traders if t.hedge)
    held = {(c.symbol, c.side) for c in changes if c.trader == hedge.id and c.step <= 2}
    assert {("ETHUSDT", Side.LONG), ("ETHUSDT", Side.SHORT)} <= held
    # a partial reduce that is not a close
    assert any(c.kind is SignalKind.REDUCE and c.new_size > 0 for c in changes)


def test_a_flat_step_for_one_trader_is_a_close_per_position() -> None:
    scenario = default_scenario()
    alpha = scenario.traders[0].id
    closes = [c for c in leader_changes(scenario) if c.trader == alpha and c.step == 9]
    assert [(c.symbol, c.kind) for c in closes] == [
        ("BTCUSDT", SignalKind.CLOSE),
        ("ETHUSDT", SignalKind.REDUCE),
    ]


def test_multiplier_named_contracts_map_and_scale() -> None:
    mappings = default_scenario().mappings()
    shib, cheems = mappings["1000SHIBUSDT"], mappings["1000CHEEMSUSDT"]
    assert (shib.market.symbol, shib.qty_scale) == ("SHIB1000USDT", 1)
    assert (cheems.market.symbol, cheems.qty_scale, cheems.price_scale) == (
        "1000000CHEEMSUSDT",
        Decimal("0.001"),
        Decimal(1000),
    )
    assert UNLISTED not in mappings
    refusal = default_scenario().symbol_map().resolve(UNLISTED)
    assert not isinstance(refusal, SymbolMapping)
    assert refusal.reason.startswith(default_scenario().refused[UNLISTED])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_target_is_a_whole_number_of_steps_above_the_minimums(scenario: Scenario) -> None:
    """So an exact mirror means exposure error 0, and no order is refused for its size."""
    mappings = scenario.mappings()
    model = PriceModel(scenario, mappings)
    for c in leader_changes(scenario):
        mapping = mappings.get(c.symbol)
        if mapping is None:
            continue
        change = abs(c.new_size - c.previous_size) * scenario.ratio_for(c.trader)
        qty = change * mapping.qty_scale
        assert qty % mapping.market.qty_step == 0 and qty >= mapping.market.min_qty, c
        price = model.bybit(c.symbol, 0.0)
        assert price is not None
        assert qty * price >= mapping.market.min_notional or c.kind.is_risk_reducing, c


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_prices_stay_inside_the_divergence_limit_and_keep_the_offsets_sign(
    scenario: Scenario,
) -> None:
    mappings = scenario.mappings()
    model = PriceModel(scenario, mappings)
    times = [i * 0.37 for i in range(60)]
    for spec in scenario.symbols:
        mapping = mappings.get(spec.binance_symbol)
        if mapping is None:
            assert model.bybit(spec.binance_symbol, 1.0) is None
            continue
        marks = [model.mark(spec.binance_symbol, t) * mapping.price_scale for t in times]
        assert len(set(marks)) > 5  # prices move
        for t in times:
            bybit = model.bybit(spec.binance_symbol, t)
            assert bybit is not None
            for mark in marks:  # against the leader's price at any other moment
                bps = (bybit - mark) / mark * 10_000
                assert abs(bps) < 40  # the simulation's divergence limit is 50 bps
                assert bps * spec.bybit_offset_bps > 0, (spec.binance_symbol, t)


def test_expected_positions_sum_traders_times_their_ratio() -> None:
    scenario = default_scenario()
    assert expected_positions(scenario, scenario.mappings()) == {
        ("ETHUSDT", Side.SHORT): Decimal("0.43"),  # alpha 1.8 x 0.1 + bravo 2.5 x 0.1
        ("BTCUSDT", Side.LONG): Decimal("0.03"),
        ("SOLUSDT", Side.LONG): Decimal("3"),
        ("1000000CHEEMSUSDT", Side.LONG): Decimal("300"),  # 6e6 x 0.05 x 0.001
    }


def test_the_run_polls_at_the_default_budget() -> None:
    assert Timing(20, 0.15).settle == pytest.approx(0.8)
    # 3 copy-trade traders at 19 of the 20/s (1/s kept for their portfolio reads): every 3 / 19
    # s, so a step every 2.5 x 3 / 19 + 0.1 s at the fastest
    interval = 3 / 19
    settle, step = 2 * interval + 0.5, 2.5 * interval + 0.1
    warm_up = interval  # a second poll of every trader before the first step
    assert minimum_seconds(default_scenario()) == pytest.approx(
        3 + warm_up + settle + 12 * step, abs=0.1
    )
    assert minimum_seconds(default_scenario()) < 10


async def test_too_short_a_run_is_refused_before_anything_starts(tmp_path) -> None:
    with pytest.raises(SimulationError, match="too short"):
        await run_simulation(2, data_dir=tmp_path / "sim")
    assert not (tmp_path / "sim").exists()
