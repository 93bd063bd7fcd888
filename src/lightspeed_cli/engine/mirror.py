"""One signal's trip: signal -> decision -> order, journaled before and after.

The rules are pure functions in decisions/; this part gathers their inputs (the journal state a
signal needs, read once per signal; Bybit's price and balance), sends what they decide through
the order tracker, and says what happened. One trader's signals run strictly in order; opens on
one Bybit symbol run one at a time (see `handle`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions import fate, safety
from lightspeed_cli.decisions.decide import DecisionContext, decide
from lightspeed_cli.decisions.order_ids import client_order_id
from lightspeed_cli.decisions.sizing import within_market_max
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.engine.leaders import Leaders
from lightspeed_cli.execution.base import Broker, ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.prices import PriceCache, RoundTrips
from lightspeed_cli.journal.store import Journal, utc_day
from lightspeed_cli.license.gate import LicenseGate
from lightspeed_cli.models import (
    BookEntry,
    Decision,
    MirroredPosition,
    OrderIntent,
    OrderRow,
    OrderStatus,
    Refusal,
    Side,
    Signal,
    SignalDecision,
    SignalKind,
    Snapshot,
    SymbolMapping,
)
from lightspeed_cli.notify.alerts import Kind

from .events import Events
from .per_unit import mirrored_per_unit
from .tracker import UNKNOWN_ACTION, OrderTracker

log = logging.getLogger("lightspeed_cli.engine.loop")

EQUITY_CACHE_SECONDS = 5.0
# a close or reduce Bybit rejects goes again after this pause, doubling up to the cap: never
# abandoned (the trader has left), never a retry storm
REJECTED_RETRY_SECONDS = (5.0, 300.0)
_UNSETTLED = (OrderStatus.INTENT, OrderStatus.UNKNOWN)
_READS_EQUITY = (SizingMode.EQUITY_PCT, SizingMode.LEADER_EQUITY)  # modes sized by the balance

PausedBy = Callable[[], str | None]  # who paused opens, None while they are allowed
OpensRefusal = Callable[[Signal], Refusal | None]


class FatalTradingError(Exception):
    """Trading cannot continue (invalid keys, permission): stop and tell the user."""


def never_paused() -> str | None:
    return None


class OpenLocks:
    """The lock opens on one Bybit symbol hold from deciding to recording the fill (close-all
    takes it too, through steering)."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def __call__(self, bybit_symbol: str) -> asyncio.Lock:
        return self._locks[bybit_symbol]


