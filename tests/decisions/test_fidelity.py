"""Copy fidelity: slippage sign, latencies, percentiles and exposure error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lightspeed_cli.decisions.fidelity import (
    Distribution,
    FidelityRecord,
    ack_latency_ms,
    detection_latency_ms,
    exposure_error_steps,
    leader_change_time,
    leader_reference_price,
    order_side_for,
    percentile,
    slippage_bps,
    summarize,
)
from lightspeed_cli.models import Side, Signal, SignalKind, TraderPosition

D = Decimal
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


def position(side: Side, size: str, entry: str = "100", mark: str = "101") -> TraderPosition:
    return TraderPosition(
        symbol="BTCUSDT",
        side=side,
        size=D(size),
        entry_price=D(entry),
        mark_price=D(mark),
        leverage=10,
    )


def signal(
    kind: SignalKind,
    side: Side,
    pos: TraderPosition | None = None,
    prev: TraderPosition | None = None,
    source_time: datetime | None = None,
) -> Signal:
    return Signal(
        trader="T1",
        kind=kind,
        symbol="BTCUSDT",
        side=side,
        previous_size=prev.size if prev else D(0),
        new_size=pos.size if pos else D(0),
        position=pos,
        previous_position=prev,
        snapshot_time=T0,
        source_time=source_time,
    )


# Leader at 100; we fill at 101 (higher) or 99 (lower). Worse than the leader is positive.
@pytest.mark.parametrize(
    ("kind", "side", "fill", "expected_side", "expected_bps"),
    [
        (SignalKind.OPEN, Side.LONG, "101", "buy", "100"),  # bought higher: worse
        (SignalKind.OPEN, Side.SHORT, "99", "sell", "100"),  # sold lower: worse
        (SignalKind.CLOSE, Side.LONG, "99", "sell", "100"),  # closed long by selling lower
        (SignalKind.CLOSE, Side.SHORT, "101", "buy", "100"),  # closed short by buying higher
        (SignalKind.OPEN, Side.LONG, "99", "buy", "-100"),  # better than the leader
        (SignalKind.CLOSE, Side.SHORT, "99", "buy", "-100"),
        (SignalKind.OPEN, Side.SHORT, "100", "sell", "0"),  # same price: zero
    ],
)
def test_slippage_sign(
    kind: SignalKind, side: Side, fill: str, expected_side: str, expected_bps: str
) -> None:
    order_side = order_side_for(kind, side)
    assert order_side == expected_side
    assert slippage_bps(order_side, D(100), D(fill)) == D(expected_bps)


def test_order_side_for_every_kind() -> None:
    assert order_side_for(SignalKind.INCREASE, Side.SHORT) == "sell"
    assert order_side_for(SignalKind.REDUCE, Side.SHORT) == "buy"
    # long -> short flip: sell to close the long, sell to open the short
    assert order_side_for(SignalKind.FLIP, Side.SHORT) == "sell"


def test_slippage_uses_price_scale() -> None:
    """Leader traded FOO at 0.5 on Binance; we bought 1000FOO at 501 on Bybit: 20 bps worse."""
    assert slippage_bps("buy", D("0.5"), D("501"), price_scale=D(1000)) == D(20)


def test_slippage_rejects_non_positive_leader_price() -> None:
    with pytest.raises(ValueError):
        slippage_bps("buy", D(0), D(1))


def test_detection_latency_prefers_source_time() -> None:
    sent = T0 + ms(40)
    assert detection_latency_ms(sent, T0) == pytest.approx(40)
    assert detection_latency_ms(sent, T0, source_time=T0 - ms(300)) == pytest.approx(340)
    # a source time after we saw it is clock skew: fall back to the snapshot time
    assert detection_latency_ms(sent, T0, source_time=T0 + ms(10)) == pytest.approx(40)
    assert leader_change_time(T0, None) == T0


def test_naive_and_aware_times_mix() -> None:
    naive = T0.replace(tzinfo=None)
    assert detection_latency_ms(T0 + ms(5), naive) == pytest.approx(5)


def test_ack_latency() -> None:
    assert ack_latency_ms(T0, T0 + ms(12.5)) == pytest.approx(12.5)
    assert ack_latency_ms(T0, None) is None


def test_record_from_signal_open_short() -> None:
    pos = position(Side.SHORT, "2", entry="100", mark="100.5")
    sig = signal(SignalKind.OPEN, Side.SHORT, pos=pos, source_time=T0 - ms(250))
    rec = FidelityRecord.from_signal(
        sig,
        order_sent_at=T0 + ms(3),
        order_acked_at=T0 + ms(23),
        fill_price=D("99.9"),
        bybit_symbol="BTCUSDT",
        client_order_id="ls-abc",
    )
    assert rec.order_side == "sell"
    assert rec.leader_price == D(100)  # entry price of the new position
    assert rec.slippage_bps == D(10)  # sold 0.1 % lower than the leader
    assert rec.leader_change_time == T0 - ms(250)
    assert rec.detection_latency_ms == pytest.approx(253)
    assert rec.ack_latency_ms == pytest.approx(20)


def test_record_without_fill_has_no_slippage() -> None:
    sig = signal(SignalKind.CLOSE, Side.LONG, prev=position(Side.LONG, "1", mark="105"))
    rec = FidelityRecord.from_signal(sig, order_sent_at=T0 + ms(1))
    assert rec.order_side == "sell"
    assert rec.leader_price == D(105)  # close: the mark price when seen
    assert rec.slippage_bps is None
    assert rec.ack_latency_ms is None


def test_leader_reference_price_per_kind() -> None:
    prev = position(Side.LONG, "1", entry="100", mark="110")
    grown = position(Side.LONG, "3", entry="106", mark="111")  # added 2 at 109
    assert leader_reference_price(signal(SignalKind.INCREASE, Side.LONG, grown, prev)) == D(109)
    reduced = position(Side.LONG, "0.5", entry="100", mark="112")
    assert leader_reference_price(signal(SignalKind.REDUCE, Side.LONG, reduced, prev)) == D(112)
    unknown = position(Side.LONG, "1", entry="0", mark="0")
    assert leader_reference_price(signal(SignalKind.OPEN, Side.LONG, unknown)) is None


def test_percentile_interpolates() -> None:
    values = [D(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 50) == D("50.5")
    assert percentile(values, 99) == D("99.01")
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summarize() -> None:
    sig = signal(SignalKind.OPEN, Side.LONG, pos=position(Side.LONG, "1", entry="100"))
    fills = ["100", "100.1", "99.9", "100.5", None]  # +0, +10, -10, +50 bps, one unfilled
    records = [
        FidelityRecord.from_signal(
            sig,
            order_sent_at=T0 + ms(10 * (i + 1)),
            order_acked_at=T0 + ms(10 * (i + 1) + 5),
            fill_price=D(f) if f else None,
        )
        for i, f in enumerate(fills)
    ]
    summary = summarize(records)
    assert summary.records == 5
    assert summary.slippage_bps == Distribution[Decimal](
        count=4, median=D(5), p99=D("48.80"), worst=D(50)
    )
    lat = summary.detection_latency_ms
    assert lat is not None
    assert (lat.count, lat.median, lat.worst) == (5, 30.0, 50.0)
    assert lat.p99 == pytest.approx(49.6)
    assert summary.ack_latency_ms is not None and summary.ack_latency_ms.median == 5.0


def test_summarize_nothing() -> None:
    summary = summarize([])
    assert summary.records == 0
    assert summary.slippage_bps is None and summary.detection_latency_ms is None


@pytest.mark.parametrize(
    ("leader", "follower", "ratio", "scale", "step", "expected"),
    [
        ("2", "0.2", "0.1", "1", "0.01", "0"),
        ("2", "0.21", "0.1", "1", "0.01", "1"),  # one step too much
        ("2", "0.19", "0.1", "1", "0.01", "-1"),
        ("5000", "0.5", "0.1", "0.001", "0.1", "0"),  # FOO vs 1000FOO: scaled before stepping
        ("-2", "0.2", "0.1", "1", "0.1", "4"),  # follower long while the leader is short
    ],
)
def test_exposure_error_steps(
    leader: str, follower: str, ratio: str, scale: str, step: str, expected: str
) -> None:
    assert exposure_error_steps(D(leader), D(follower), D(ratio), D(scale), D(step)) == D(expected)


def test_exposure_error_rejects_zero_step() -> None:
    with pytest.raises(ValueError):
        exposure_error_steps(D(1), D(1), D(1), D(1), D(0))
