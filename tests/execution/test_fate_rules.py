"""The pure order-fate rules at their boundaries: a lookup that finds nothing proves nothing
until the request window has closed, and an order Bybit acknowledged is never dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lightspeed_cli.decisions.fate import (
    CLOCK_SKEW_SECONDS,
    SEND_SPAN_SECONDS,
    Fate,
    fate_of,
    window_closes_at,
)
from lightspeed_cli.models import Fill


def _fill(status: str, qty: str) -> Fill:
    return Fill(
        client_order_id="ls-x",
        order_id="1",
        symbol="BTCUSDT",
        order_side="buy",
        quantity=Decimal(qty),
        price=Decimal("60000") if Decimal(qty) else None,
        status=status,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("acknowledged", [False, True])
def test_nothing_found_inside_the_window_proves_nothing(acknowledged: bool) -> None:
    assert fate_of(None, acknowledged=acknowledged, window_closed=False) is Fate.WAIT


def test_nothing_found_after_the_window_is_dead_only_if_never_acknowledged() -> None:
    assert fate_of(None, acknowledged=False, window_closed=True) is Fate.DEAD
    assert fate_of(None, acknowledged=True, window_closed=True) is Fate.LOST


@pytest.mark.parametrize(
    ("status", "qty", "fate"),
    [
        ("filled", "0.1", Fate.FILLED),
        ("canceled", "0.05", Fate.FILLED),  # IOC market order cut short: what filled counts
        ("canceled", "0", Fate.DEAD),
        ("rejected", "0", Fate.DEAD),
        ("open", "0", Fate.WAIT),
        ("partially_filled", "0.05", Fate.WAIT),
    ],
)
@pytest.mark.parametrize("window_closed", [False, True])
def test_a_found_order_decides_by_its_own_state(
    status: str, qty: str, fate: Fate, window_closed: bool
) -> None:
    found = _fill(status, qty)
    assert fate_of(found, acknowledged=True, window_closed=window_closed) is fate


def test_the_window_is_send_span_plus_recv_window_plus_skew() -> None:
    journaled = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    expected = SEND_SPAN_SECONDS + 5.0 + CLOCK_SKEW_SECONDS
    assert window_closes_at(journaled, 5000) == journaled + timedelta(seconds=expected)
