"""forecast.py: the pure replay of a leader's orders through diff / decide, at its boundaries
(min qty, step rounding, min notional, caps, flips, the kill switch) with exact PnL and fees."""

from __future__ import annotations

from decimal import Decimal

from decision_builders import pos

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import CopySettings, SafetySettings, SizingSettings
from lightspeed_cli.decisions.forecast import (
    BEFORE_WINDOW,
    NOT_MIRRORED,
    ForecastInputs,
    ForecastReport,
    forecast,
    opening_book,
)
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.markets import markets_from_instruments
from lightspeed_cli.models import LeaderLot, LeaderOrder, Side, SignalKind, TraderPosition
from lightspeed_cli.sim.bybit_shapes import default_instruments

D = Decimal
T0 = 1_700_000_000_000  # the window's start
HOUR = 3_600_000
FEE = D("0.00055")
# Bybit's published filters: BTC step / min 0.001, ETH 0.01, DOGE 1, 1000PEPE 100; 5 USDT min
SYMBOLS = SymbolMap.from_markets(markets_from_instruments(default_instruments()).values())
ROOMY = {"max_position_notional_usdt": D(10**6), "max_total_notional_usdt": D(10**6)}


def order(
    symbol: str, side: str, qty: str, price: str, hour: float, *, ps: str = "BOTH", pnl: str = "0"
) -> LeaderOrder:
    return LeaderOrder(symbol, ps, side, D(qty), D(price), T0 + int(hour * HOUR), D(pnl))  # type: ignore[arg-type]


def today(orders: list[LeaderOrder]) -> list[TraderPosition]:
    """The one-way book the orders leave, from flat: the positions the leader holds now."""
    net: dict[str, Decimal] = {}
    for o in orders:
        net[o.symbol] = net.get(o.symbol, D(0)) + o.signed_qty
    last = {o.symbol: o.avg_price for o in orders}
    return [
        pos(s, Side.LONG if a > 0 else Side.SHORT, f"{abs(a)}", f"{last[s]}")
        for s, a in net.items()
        if a
    ]


def run(
    orders: list[LeaderOrder],
    current: list[TraderPosition] | None = None,
    *,
    sizing: SizingSettings | None = None,
    safety: dict[str, object] | None = None,
    copy: CopySettings | None = None,
    equity: str = "0",
    balance: str | None = None,
    **more: object,
) -> ForecastReport:
    return forecast(
        ForecastInputs(
            trader="3987123456789012345",
            orders=orders,
            current=today(orders) if current is None else current,
            start_ms=T0,
            end_ms=T0 + 100 * HOUR,
            symbols=SYMBOLS,
            sizing=sizing or SizingSettings(mode=SizingMode.RATIO, value=D("0.1")),
            safety=SafetySettings(**{**ROOMY, **(safety or {})}),  # type: ignore[arg-type]
            copy=copy or CopySettings(),
            equity_usdt=D(equity),
            leader_balance_usdt=D(balance) if balance else None,
            fee_rate=FEE,
            **more,  # type: ignore[arg-type]
        )
    )


def outcomes(report: ForecastReport) -> list[tuple[str, str, str, Decimal]]:
    return [(c.symbol, c.kind.value, c.check or c.outcome, c.qty) for c in report.changes]


def test_a_round_trip_is_copied_with_exact_pnl_and_fees() -> None:
    report = run(
        [
            order("BTCUSDT", "BUY", "1", "60000", 1),
            order("BTCUSDT", "SELL", "1", "61000", 2, pnl="1000"),
        ]
    )
    assert outcomes(report) == [
        ("BTCUSDT", "open", "copied", D("0.100")),
        ("BTCUSDT", "close", "copied", D("0.100")),
    ]
    assert report.follower_realized_pnl_usdt == D("100")  # 0.1 x (61000 - 60000)
    assert report.follower_fees_usdt == D("6.655")  # (6000 + 6100) x 0.055 %
    assert report.follower_net_pnl_usdt == D("93.345")
    assert report.follower_unrealized_pnl_usdt == 0
    assert report.leader_realized_pnl_usdt == D("1000")
    assert (report.copied, report.refused, report.not_followed) == (2, 0, 0)
    assert report.exposure_error_max_pct == 0 and report.exposure_samples == 1
    assert report.series[-1].follower_pnl_usdt == D("93.345")
    assert report.series[-1].time == report.end


