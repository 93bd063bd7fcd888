"""What `lightspeed selftest` reports and how each Bybit answer is judged: pure verdicts, so every
threshold is tested without an exchange (the run itself is selftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from lightspeed_cli import __version__
from lightspeed_cli.decisions.fate import is_final
from lightspeed_cli.execution.base import ExecutionOutcome
from lightspeed_cli.execution.markets import fmt
from lightspeed_cli.execution.orders import result_from_fill
from lightspeed_cli.models import Fill, FollowerPosition, MarketInfo

MAX_CLOCK_SKEW_MS = 1000  # Bybit refuses a timestamp 1 s ahead of its own clock
UTA_STATUSES = frozenset({3, 4, 5, 6})  # account/info unifiedMarginStatus: UTA 1.0 / 2.0
NOTIONAL_MARGIN = Decimal("1.1")  # room above minNotionalValue for the price moving meanwhile
RESCUES = 4  # reduce-only closes the clean-up sends before it calls a position left open


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # the bot's assumption does not hold: attach the report to a bug report
    WARN = "WARN"  # holds, but something deserves the user's attention
    SKIP = "SKIP"  # not checked (an earlier step failed, or not available on this network)


class Check(StrEnum):
    """Every check, in the order it runs."""

    CLOCK = "Bybit reachable, clock in sync"
    KEY = "API key can trade, cannot withdraw"
    UTA = "account is unified (UTA)"
    MARKETS = "instrument filters parse"
    POSITION_MODE = "position mode matches config"
    EQUITY = "wallet totalEquity readable"
    MARGIN_MODE = "margin mode set"
    LEVERAGE = "leverage set"
    NOT_MODIFIED = "settings sent again: 'not modified' accepted"
    ORDER = "smallest order accepted"
    LISTED = "order listed in order/realtime or order/history"
    FILL = "fill price and qty read back"
    PAGING = "position/list paging: each position once"
    CLOSE = "reduce-only close flattens"
    DUPLICATE = "duplicate orderLinkId answers 110072"
    FLAT = "account left flat"
    ROUND_TRIPS = "round trips well inside recv_window"


class CheckResult(BaseModel):
    """One check's verdict; `ms`: how long its Bybit requests took."""

    name: str
    status: Status
    detail: str
    ms: float | None = None


class SelftestReport(BaseModel):
    """What `selftest --json` prints and saves: no key, no secret, only what the checks saw."""

    version: str = __version__
    network: str
    url: str
    symbol: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    measurements: dict[str, Any] = Field(default_factory=dict)
    left_open: bool = False

    @property
    def ok(self) -> bool:
        return not any(c.status is Status.FAIL for c in self.checks)

    def status_of(self, check: Check) -> Status | None:
        return next((c.status for c in self.checks if c.name == check.value), None)


@dataclass(frozen=True)
class SelftestOptions:
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    leverage: int = 1
    listing_timeout: float = 15.0  # how long an order may take to show in either list
    poll_every: float = 0.1
    round_trips: int = 5


# ---- pure verdicts -------------------------------------------------------------------------


def key_verdict(info: dict[str, Any]) -> tuple[Status, str]:
    """/v5/user/query-api -> can this key trade USDT perpetuals, and can it withdraw."""
    perms = info.get("permissions") or {}
    if str(info.get("readOnly")) == "1":
        return Status.FAIL, "the key is read-only: give it Contract (Orders, Positions) permission"
    trade = set(perms.get("ContractTrade") or []) | set(perms.get("Derivatives") or [])
    if not trade & {"Order", "DerivativesTrade"}:
        return Status.FAIL, f"no order permission for derivatives (ContractTrade: {sorted(trade)})"
    granted = ", ".join(f"{k}: {'/'.join(v)}" for k, v in sorted(perms.items()) if v)
    if "Withdraw" in (perms.get("Wallet") or []):
        return (
            Status.WARN,
            f"the key may WITHDRAW: a copy bot never needs it, remove it ({granted})",
        )
    return Status.PASS, f"read-write, no withdraw ({granted})"


