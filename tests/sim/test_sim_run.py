"""The short scenario through the real engine, checked against the fake Bybit's order log."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sim.plot import exposure_series, plot_exposure
from lightspeed_cli.sim.report import FidelityReport, build_report
from lightspeed_cli.sim.scenario import UNLISTED, leader_changes
from lightspeed_cli.sim.simulate import SimulationResult, write_report_json


def _history(result: SimulationResult) -> list[dict]:
    with Journal(result.data_dir / "data" / "journal.sqlite3") as journal:
        return journal.history(limit=10_000)


def test_mirror_is_exact(sim_run: SimulationResult) -> None:
    report = sim_run.report
    changes = leader_changes(sim_run.facts.scenario)
    refusable = [c for c in changes if c.symbol in sim_run.facts.scenario.refused]
    assert report.completed, report.notes
    assert (report.missed, report.extra) == (0, 0), [
        (r.symbol, r.kind, r.outcome, r.reason) for r in report.changes if not r.as_expected
    ]
    assert report.leader_changes == len(changes)
    assert report.mirrored == len(changes) - len(refusable)
    assert report.refused == len(refusable) == 2
    assert report.max_abs_error_steps is not None and report.max_abs_error_steps <= 1
    assert all(abs(r.error_steps) <= 1 for r in report.changes if r.error_steps is not None)
    assert report.exact and sim_run.exit_code == 0
    assert sim_run.engine_exit_code == 0


def test_report_counts_equal_the_fake_order_log(sim_run: SimulationResult) -> None:
    report, orders = sim_run.report, sim_run.facts.orders
    assert report.bybit_orders == len(orders) == report.mirrored + report.extra
    assert report.bybit_rejections == 0
    mirrored = {r.client_order_id: r for r in report.changes if r.outcome == "mirrored"}
    assert set(mirrored) == {o.order_link_id for o in orders}
    for o in orders:
        row = mirrored[o.order_link_id]
        assert (row.order_qty, row.fill_price, row.bybit_symbol) == (
            o.filled_qty,
            o.price,
            o.symbol,
        )
        assert (o.side == "Buy") == (row.order_side == "Buy")


def test_final_positions_match_leaders_times_ratio(sim_run: SimulationResult) -> None:
    positions = {(p.bybit_symbol, p.side.value): p for p in sim_run.report.positions}
    # short scenario: bravo (ratio 0.1) keeps ETH long 1.5, 1000SHIB short 400000 and
    # 1000CHEEMS long 2000000 (1,000 Binance contracts per Bybit one); alpha keeps SOL short 10
    expected = {
        ("ETHUSDT", "long"): Decimal("0.15"),
        ("SHIB1000USDT", "short"): Decimal("40000"),
        ("1000000CHEEMSUSDT", "long"): Decimal("200"),
        ("SOLUSDT", "short"): Decimal("1"),
    }
    assert {k: p.follower_qty for k, p in positions.items()} == expected
    assert all(p.error_steps == 0 for p in positions.values())


def test_unlisted_symbol_is_refused_with_its_reason_and_nothing_is_sent(
    sim_run: SimulationResult,
) -> None:
    rows = [r for r in _history(sim_run) if r["symbol"] == UNLISTED]
    assert [(r["kind"], r["decision"]) for r in rows] == [("open", "refused"), ("close", "skipped")]
    assert rows[0]["check_name"] == "symbol_mapping"
    assert rows[0]["reason"].startswith(f"no Bybit market for {UNLISTED}")
    assert all(r["client_order_id"] is None for r in rows)
    sent = {r["client_order_id"] for r in _history(sim_run) if r["client_order_id"]}
    assert all(o.order_link_id in sent for o in sim_run.facts.orders)
    assert not [o for o in sim_run.facts.orders if "WIF" in o.symbol]
    refused = [r for r in sim_run.report.changes if r.symbol == UNLISTED]
    assert [r.outcome for r in refused] == ["refused", "skipped"]
    assert all(r.as_expected and r.order_qty is None for r in refused)


def test_slippage_sign_follows_bybits_offset_and_the_order_side(sim_run: SimulationResult) -> None:
    """Bybit sits a fixed offset from Binance, larger than any price swing, so a buy where Bybit
    is dearer is worse than the leader (positive) and a sell there is better (negative)."""
    scenario = sim_run.facts.scenario
    fills = [r for r in sim_run.report.changes if r.outcome == "mirrored"]
    assert fills and all(r.slippage_bps is not None for r in fills)
    for r in fills:
        offset = scenario.symbol(r.symbol).bybit_offset_bps
        direction = 1 if r.order_side == "Buy" else -1
        assert r.slippage_bps * offset * direction > 0, (r.symbol, r.kind, r.slippage_bps)
    signs = {(r.order_side, r.slippage_bps > 0) for r in fills}
    assert len(signs) >= 3  # buys and sells, better and worse: both signs are exercised


def test_latency_figures_are_measured_from_the_leaders_change(sim_run: SimulationResult) -> None:
    lat = sim_run.report.latency
    assert lat.samples == sim_run.report.mirrored
    assert lat.median_ms is not None and lat.p99_ms is not None and lat.worst_ms is not None
    assert 0 < lat.median_ms <= lat.p99_ms <= lat.worst_ms
    assert lat.bot_median_ms is not None and lat.bot_median_ms <= lat.median_ms
    floor = lat.poll_interval_ms / 2 + lat.binance_rtt_ms + lat.own_work_ms + lat.bybit_rtt_ms
    assert lat.floor_ms == pytest.approx(floor, abs=0.2)
    assert lat.p99_target_ms == pytest.approx(
        lat.poll_interval_ms + lat.binance_rtt_ms + lat.bybit_rtt_ms + 20, abs=0.2
    )
    # the run's own settings: 2 traders at the default budget of 20/s less the 1/s the copy-trade
    # leaders' portfolio reads keep (sources/schedule.py), the fakes' added delays
    assert lat.poll_interval_ms == pytest.approx(2 / 19 * 1000)
    assert lat.binance_rtt_ms >= 50 and lat.bybit_rtt_ms >= 20
    assert lat.round_trip_orders >= sim_run.report.mirrored
    # polls within the budget (+ 1: arrival jitter at the server); the leaders' portfolio reads
    # have their own twentieth of it, and a poll a few ms late is not charged (ratelimit.py)
    assert lat.round_trips_max is not None and lat.busiest_second <= 20 + 1
    assert lat.busiest_second <= lat.busiest_second_all <= 20 + 2 + 1
    # the order exists on Bybit one Bybit round trip (the fake's added delay) after it was sent
    assert lat.on_bybit_median_ms is not None and lat.on_bybit_median_ms >= lat.median_ms


def test_slippage_and_latency_are_measured_against_the_leaders_own_fills(
    sim_run: SimulationResult,
) -> None:
    """The leaders are lead portfolios: their order-history gives each copied change the
    leader's own fill price and order time (the fake's orders are made when a step is played)."""
    report = sim_run.report
    with_fill = [r for r in report.changes if r.leader_fill_price is not None]
    assert with_fill and report.slippage.leader_fill_samples == len(with_fill)
    assert report.latency.leader_samples == len(with_fill)
    for r in with_fill:
        assert r.outcome == "mirrored" and r.slippage_bps is not None
        assert r.leader_latency_ms is not None and r.detection_latency_ms is not None
        # the leader's order is stamped as the step is played: never after it (1 ms rounding)
        assert r.leader_latency_ms >= r.detection_latency_ms - 1


def test_a_missing_order_is_missed_and_a_stray_one_is_extra(sim_run: SimulationResult) -> None:
    facts = sim_run.facts
    first, *rest = facts.orders
    stray = replace(rest[0], order_link_id="not-from-the-bot")
    report = build_report(replace(facts, orders=[*rest, stray]), now=datetime.now(UTC))
    assert (report.missed, report.extra) == (1, 1)
    assert report.bybit_orders == report.mirrored + report.extra
    missed = next(r for r in report.changes if not r.as_expected)
    assert missed.client_order_id == first.order_link_id and missed.outcome == "failed"
    assert not report.exact


def test_json_report_round_trips(sim_run: SimulationResult, tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_report_json(sim_run.report, path)
    data = json.loads(path.read_text())
    assert (data["missed"], data["extra"], data["bybit_orders"]) == (
        0,
        0,
        len(sim_run.facts.orders),
    )
    assert FidelityReport.model_validate_json(path.read_text()) == sim_run.report


def test_plot_writes_a_png_whose_lines_end_where_bybit_does(
    sim_run: SimulationResult, tmp_path: Path
) -> None:
    leader, follower = exposure_series(sim_run.report)
    assert set(leader) == set(follower) == {c.symbol for c in sim_run.report.changes}
    assert follower[UNLISTED][-1][1] == 0
    assert leader["SOLUSDT"][-1][1] == follower["SOLUSDT"][-1][1] == -1.0
    path = tmp_path / "exposure.png"
    plot_exposure(sim_run.report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000