class Mirror:
    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker,
        journal: Journal,
        tracker: OrderTracker,
        events: Events,
        prices: PriceCache,
        license_gate: LicenseGate,
        leaders: Leaders | None,
        opens_refusal: OpensRefusal,
        paused_by: PausedBy | None,
        open_locks: OpenLocks | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.journal = journal
        self.tracker = tracker
        self.events = events
        self.view = events.view
        self.prices = prices
        self.license_gate = license_gate
        self.leaders = leaders
        self.opens_refusal = opens_refusal  # reconciliation's: opens wait for the user
        self.paused_by: PausedBy = paused_by or never_paused  # steering's pause door
        self.clock = clock
        self.symbols: SymbolMap | None = None  # from Bybit's markets, at start
        self.marks: dict[str, Decimal] = {}  # latest Binance mark seen per symbol, any trader
        self.leader_equity: dict[str, Decimal] = {}  # the source's own leader account, by trader
        self.open_locks = open_locks or OpenLocks()
        self._equity: tuple[Decimal, float] | None = None
        # (trader, Binance symbol, side) -> (monotonic time a rejected close may go again,
        # rejections in a row)
        self.retry_at: dict[tuple[str, str, Side], tuple[float, int]] = {}
        self._waiting_said: set[tuple[str, str, Side]] = set()  # opens waiting for a close
        # snapshot received -> broker.execute, per signal; the latest 10,000 (bounded: a bot
        # runs for months)
        self.signal_overhead_ms: deque[float] = deque(maxlen=10_000)
        # per order sent: (snapshot received -> broker.execute in ms, Bybit requests made in
        # between: price, balance, leverage, margin mode; target 0, prices.py and prepare.py)
        self.hot_path: deque[tuple[float, int]] = deque(maxlen=10_000)

    def saw_marks(self, snapshot: Snapshot) -> None:
        """The latest mark per symbol, for the reference price of a close; the leader's
        account when the source says it (Hyperliquid's accountValue: leader_equity sizing)."""
        for position in snapshot.positions:
            self.marks[position.symbol] = position.mark_price
        if snapshot.leader_equity is not None:
            self.leader_equity[snapshot.trader] = snapshot.leader_equity

    def _leader_balance(self, trader: str) -> Decimal | None:
        if trader in self.leader_equity:
            return self.leader_equity[trader]
        return self.leaders.balance(trader) if self.leaders else None

    async def handle(self, trader: TraderSettings, signal: Signal, received: float) -> None:
        """Opens and increases on one Bybit symbol go one at a time, from reading the mirrored
        book to recording the fill: two traders' opens deciding at once would both pass the
        one-way check (and the symbol's cap) that only one may pass, and net on Bybit.
        Reduces and closes never wait."""
        assert self.symbols is not None, "engine.start() must run first"
        if signal.kind.is_risk_reducing:
            await self._handle_now(trader, signal, received)
            return
        mapping = self.symbols.resolve(signal.symbol)
        key = mapping.market.symbol if isinstance(mapping, SymbolMapping) else signal.symbol
        async with self.open_locks(key):
            await self._handle_now(trader, signal, received)

    async def _handle_now(self, trader: TraderSettings, signal: Signal, received: float) -> None:
        assert self.symbols is not None, "engine.start() must run first"
        trips = RoundTrips()
        retry = self.retry_at.get((trader.id, signal.symbol, signal.side))
        if retry is not None and time.monotonic() < retry[0]:
            return  # a rejected close, pausing before it goes again (said when it was rejected)
        mapping = self.symbols.resolve(signal.symbol)
        bybit_symbol = mapping.market.symbol if isinstance(mapping, SymbolMapping) else ""
        entry = self._entry(trader.id, signal)  # the book of the key, read once per signal
        cid = self._client_order_id(trader.id, signal, entry)
        existing = self.journal.order(cid)
        if existing is not None:
            # replay after a crash or a failed lookup: settle the old order before anything else
            if existing.status in _UNSETTLED:
                state = await self.tracker.settle(existing)
                if state != "unknown":
                    self.tracker.release(existing.client_order_id)  # the journal knows
                if state != "not_placed":
                    return  # filled (the book moved on) or still unknown (same id next poll)
                if not signal.kind.is_risk_reducing:  # settled late: an open is not chased
                    self.journal.advance_book(signal)
                    return
            elif existing.status is OrderStatus.FILLED:
                self.journal.advance_book(signal)
                return
            # never placed: the retry gets a fresh id. A fatal stop (bad key) or a crash between
            # marking it failed and the bump leaves the attempt as it was: bump it now, or the
            # change could never go out again (the old id is taken in the journal)
            entry = self._entry(trader.id, signal)  # the settle above may have bumped it
            cid = self._client_order_id(trader.id, signal, entry)
            if cid == existing.client_order_id:
                self.journal.bump_attempt(trader.id, signal.symbol, signal.side)
                entry = self._entry(trader.id, signal)
                cid = self._client_order_id(trader.id, signal, entry)
        mirrored = self.journal.mirrored_positions()  # read once per signal
        held = next(
            (
                m
                for m in mirrored
                if (m.trader, m.symbol, m.side) == (trader.id, bybit_symbol, signal.side)
            ),
            None,
        )
        if signal.kind is not SignalKind.OPEN and held is None:
            self.journal.record_skip(
                signal, "not mirrored: opened before we followed, or its open was refused"
            )
            return
        if self._waits_for_close(trader.id, signal, bybit_symbol, mirrored):
            return  # the book stays as it was: the same change comes back next poll
        hedge = self.broker.hedge_mode
        conflict = (
            safety.paused_refusal(self.paused_by(), signal)
            or safety.one_way_conflict(signal, bybit_symbol, mirrored, hedge_mode=hedge)
            or self.opens_refusal(signal)
            or (self.leaders.refusal(trader.id, signal) if self.leaders is not None else None)
        )
        if conflict is not None:
            decision = Decision(signal=signal, refusal=conflict)
        else:
            decision, bybit_last = await self._decide(
                trader, signal, mapping, held, cid, entry, trips
            )
            if decision.intent is not None and signal.kind is SignalKind.CLOSE:
                decision = self._with_close_reference(decision, mapping, bybit_last)
        if decision.refusal is not None:
            self.journal.record_refusal(decision, advance=True)
            self.view.refusals += 1
            self.events.event(
                "warning",
                f"REFUSED {trader.id} {signal.kind.value} {signal.symbol} {signal.side.value}:"
                f" {decision.refusal.check}: {decision.refusal.reason}",
                notify=True,
            )
            return
        assert decision.intent is not None
        intent = self._within_market_max(decision.intent)
        await self._send(intent, signal, bybit_last, received, trips)

    async def _send(
        self,
        intent: OrderIntent,
        signal: Signal,
        bybit_last: Decimal,
        received: float,
        trips: RoundTrips,
    ) -> None:
        """Journal the intent, send it, record what Bybit said; the tracker holds it meanwhile."""
        self.journal.record_intent(intent, signal, leader_change_at=signal.source_time)
        row = self.journal.order(intent.client_order_id)
        assert row is not None
        overhead_ms = (time.perf_counter() - received) * 1000
        self.signal_overhead_ms.append(overhead_ms)
        tracker = self.tracker
        if not signal.kind.is_risk_reducing:  # no await since the caps were checked: atomic
            tracker.reserve(intent, bybit_last)
        tracker.started()
        unknown = True
        try:
            # a 110072 (id already used) is checked against when this change was journaled
            result = await self.broker.execute(
                intent.model_copy(update={"journaled_at": row.created_at})
            )
            self.hot_path.append((overhead_ms, trips.count + result.setup_requests))
            self.view.orders_sent += 1
            await self._apply_result(row, signal, result)
        finally:
            settled = self.journal.order(intent.client_order_id)
            if settled is None or settled.status not in _UNSETTLED:
                # an order of unknown fate may be on Bybit: the caps keep counting it until
                # a lookup settles it
                tracker.release(intent.client_order_id)
                unknown = False
            tracker.finished(unknown=unknown)

    # ---- the journal state of one signal --------------------------------------------------

    def _entry(self, trader: str, signal: Signal) -> BookEntry | None:
        return self.journal.book_entry(trader, signal.symbol, signal.side)

    def _client_order_id(
        self, trader: str, signal: Signal, entry: BookEntry | None, attempt: int | None = None
    ) -> str:
        """The id for this change's current attempt (or an earlier `attempt`), from the book
        entry of the key."""
        current = entry.attempt if entry else 0
        return client_order_id(
            instance=self.tracker.instance,
            trader=trader,
            symbol=signal.symbol,
            side=signal.side,
            version=entry.version if entry else 0,
            attempt=current if attempt is None else attempt,
        )

    def _reduced_so_far(self, trader: str, signal: Signal, entry: BookEntry | None) -> Decimal:
        """What earlier tries of this same change sold, when it is a reduce that Bybit filled
        in part (an IOC market order out of liquidity): the rest goes out against the same
        target. Journal reads only, and only for a retried reduce."""
        if signal.kind is not SignalKind.REDUCE or entry is None or entry.attempt == 0:
            return Decimal(0)
        sold = Decimal(0)
        for attempt in range(entry.attempt):
            row = self.journal.order(self._client_order_id(trader, signal, entry, attempt))
            if row is not None and row.kind == "reduce" and row.status is OrderStatus.FILLED:
                sold += row.fill_qty or Decimal(0)
        return sold

    def _per_unit(
        self, signal: Signal, mode: SizingMode, held: MirroredPosition | None
    ) -> Decimal | None:
        """A reduce's quantity per leader unit outside ratio mode (ratio mode has its own)."""
        if signal.kind is not SignalKind.REDUCE or mode is SizingMode.RATIO or held is None:
            return None
        return mirrored_per_unit(self.journal, held)

    def _waits_for_close(
        self, trader: str, signal: Signal, bybit_symbol: str, mirrored: list[MirroredPosition]
    ) -> bool:
        """An open that meets the other side only because that side's close is still in
        flight (sent, or of unknown fate) is a flip half done: refusing it would drop the
        open for good (a refused open is never chased), so it waits for the close to settle."""
        key = (trader, signal.symbol, signal.side)
        holders = safety.opposite_holders(
            signal, bybit_symbol, mirrored, hedge_mode=self.broker.hedge_mode
        )
        other = signal.side.opposite
        closing = {
            row.trader
            for row in (self.journal.unfinished_orders() if holders else ())
            if row.symbol == bybit_symbol
            and row.side is other
            and row.kind == SignalKind.CLOSE.value
        }
        if not holders or not set(holders) <= closing:
            self._waiting_said.discard(key)
            return False
        if key not in self._waiting_said:  # once per wait, not once per poll
            self._waiting_said.add(key)
            self.events.event(
                "info",
                f"{trader} {signal.kind.value} {signal.symbol} {signal.side.value} waits for"
                f" the close of {bybit_symbol} {other.value} ({', '.join(holders)}) still in"
                " flight",
            )
        return True

    # ---- deciding --------------------------------------------------------------------------

    async def _decide(
        self,
        trader: TraderSettings,
        signal: Signal,
        mapping: SymbolMapping | Refusal,
        held: MirroredPosition | None,
        cid: str,
        entry: BookEntry | None,
        trips: RoundTrips,
    ) -> tuple[Decision, Decimal]:
        """The pure decision, fed with what it needs from Bybit and the journal.

        The book the caps see is read after the Bybit round trips (another trader's fill may
        have landed meanwhile) and includes the opens still in flight."""
        now = self.clock()
        mapped = mapping if isinstance(mapping, SymbolMapping) else None
        sizing = trader.effective_sizing(self.settings.sizing)
        if sizing.mode in _READS_EQUITY:
            bybit_last, equity = await asyncio.gather(
                self._bybit_price(signal, mapped, trips), self._equity_usdt(trips)
            )
        else:
            bybit_last, equity = await self._bybit_price(signal, mapped, trips), Decimal(0)
        mirrored = [*self.journal.mirrored_positions(), *self.tracker.in_flight.values()]
        position_notional = sum(
            (
                m.quantity * m.entry_price
                for m in mirrored
                if mapped is not None and m.symbol == mapped.market.symbol and m.side == signal.side
            ),
            Decimal(0),
        )
        ctx = DecisionContext(
            mapping=mapped,
            mapping_refusal=mapping if isinstance(mapping, Refusal) else None,
            bybit_last=bybit_last,
            equity_usdt=equity,
            leader_balance_usdt=self._leader_balance(trader.id),
            held_qty=held.quantity if held is not None else Decimal(0),
            reduced_qty=self._reduced_so_far(trader.id, signal, entry),
            per_unit=self._per_unit(signal, sizing.mode, held),
            open_positions=len({(m.symbol, m.side) for m in mirrored}),
            total_notional_usdt=sum((m.quantity * m.entry_price for m in mirrored), Decimal(0)),
            position_notional_usdt=position_notional,
            daily_realized_pnl_usdt=self.journal.realized_pnl(utc_day(now)),
            now=now,
            client_order_id=cid,
        )
        decision = decide(
            signal,
            ctx,
            sizing=sizing,
            safety=self.settings.safety,
            license_refusal=self.license_gate.refusal(),
        )
        return decision, bybit_last

    async def _bybit_price(
        self, signal: Signal, mapped: SymbolMapping | None, trips: RoundTrips
    ) -> Decimal:
        """Bybit's last price: from the background cache while it is fresh, else read now
        (never a stale price). For a reduce or close that must go out anyway, the leader's
        mark stands in when Bybit cannot be read (opens refuse on a 0 price)."""
        if mapped is None:
            return Decimal(0)
        cached = self.prices.fresh(mapped.market.symbol)
        if cached is not None:
            return cached
        trips.count += 1
        try:
            return await self.broker.last_price(mapped.market.symbol)
        except Exception as exc:
            log.warning("Bybit price for %s unavailable: %s", mapped.market.symbol, exc)
            leader = signal.position or signal.previous_position
            if signal.kind.is_risk_reducing and leader is not None:
                return leader.mark_price * mapped.price_scale
            return Decimal(0)

    async def _equity_usdt(self, trips: RoundTrips) -> Decimal:
        now = time.monotonic()
        if self._equity is not None and now - self._equity[1] < EQUITY_CACHE_SECONDS:
            return self._equity[0]
        trips.count += 1
        try:
            value = await self.broker.equity_usdt()
        except Exception as exc:
            log.warning("equity unavailable: %s", exc)
            return self._equity[0] if self._equity else Decimal(0)
        self._equity = (value, now)
        return value

    def _within_market_max(self, intent: OrderIntent) -> OrderIntent:
        """A close above Bybit's market-order maximum goes out in chunks, one per poll, until
        nothing is left (the journal keeps the change open meanwhile); a reduce is trimmed to
        it. Opens were already clamped by sizing."""
        market = self.broker.markets.get(intent.symbol)
        is_close = intent.signal_kind is SignalKind.CLOSE
        capped = (
            within_market_max(intent.quantity, market, is_close=is_close)
            if market is not None
            else None
        )
        if capped is None or market is None:
            return intent
        what = "closing in chunks" if is_close else "reduce trimmed"
        self.events.event(
            "warning",
            f"{intent.trader} {intent.symbol}: {intent.quantity} is above Bybit's market-order"
            f" maximum {market.max_qty}: {what} of {capped}",
        )
        return intent.model_copy(update={"quantity": capped})

    def _with_close_reference(
        self, decision: Decision, mapping: SymbolMapping | Refusal, bybit_last: Decimal
    ) -> Decision:
        """Binance gives no exit price, and the book's mark dates from the position's last
        change: a close is measured against the freshest Binance mark seen for the symbol (at
        most one poll old), else Bybit's price when the close was seen."""
        assert decision.intent is not None and isinstance(mapping, SymbolMapping)
        reference = self.marks.get(decision.signal.symbol)
        if reference is None and bybit_last > 0:
            reference = bybit_last / mapping.price_scale
        if reference is None:
            return decision
        intent = decision.intent.model_copy(update={"reference_price": reference})
        return decision.model_copy(update={"intent": intent})

    # ---- what Bybit said -------------------------------------------------------------------

    async def _apply_result(self, row: OrderRow, signal: Signal, result: ExecutionResult) -> None:
        outcome = result.outcome
        label = f"{row.trader} {signal.kind.value} {row.symbol} {row.side.value} {row.quantity}"
        order_key = f"{row.trader} {row.symbol} {row.side.value}"
        if outcome not in (ExecutionOutcome.REJECTED, ExecutionOutcome.INSUFFICIENT_FUNDS):
            self.retry_at.pop((row.trader, signal.symbol, signal.side), None)
        if outcome in (ExecutionOutcome.FILLED, ExecutionOutcome.ALREADY_FLAT):
            self.events.alerts.clear(Kind.ORDER, order_key, f"{label}: done")
        if outcome is ExecutionOutcome.FILLED and result.fill is not None:
            self.tracker.record_fill(row, result.fill, signal, result)
            price, filled = result.fill.price, result.fill.quantity
            part = ""
            if filled < row.quantity:  # an IOC market order out of liquidity
                rest = "goes next" if signal.kind.is_risk_reducing else "is not chased"
                part = f" (filled {filled} of {row.quantity}: the rest {rest})"
            self.events.event("info", f"EXECUTED {label} @ {price}{part}", notify=True)
            return
        if outcome is ExecutionOutcome.ALREADY_FLAT:
            self.journal.mark_order_failed(
                row.client_order_id,
                outcome.value,
                result.error or "Bybit position already flat",
                signal_decision=SignalDecision.EXECUTED,
            )
            self.journal.drop_mirrored(row.trader, row.symbol, row.side)
            self.journal.advance_book(signal)
            self.events.event("warning", f"{label}: already flat on Bybit")
            return
        if outcome is ExecutionOutcome.FATAL:
            self.journal.mark_order_failed(
                row.client_order_id,
                outcome.value,
                result.error,
                signal_decision=SignalDecision.FAILED,
            )
            self.events.event("error", f"FAILED {label}: {result.error}")
            raise FatalTradingError(result.error or "Bybit refused the API key")
        if outcome in (ExecutionOutcome.REJECTED, ExecutionOutcome.INSUFFICIENT_FUNDS):
            self.journal.mark_order_failed(
                row.client_order_id,
                outcome.value,
                result.error,
                signal_decision=SignalDecision.FAILED,
            )
            retry = ""
            if signal.kind.is_risk_reducing:  # the change stays open: it goes again later
                retry = f" (will retry in {self._pause_after_rejection(row, signal):g} s)"
            else:
                self.journal.advance_book(signal)
            self.events.event(
                "error",
                f"FAILED {label}: {outcome.value}: {result.error}{retry}",
                alert=(Kind.ORDER, order_key, _order_action(signal, outcome)),
            )
            return
        # rate limited, unavailable, unknown: Bybit may or may not have the order
        if result.not_placed:  # refused outright each time: nothing can execute
            self.tracker.mark_not_placed(row, outcome.value, result.error)
            state = "not_placed"
        else:
            acked = fate.ACKNOWLEDGED if result.acknowledged else outcome.value
            self.journal.mark_order_unknown(row.client_order_id, acked, result.error)
            state = await self.tracker.settle(row.model_copy(update={"outcome": acked}))
        if state == "not_placed" and not signal.kind.is_risk_reducing:
            # don't chase an open later at a worse price; a close is retried next poll
            self.journal.advance_book(signal)
        if state == "unknown":
            self.events.event(
                "error",
                f"UNKNOWN {label}: {outcome.value}: {result.error}: Bybit may hold it; the"
                " change waits (no resend) until Bybit shows it or its request window closes",
                alert=(Kind.ORDER, order_key, UNKNOWN_ACTION),
            )
        elif state != "filled":
            self.events.event(
                "error",
                f"FAILED {label}: {outcome.value}: {result.error}"
                + (" (will retry)" if signal.kind.is_risk_reducing else ""),
                alert=(Kind.ORDER, order_key, _order_action(signal, outcome)),
            )

    def _pause_after_rejection(self, row: OrderRow, signal: Signal) -> float:
        key = (row.trader, signal.symbol, signal.side)
        rejections = self.retry_at.get(key, (0.0, 0))[1] + 1
        first, cap = REJECTED_RETRY_SECONDS
        pause = min(first * 2 ** (rejections - 1), cap)
        self.retry_at[key] = (time.monotonic() + pause, rejections)
        return pause


def _order_action(signal: Signal, outcome: ExecutionOutcome) -> str:
    if outcome is ExecutionOutcome.INSUFFICIENT_FUNDS and not signal.kind.is_risk_reducing:
        return "add margin to the Bybit account; this open is not retried"
    if signal.kind.is_risk_reducing:
        return "the bot retries; if it keeps failing, close the position on Bybit by hand"
    return "check the reason; this open is not retried"