def test_below_min_qty_is_refused_and_its_close_not_followed() -> None:
    # 0.1 x 0.09 ETH = 0.009 < Bybit's 0.01 minimum; 0.1 x 0.1 = 0.01 is exactly enough
    report = run(
        [
            order("ETHUSDT", "SELL", "0.09", "3000", 1),
            order("ETHUSDT", "BUY", "0.09", "2900", 2),
            order("ETHUSDT", "BUY", "0.1", "2900", 3),
        ]
    )
    assert outcomes(report) == [
        ("ETHUSDT", "open", "min_qty", D(0)),
        ("ETHUSDT", "close", NOT_MIRRORED, D(0)),
        ("ETHUSDT", "open", "copied", D("0.01")),
    ]
    assert report.refused_by_reason == {"min_qty": 1}
    assert report.not_followed_by_reason == {NOT_MIRRORED: 1}
    assert report.exposure_error_max_pct == 100  # the refused open: intended 0.009, held 0


def test_quantities_round_down_to_the_step_and_the_error_shows_it() -> None:
    report = run(
        [order("BTCUSDT", "BUY", "0.123", "50000", 1)],
        [pos("BTCUSDT", Side.LONG, "0.123", "50000")],
    )
    assert outcomes(report) == [("BTCUSDT", "open", "copied", D("0.012"))]
    # intended 0.0123, held 0.012: |0.012 - 0.0123| / 0.0123
    assert report.exposure_error_max_pct == D("0.0003") / D("0.0123") * 100
    assert report.follower_fees_usdt == D("0.012") * D("50000") * FEE


def test_below_min_notional_is_refused_at_its_boundary() -> None:
    # 0.1 x 330 DOGE = 33 contracts x 0.15 = 4.95 USDT < 5; 0.1 x 340 = 34 x 0.15 = 5.10
    report = run(
        [
            order("DOGEUSDT", "BUY", "330", "0.15", 1),
            order("DOGEUSDT", "SELL", "330", "0.15", 2),
            order("DOGEUSDT", "BUY", "340", "0.15", 3),
        ]
    )
    assert [c.check or c.outcome for c in report.changes] == [
        "min_notional_usdt",
        NOT_MIRRORED,
        "copied",
    ]
    assert report.changes[-1].qty == D(34)


def test_the_position_cap_refuses_an_increase_and_the_reduce_then_sizes_from_what_is_held() -> None:
    safety = {"max_position_notional_usdt": D(5000)}
    report = run(
        [
            order("BTCUSDT", "BUY", "0.5", "50000", 1),  # 0.05 x 50000 = 2500
            order("BTCUSDT", "BUY", "0.5", "50000", 2),  # +2500 = 5000: at the cap, passes
            order("BTCUSDT", "BUY", "0.5", "50000", 3),  # +2500 = 7500: refused
            order("BTCUSDT", "SELL", "1.5", "52000", 4),
        ],  # close: sells what is held
        safety=safety,
    )
    assert outcomes(report) == [
        ("BTCUSDT", "open", "copied", D("0.050")),
        ("BTCUSDT", "increase", "copied", D("0.050")),
        ("BTCUSDT", "increase", "position_notional_usdt", D(0)),
        ("BTCUSDT", "close", "copied", D("0.100")),
    ]
    assert report.follower_realized_pnl_usdt == D("200")  # 0.1 x 2000
    assert report.exposure_error_max_pct == D(100) / 3  # held 0.1 of the intended 0.15