def market_verdict(market: MarketInfo) -> tuple[Status, str]:
    """The filters sizing and safety rely on: step, min / max quantity, min notional."""
    detail = (
        f"{market.symbol}: step {fmt(market.qty_step)}, min qty {fmt(market.min_qty)}, max market"
        f" qty {fmt(market.max_qty) if market.max_qty is not None else '-'}, min notional"
        f" {fmt(market.min_notional)} USDT, max leverage {fmt(market.max_leverage)}"
    )
    if market.qty_step <= 0 or market.min_qty <= 0 or market.max_qty is None:
        return Status.FAIL, f"{detail}: a quantity filter is missing"
    if market.min_notional <= 0:
        return Status.WARN, f"{detail}: no minNotionalValue, the bot cannot pre-check notional"
    return Status.PASS, detail


def smallest_qty(market: MarketInfo, price: Decimal) -> Decimal:
    """The least quantity Bybit takes at `price`: the minimum, or the minimum notional (with
    room for the price moving) rounded up to the step."""
    notional = market.min_notional * NOTIONAL_MARGIN / price if price > 0 else Decimal(0)
    steps = (max(market.min_qty, notional) / market.qty_step).to_integral_value(ROUND_CEILING)
    return steps * market.qty_step


def percentile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def round_trip_verdict(
    public: list[float], private: list[float], recv_window_ms: int
) -> tuple[Status, str]:
    """A request must reach Bybit well inside recv_window, or Bybit refuses it (10002)."""
    worst = max(public + private)
    detail = (
        f"public p50 {percentile_ms(public, 0.5)} ms, max {max(public):.1f} ms; private p50"
        f" {percentile_ms(private, 0.5)} ms, max {max(private):.1f} ms; recv_window"
        f" {recv_window_ms} ms"
    )
    if worst >= recv_window_ms:
        return Status.FAIL, f"{detail}: a request took longer than recv_window"
    if worst >= recv_window_ms / 2:
        return Status.WARN, f"{detail}: a request took over half of recv_window"
    return Status.PASS, detail


def paging_verdict(
    pages: list[list[dict[str, Any]]], seen_by_bot: list[FollowerPosition], symbol: str
) -> tuple[Status, str]:
    """position/list read one row a page, raw, against the bot's own read: the bot must count
    each position once however Bybit pages (a real answer carried a cursor on its last page)."""
    raw = [(str(r.get("symbol")), int(r.get("positionIdx") or 0)) for p in pages for r in p]
    distinct = set(raw)
    keys = [(p.symbol, p.side) for p in seen_by_bot]
    detail = (
        f"{len(pages)} page(s) of 1 row: {len(raw)} row(s) for {len(distinct)} position(s)"
        + (", a row came again behind the last page's cursor" if len(raw) > len(distinct) else "")
        + f"; the bot read {len(keys)} position(s)"
    )
    if len(keys) != len(set(keys)):
        return Status.FAIL, f"{detail}: the bot counted a position twice"
    if not any(s == symbol for s, _ in keys):
        return Status.FAIL, f"{detail}: the bot did not see the {symbol} position it opened"
    return Status.PASS, detail


def fill_verdict(fill: Fill | None, qty: Decimal) -> tuple[Status, str]:
    """What the bot makes of the open's final state (orders.result_from_fill)."""
    if fill is None:
        return Status.FAIL, "the order's fill could not be read from either list"
    if not is_final(fill):
        return Status.FAIL, f"the order is still {fill.status}: a market order should not rest"
    result = result_from_fill(fill, None, None)
    if result.outcome is not ExecutionOutcome.FILLED or fill.price is None:
        return Status.FAIL, f"Bybit ended it {fill.status} without a fill (no liquidity?)"
    what = f"{fmt(fill.quantity)} of {fmt(qty)} at {fmt(fill.price)}, fee {fmt(fill.fee)}"
    if fill.quantity < qty:
        return Status.PASS, (
            f"{what}: the IOC market order ended {fill.status} with a part filled; the bot"
            " counts the part"
        )
    return Status.PASS, f"{what} ({fill.status})"


# ---- the run -------------------------------------------------------------------------------
