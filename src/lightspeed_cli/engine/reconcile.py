"""Bybit is the truth, the journal a belief: compare them, say so loudly, repair what is ours.

On a period (`bybit.reconcile_interval_seconds`) and soon after any order of unknown fate, the
journal's mirrored book is compared with Bybit's positions per (Bybit symbol, side); drift.py
decides what each difference means. At start the order history is read too: filled orders with
this bot's orderLinkIds that the journal has no row for mean the journal is empty, deleted or
restored from an older copy. The mirrored book is then rebuilt from Bybit where the ids prove
the position the bot's, the leader books are re-read as a fresh baseline (a stale book would
replay changes already made), new ids get a fresh salt, and where the bot cannot be sure, no
position is opened until the user runs `lightspeed journal accept-rebuild`.

This is the I/O shell: it runs as its own task, never adds a Bybit round trip before an order,
and skips a pass while an order is in flight (a half-applied fill is not drift).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.drift import KeyFacts, KeyPlan, Ownership, plan_key, ratio_target
from lightspeed_cli.decisions.drift import unknown_bot_orders as lost_orders
from lightspeed_cli.decisions.order_ids import is_bot_order, repair_order_id, trader_tag
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.base import Broker, ExecutionOutcome
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import (
    ExchangeOrder,
    MarketInfo,
    MirroredPosition,
    OrderIntent,
    Refusal,
    Side,
    Signal,
    SignalDecision,
    SignalKind,
    SymbolMapping,
)
from lightspeed_cli.notify.alerts import Kind

from .events import Events
from .tracker import OrderTracker

log = logging.getLogger(__name__)

Key = tuple[str, Side]  # (Bybit symbol, position side)

# journal meta keys
OPENS_BLOCKED = "opens_blocked"  # why opens wait for the user's `journal accept-rebuild`
ACCEPTED_UNTIL = "history_accepted_until"  # the bot's orders up to then were dealt with
ACCEPT_COMMAND = "lightspeed journal accept-rebuild"
JOURNAL_SUBJECT = "journal vs Bybit"
DRIFT_ACTION = (
    "check the position on Bybit: the bot reduces only what its own order ids prove it holds"
    " above the leader's book x ratio; anything else is yours to close or keep"
)
SOON_SECONDS = 3.0  # a pass this soon after an order of unknown fate (the engine settles first)
START_HISTORY_PAGES = 20  # 1,000 orders: the start-up look for orders the journal lacks
SYMBOL_HISTORY_PAGES = 4
# a repair Bybit lists in neither order list this long after it was journaled never got there
# (well past the request window: recv_window 5 s plus clock skew)
REPAIR_DEAD_AFTER = timedelta(seconds=30)


@dataclass
class ReconcileReport:
    resolved_filled: int = 0
    resolved_not_placed: int = 0
    still_unknown: int = 0
    closed_outside: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)


@dataclass
class PassResult:
    ran: bool = False  # False: skipped (an order went out meanwhile)
    drift: list[str] = field(default_factory=list)  # "SYMBOL side: journal X, Bybit Y: ..."
    unresolved: list[str] = field(default_factory=list)  # may be the bot's: the user must say
    repairs: int = 0
    skipped_keys: list[str] = field(default_factory=list)  # an order of unknown fate on them


def accept_rebuild(journal: Journal) -> str | None:
    """The user checked Bybit: opens may resume, and the bot's orders until now count as dealt
    with (not said again at the next start). Returns what was blocking, if anything."""
    reason = journal.meta(OPENS_BLOCKED)
    journal.set_meta(OPENS_BLOCKED, None)
    journal.set_meta(ACCEPTED_UNTIL, datetime.now(UTC).isoformat())
    return reason


class Reconciler:
    """Reconciliation beside the engine: handed the order tracker (what is in flight, the id
    salt, fills) and the event sink, never the engine."""

    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker,
        journal: Journal,
        tracker: OrderTracker,
        events: Events,
        symbols: Callable[[], SymbolMap | None],
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.journal = journal
        self.tracker = tracker
        self.events = events
        self._symbols = symbols
        self._said: dict[Key, tuple[Decimal, Decimal, str]] = {}  # drift already reported
        self._blocked: str | None = journal.meta(OPENS_BLOCKED)
        self._lock = asyncio.Lock()
        self.passes = 0

    @property
    def _busy(self) -> bool:
        return bool(self.tracker.sending)

    def opens_refusal(self, signal: Signal) -> Refusal | None:
        """Opens wait while the journal disagrees with Bybit in a way only the user can settle."""
        if self._blocked is None or signal.kind.is_risk_reducing:
            return None
        self._blocked = self.journal.meta(OPENS_BLOCKED)  # the CLI may have cleared it
        if self._blocked is None:
            self.events.event("info", "journal rebuild accepted: opening resumes")
            self.events.alerts.clear(Kind.DRIFT, JOURNAL_SUBJECT, "accepted: opening resumes")
            return None
        return Refusal(
            check="journal_disagrees", reason=f"{self._blocked}; opens wait for `{ACCEPT_COMMAND}`"
        )

    async def startup(self) -> ReconcileReport:
        """Settle what a crash left open (the tracker, within each request window), then
        compare the journal with Bybit."""
        report = ReconcileReport()
        tracker = self.tracker
        rows = self.journal.unfinished_orders()
        if rows:
            last = max(tracker.window_closes(r) for r in rows)
            wait = max(0.0, (last - tracker.clock()).total_seconds())
            log.info("%d order(s) of unknown fate: settling (up to %.1f s)", len(rows), wait)
        states = await tracker.settle_within_windows(rows)
        for n, state in states.items():
            if state == "filled":
                report.resolved_filled += 1
            elif state == "not_placed":
                report.resolved_not_placed += 1
            else:
                report.still_unknown += 1
                if not rows[n].reduce_only:  # Bybit may hold it: the caps count it
                    tracker.reserve(rows[n], rows[n].reference_price, rows[n].created_at)
        await self.at_start(report)
        return report

    # ---- start-up --------------------------------------------------------------------------

    async def at_start(self, report: ReconcileReport) -> None:
        """Find the bot's orders the journal lost, rebuild from Bybit, compare the books."""
        journal = self.journal
        await self._settle_repairs()
        try:
            orders = await self.broker.order_list(None, pages=START_HISTORY_PAGES)
        except Exception as exc:  # a start without history is still a start: said, not fatal
            log.warning("Bybit order history unavailable at start: %s", exc)
            orders = []
        raw = journal.meta(ACCEPTED_UNTIL)
        known = journal.known_order_ids([o.link_id for o in orders if is_bot_order(o.link_id)])
        lost = lost_orders(orders, known, datetime.fromisoformat(raw) if raw else None)
        if lost:
            if not journal.unfinished_orders():
                # ids from this salt may already be on Bybit (a restore from an older copy)
                self.tracker.instance = journal.rotate_instance()
            journal.forget_leader_books()  # a stale book would replay changes already made
        by_symbol: dict[str, list[ExchangeOrder]] = {}
        for order in orders:
            by_symbol.setdefault(order.symbol, []).append(order)
        result = await self.check(orders_by_symbol=by_symbol, report=report, startup=True)
        if lost:
            self._say_lost(lost, result)

    def _say_lost(self, lost: list[ExchangeOrder], result: PassResult) -> None:
        journal = self.journal
        symbols = ", ".join(sorted({o.symbol for o in lost}))
        message = (
            f"JOURNAL AND BYBIT DISAGREE: Bybit lists {len(lost)} filled order(s) of this bot"
            f" that the journal does not know ({symbols}): the journal is empty, deleted or"
            " restored from an older copy."
        )
        action = "compare `lightspeed status` with your positions on Bybit"
        unsure = list(result.unresolved)
        if self.settings.copy_settings.follow_existing:
            unsure.append("copy.follow_existing would open again what the bot already holds")
        if unsure:
            reason = "the journal and Bybit disagree: " + "; ".join(unsure)
            journal.set_meta(OPENS_BLOCKED, reason)
            self._blocked = reason
            message += (
                f" {'; '.join(unsure)}. NO NEW POSITION IS OPENED until you check your"
                f" positions on Bybit and run `{ACCEPT_COMMAND}` (closes and reductions still"
                " mirror)."
            )
            action = f"check your positions on Bybit, then run `{ACCEPT_COMMAND}`"
        else:
            newest = max((o.created_at for o in lost if o.created_at), default=None)
            if newest is not None:
                journal.set_meta(ACCEPTED_UNTIL, newest.isoformat())
            message += (
                " The mirrored book was rebuilt from Bybit (positions the bot's order ids prove"
                " its own) and each trader's next read is a fresh baseline: closes mirror."
            )
        self.events.event("error", message, alert=(Kind.DRIFT, JOURNAL_SUBJECT, action))

    # ---- the periodic task -----------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.bybit.reconcile_interval_seconds
        soon = min(interval, SOON_SECONDS)
        next_at = time.monotonic() + soon  # once right after the first polls (baselines)
        while not stop.is_set():
            await self._wait(stop, max(0.0, next_at - time.monotonic()))
            if stop.is_set():
                return
            if self.tracker.soon.is_set():
                self.tracker.soon.clear()
                with contextlib.suppress(TimeoutError):  # let the engine settle it first
                    await asyncio.wait_for(stop.wait(), soon)
                if stop.is_set():
                    return
            try:
                result = await self.check()
            except Exception as exc:  # one bad pass must not stop the next
                log.warning("reconciliation pass failed: %r", exc)
                result = PassResult()
            again = not result.ran or bool(result.skipped_keys)
            next_at = time.monotonic() + (soon if again else interval)

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        waits = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self.tracker.soon.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    # ---- one pass --------------------------------------------------------------------------

    async def check(
        self,
        *,
        orders_by_symbol: dict[str, list[ExchangeOrder]] | None = None,
        report: ReconcileReport | None = None,
        startup: bool = False,
    ) -> PassResult:
        """Compare, decide per key, apply; skipped (ran=False) if an order went out meanwhile."""
        async with self._lock:
            if not startup:
                await self._settle_repairs()
            return await self._check(orders_by_symbol or {}, report)

    async def _check(
        self, orders: dict[str, list[ExchangeOrder]], report: ReconcileReport | None
    ) -> PassResult:
        journal = self.journal
        result = PassResult()
        if self._busy:
            return result
        generation = self.tracker.generation
        positions = await self.broker.positions()
        if self._busy or generation != self.tracker.generation:
            return result  # a fill may be half applied
        result.ran = True
        self.passes += 1
        bybit: dict[Key, Decimal] = {}
        for p in positions:
            if p.size > 0:
                bybit[(p.symbol, p.side)] = bybit.get((p.symbol, p.side), Decimal(0)) + p.size
        held: dict[Key, dict[str, Decimal]] = {}
        for m in journal.mirrored_positions():
            held.setdefault((m.symbol, m.side), {})[m.trader] = m.quantity
        unsettled = {
            (r.symbol, r.side)
            for r in (*journal.unfinished_orders(), *journal.unfinished_orders(repairs=True))
        }
        known, book = self._leader_targets()
        tags = {trader_tag(t.id): t.id for t in self.settings.traders}
        for key in sorted({*bybit, *held}):
            symbol, side = key
            market = self.broker.markets.get(symbol)
            if key in unsettled or market is None:  # settling first / not a market we trade
                result.skipped_keys.append(f"{symbol}:{side.value}")
                continue
            on_bybit, in_journal = bybit.get(key, Decimal(0)), held.get(key, {})
            if on_bybit > sum(in_journal.values(), Decimal(0)) and symbol not in orders:
                try:
                    orders[symbol] = await self.broker.order_list(
                        symbol, pages=SYMBOL_HISTORY_PAGES
                    )
                except Exception as exc:  # unread orders prove nothing: report only
                    log.warning("orders of %s unavailable: %s", symbol, exc)
                if self._busy or generation != self.tracker.generation:
                    result.ran = False  # an order went out meanwhile: the rest next time
                    return result
            facts = KeyFacts(
                symbol=symbol,
                side=side,
                bybit=on_bybit,
                held=in_journal,
                targets={
                    t: book.get((t, symbol, side), Decimal(0)) if t in known else None
                    for t in {*in_journal, *tags.values()}
                },
                step=market.qty_step,
                min_qty=market.min_qty,
                orders=tuple(orders[symbol]) if symbol in orders else None,
                tags=tags,
                hedge_mode=self.broker.hedge_mode,
            )
            plan = plan_key(facts)
            self._apply_journal(facts, plan, result, report)
            for trader, qty in plan.repairs:
                result.repairs += await self._repair(trader, facts, qty, market)
                if self._busy or self.tracker.generation != generation + 1:
                    result.ran = False
                    return result
                generation = self.tracker.generation  # our own repair, nothing else
        for key in [k for k in self._said if k not in bybit and k not in held]:
            del self._said[key]
        return result

    def _leader_targets(self) -> tuple[set[str], dict[tuple[str, str, Side], Decimal]]:
        """Traders whose leader book is known (enabled, read at least once), and their book x
        ratio per (trader, Bybit symbol, side); a key absent from a known book is flat (0)."""
        symbols = self._symbols()
        known: set[str] = set()
        out: dict[tuple[str, str, Side], Decimal] = {}
        if symbols is None:
            return known, out
        mirrored = {
            (m.trader, m.symbol, m.side): m.quantity for m in self.journal.mirrored_positions()
        }
        for trader in self.settings.traders:
            if not trader.enabled or self.journal.book_snapshot(trader.id) is None:
                continue
            known.add(trader.id)
            sizing = trader.effective_sizing(self.settings.sizing)
            for (binance_symbol, side), entry in self.journal.book(trader.id).items():
                mapping = symbols.resolve(binance_symbol)
                if entry.position is None or not isinstance(mapping, SymbolMapping):
                    continue
                key = (trader.id, mapping.market.symbol, side)
                if sizing.mode is SizingMode.RATIO:
                    size = entry.position.size
                    part = ratio_target(
                        size, sizing.value, mapping.qty_scale, mapping.market.qty_step
                    )
                else:  # sized from money, not from the leader's size: the journal is the target
                    part = mirrored.get(key, Decimal(0))
                out[key] = out.get(key, Decimal(0)) + part
        return known, out

    def _apply_journal(
        self,
        facts: KeyFacts,
        plan: KeyPlan,
        result: PassResult,
        report: ReconcileReport | None,
    ) -> None:
        """The journal follows Bybit for what is the bot's; every drift is said once."""
        key = (facts.symbol, facts.side)
        subject = f"{facts.symbol} {facts.side.value}"
        if not plan.drift:
            if self._said.pop(key, None) is not None:
                self.events.event("info", f"{subject}: journal and Bybit agree again")
                self.events.alerts.clear(Kind.DRIFT, subject, "journal and Bybit agree again")
            return
        for trader, qty in plan.held.items():
            if qty != facts.held.get(trader, Decimal(0)):
                self._set_held(trader, facts.symbol, facts.side, qty)
        name = f"{facts.symbol}:{facts.side.value}"
        what: list[str] = []
        if facts.bybit < facts.journal:
            what.append(f"the journal now holds Bybit's {facts.bybit}")
            if report is not None and facts.bybit == 0:
                report.closed_outside.extend(f"{t}:{name}" for t in facts.held)
            elif report is not None:
                report.size_mismatch.append(name)
        if plan.adopted_by is not None:
            what.append(
                f"the bot's own (its order ids): adopted for {self._label(plan.adopted_by)}"
            )
            if report is not None and facts.journal > 0:
                report.size_mismatch.append(name)
        elif plan.unexplained > 0:
            why = {
                Ownership.HAND: "orders on it that are not the bot's",
                Ownership.UNKNOWN: "no order of the bot's listed for it",
                Ownership.BOT: "the bot's, for no configured trader",
            }[plan.owner]
            what.append(f"{plan.unexplained} left alone ({why})")
            if plan.needs_user:
                result.unresolved.append(f"{name} {plan.unexplained} ({why})")
            if report is not None:
                (report.unmanaged if facts.journal == 0 else report.size_mismatch).append(name)
        detail = "; ".join(what)
        message = (
            f"{facts.symbol} {facts.side.value}: journal {facts.journal},"
            f" Bybit {facts.bybit}: {detail}"
        )
        result.drift.append(message)
        said = (facts.journal, facts.bybit, detail)
        if self._said.get(key) == said:
            return  # the same drift as last time: said already
        changed = key in self._said
        self._said[key] = said
        if facts.journal == 0 and plan.unexplained > 0 and not plan.needs_user:
            self.events.event("info", f"Bybit {message}")  # the user's own position
            return
        self.events.event("error", f"DRIFT {message}")
        text = f"journal {facts.journal}, Bybit {facts.bybit}: {detail}"
        say = self.events.alerts.restate if changed else self.events.alerts.raise_
        say(Kind.DRIFT, subject, text, DRIFT_ACTION)

    def _label(self, trader: str) -> str:
        settings = self.settings.trader(trader)
        return (settings.label or trader) if settings else trader

    def _binance_symbol(self, trader: str, symbol: str, side: Side) -> str:
        symbols = self._symbols()
        existing = self.journal.mirrored_position(trader, symbol, side)
        if existing is not None:
            return existing.binance_symbol
        for binance_symbol, _ in self.journal.book(trader):
            mapping = symbols.resolve(binance_symbol) if symbols else None
            if isinstance(mapping, SymbolMapping) and mapping.market.symbol == symbol:
                return binance_symbol
        return symbol

    def _set_held(self, trader: str, symbol: str, side: Side, qty: Decimal) -> None:
        journal = self.journal
        now = datetime.now(UTC)
        current = journal.mirrored_position(trader, symbol, side) or MirroredPosition(
            trader=trader,
            symbol=symbol,
            side=side,
            binance_symbol=self._binance_symbol(trader, symbol, side),
            quantity=qty,
            entry_price=Decimal(0),
            opened_at=now,
            updated_at=now,
        )
        journal.set_mirrored(current.model_copy(update={"quantity": qty, "updated_at": now}))

    # ---- repairs ---------------------------------------------------------------------------

    async def _repair(self, trader: str, facts: KeyFacts, qty: Decimal, market: MarketInfo) -> int:
        """Reduce the bot's own excess: reduce-only, a deterministic id, journaled first."""
        journal = self.journal
        number = journal.repair_count(trader, facts.symbol, facts.side)
        intent = OrderIntent(
            trader=trader,
            signal_kind=SignalKind.REDUCE,
            binance_symbol=self._binance_symbol(trader, facts.symbol, facts.side),
            symbol=market.symbol,
            side=facts.side,
            order_side=facts.side.close_order_side,
            quantity=qty,
            reduce_only=True,
            leverage=1,
            reference_price=Decimal(0),
            client_order_id=repair_order_id(
                instance=self.tracker.instance,
                trader=trader,
                symbol=facts.symbol,
                side=facts.side,
                number=number,
            ),
        )
        row = journal.record_repair_intent(intent)
        label = f"{facts.symbol} {facts.side.value} for {self._label(trader)}"
        self.events.event(
            "warning",
            f"REPAIR {label}: the bot holds {facts.bybit} on Bybit, above the leader's book x"
            f" ratio ({facts.targets.get(trader)}): reducing {qty} (reduce-only)",
            notify=True,
        )
        self.tracker.started()
        unknown = False
        try:
            outcome = await self.broker.execute(intent)
            if outcome.outcome is ExecutionOutcome.FILLED and outcome.fill is not None:
                self.tracker.record_fill(row, outcome.fill, None, outcome)
                self.events.event("info", f"REPAIRED {label}: reduced {outcome.fill.quantity}")
                return 1
            if outcome.outcome is ExecutionOutcome.UNKNOWN:
                journal.mark_order_unknown(
                    row.client_order_id, outcome.outcome.value, outcome.error
                )
                unknown = True
            else:
                journal.mark_order_failed(
                    row.client_order_id,
                    outcome.outcome.value,
                    outcome.error,
                    signal_decision=SignalDecision.FAILED,
                )
            self.events.event(
                "error",
                f"REPAIR FAILED {label}: {outcome.outcome.value}: {outcome.error}",
                alert=(Kind.ORDER, f"repair {label}", "the next pass tries again; see the log"),
            )
            return 0
        finally:
            self.tracker.finished(unknown=unknown)

    async def _settle_repairs(self) -> None:
        """A repair whose fate a crash hid: Bybit's answer first, before any new decision."""
        journal = self.journal
        for row in journal.unfinished_orders(repairs=True):
            try:
                fill = await self.broker.lookup(row.client_order_id, row.symbol)
            except Exception as exc:
                log.warning("lookup of repair %s failed: %s", row.client_order_id, exc)
                continue
            if fill is not None and fill.quantity > 0:
                self.tracker.record_fill(row, fill, None)
                continue
            dead = fill is not None and fill.status in ("canceled", "rejected")
            if dead or (fill is None and datetime.now(UTC) - row.created_at > REPAIR_DEAD_AFTER):
                journal.mark_order_failed(
                    row.client_order_id,
                    fill.status if fill is not None else "not_placed",
                    "Bybit did not fill the repair",
                    signal_decision=SignalDecision.FAILED,
                )