def test_total_cap_and_open_positions_limit() -> None:
    safety = {"max_total_notional_usdt": D(6000), "max_open_positions": 1}
    report = run(
        [
            order("BTCUSDT", "BUY", "1", "50000", 1),  # 5000 notional
            order("ETHUSDT", "BUY", "1", "3000", 2),
        ],  # a second position: open_positions first
        safety=safety,
    )
    assert [c.check for c in report.changes] == ["", "open_positions"]
    report = run(
        [
            order("BTCUSDT", "BUY", "1", "50000", 1),
            order("ETHUSDT", "BUY", "4", "3000", 2),
        ],  # 5000 + 1200 > 6000
        safety={**safety, "max_open_positions": 5},
    )
    assert [c.check for c in report.changes] == ["", "total_notional_usdt"]


def test_a_one_way_flip_closes_then_opens_at_the_same_fill() -> None:
    report = run(
        [
            order("BTCUSDT", "BUY", "1", "60000", 1),
            order("BTCUSDT", "SELL", "2", "59000", 2, pnl="-1000"),
            order("BTCUSDT", "BUY", "1", "58000", 3, pnl="1000"),
        ]
    )
    assert [(c.kind, c.side, c.qty) for c in report.changes] == [
        (SignalKind.OPEN, Side.LONG, D("0.100")),
        (SignalKind.CLOSE, Side.LONG, D("0.100")),
        (SignalKind.OPEN, Side.SHORT, D("0.100")),
        (SignalKind.CLOSE, Side.SHORT, D("0.100")),
    ]
    assert report.follower_realized_pnl_usdt == D("-100") + D("100")
    assert report.follower_fees_usdt == (D(6000) + 2 * D(5900) + D(5800)) * FEE
    assert report.leader_realized_pnl_usdt == 0


def test_positions_opened_before_the_window_are_not_followed_unless_follow_existing() -> None:
    orders = [order("BTCUSDT", "SELL", "0.5", "62000", 1, pnl="1000")]
    current = [pos("BTCUSDT", Side.LONG, "0.5", "62000")]
    report = run(orders, current)  # the leader held 1 BTC when the window began
    assert outcomes(report) == [("BTCUSDT", "reduce", BEFORE_WINDOW, D(0))]
    assert report.exposure_samples == 0
    followed = run(orders, current, copy=CopySettings(follow_existing=True))
    assert outcomes(followed) == [
        ("BTCUSDT", "open", "copied", D("0.100")),  # at the start, at its first fill price
        ("BTCUSDT", "reduce", "copied", D("0.050")),
    ]


def test_the_kill_switch_stops_opens_after_a_day_of_losses() -> None:
    safety = {"daily_loss_limit_usdt": D(100)}
    report = run(
        [
            order("BTCUSDT", "BUY", "1", "60000", 1),
            order("BTCUSDT", "SELL", "1", "59000", 2),  # -100 - fees: at the limit
            order("ETHUSDT", "BUY", "1", "3000", 3),
        ],
        safety=safety,
    )
    assert [c.check for c in report.changes] == ["", "", "daily_loss_usdt"]


def test_multiplier_contracts_scale_quantity_and_price() -> None:
    # Binance 1000PEPEUSDT and Bybit 1000PEPEUSDT name the same contract: scale 1
    report = run([order("1000PEPEUSDT", "BUY", "100000", "0.012", 1)])
    assert outcomes(report) == [("1000PEPEUSDT", "open", "copied", D(10000))]
    unlisted = run([order("FOOUSDT", "BUY", "10", "1", 1)])
    assert unlisted.refused_by_reason == {"symbol_mapping": 1}
    assert unlisted.exposure_error_max_pct == 100


def test_leader_equity_and_fixed_margin_intend_their_own_ratio() -> None:
    leader = SizingSettings(mode=SizingMode.LEADER_EQUITY, value=D(1))
    report = run(
        [order("BTCUSDT", "BUY", "1", "50000", 1)], sizing=leader, equity="1000", balance="10000"
    )
    assert report.changes[0].qty == D("0.100") and report.exposure_error_max_pct == 0
    margin = SizingSettings(mode=SizingMode.FIXED_MARGIN, value=D(100), leverage=10)
    report = run(
        [
            order("BTCUSDT", "BUY", "2", "50000", 1),  # 100 x 10 / 50000 = 0.02
            order("BTCUSDT", "BUY", "1", "50000", 2),
        ],  # +50 %: 0.01
        sizing=margin,
    )
    assert [c.qty for c in report.changes] == [D("0.020"), D("0.010")]
    assert report.exposure_error_max_pct == 0


def test_the_opening_book_is_today_minus_the_window_and_hedge_sides_stay_apart() -> None:
    orders = [
        order("BTCUSDT", "BUY", "1", "60000", 1, ps="LONG"),
        order("BTCUSDT", "SELL", "2", "60000", 2, ps="SHORT"),
        order("ETHUSDT", "SELL", "3", "3000", 3),
    ]
    current = [
        pos("BTCUSDT", Side.LONG, "1.5", "60000"),
        pos("BTCUSDT", Side.SHORT, "2", "60000"),
        pos("ETHUSDT", Side.SHORT, "1", "3000"),
    ]
    book, notes = opening_book(current, orders)
    assert book == {("BTCUSDT", "LONG"): D("0.5"), ("ETHUSDT", "BOTH"): D(2)}
    assert notes == []
    # bought 1 on the long side, yet holds nothing today: the history misses its close
    _, notes = opening_book([], [order("BTCUSDT", "BUY", "1", "60000", 1, ps="LONG")])
    assert notes and "does not explain" in notes[0]


def test_position_history_and_a_short_read_leave_notes() -> None:
    lots = [LeaderLot("SOLUSDT", Side.LONG, T0 - HOUR, None)]
    report = run(
        [order("BTCUSDT", "BUY", "1", "60000", 1)],
        [pos("BTCUSDT", Side.LONG, "1", "60000")],
        lots=lots,
        lots_complete=True,
        history_complete=False,
    )
    assert any("SOLUSDT long open at the start" in n for n in report.notes)
    assert any("page limit" in n for n in report.notes)


def test_the_window_starts_at_its_first_millisecond() -> None:
    before = LeaderOrder("BTCUSDT", "BOTH", "BUY", D(1), D(60000), T0 - 1)
    at = LeaderOrder("ETHUSDT", "BOTH", "BUY", D(1), D(3000), T0)
    report = run(
        [before, at],
        [pos("BTCUSDT", Side.LONG, "1", "60000"), pos("ETHUSDT", Side.LONG, "1", "3000")],
    )
    assert report.leader_orders == 1
    assert outcomes(report) == [("ETHUSDT", "open", "copied", D("0.10"))]


def test_a_hedge_leaders_long_and_short_are_two_positions() -> None:
    orders = [
        order("BTCUSDT", "BUY", "1", "60000", 1, ps="LONG"),
        order("BTCUSDT", "SELL", "2", "61000", 2, ps="SHORT"),
        order("BTCUSDT", "SELL", "1", "62000", 3, ps="LONG", pnl="2000"),
    ]
    current = [pos("BTCUSDT", Side.SHORT, "2", "62000")]
    report = run(orders, current)
    assert [(c.kind, c.side, c.qty) for c in report.changes] == [
        (SignalKind.OPEN, Side.LONG, D("0.100")),
        (SignalKind.OPEN, Side.SHORT, D("0.200")),
        (SignalKind.CLOSE, Side.LONG, D("0.100")),
    ]
    assert report.follower_realized_pnl_usdt == D("200")
    # the short is still held: 0.2 x (61000 - 62000) at the leader's mark
    assert report.follower_unrealized_pnl_usdt == D("-200")
