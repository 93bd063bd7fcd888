"""The loop that joins the pipeline: poll → diff → sizing → safety → execution, journaled.

The decisions are pure functions elsewhere; this module only gathers their inputs (I/O), calls
them, and records what happened in the journal before and after each order. Traders are polled
concurrently, each in its own task; one trader's signals run strictly in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from lightspeed_cli.config.settings import Settings, SizingMode, TraderSettings
from lightspeed_cli.decisions import fate, massclose
from lightspeed_cli.decisions.diff import diff, expand_flip
from lightspeed_cli.decisions.order_ids import client_order_id
from lightspeed_cli.decisions.sizing import floor_to_step, leaving_closable
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.engine.leaders import Leaders
from lightspeed_cli.engine.reconcile import Reconciler
from lightspeed_cli.execution.base import Broker, ExecutionOutcome, ExecutionResult
from lightspeed_cli.execution.leverage_ahead import AheadOfTime
from lightspeed_cli.execution.prices import PriceCache, RoundTrips
from lightspeed_cli.journal.store import Journal, utc_day
from lightspeed_cli.license.gate import LicenseGate
from lightspeed_cli.models import (
    Decision,
    FetchResult,
    FetchStatus,
    Fill,
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
from lightspeed_cli.notify import blind
from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.sources.schedule import (
    SCHEDULE_META_KEY,
    PollSchedule,
    ScheduleState,
    source_rate,
)
from lightspeed_cli.steering.control import paused_refusal

if TYPE_CHECKING:
    from lightspeed_cli.engine.stops import ProtectiveStops
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.notify.webhook import Notifier
    from lightspeed_cli.steering.control import Control

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FATAL = 3  # trading stopped: bad keys / permissions (a license problem only stops opens)
EQUITY_CACHE_SECONDS = 5.0
POLL_STATE_WRITE_SECONDS = 5.0  # an unchanged poll status is journaled at most this often
CHECKPOINT_SECONDS = 30.0
# a close or reduce Bybit rejects goes again after this pause, doubling up to the cap: never
# abandoned (the trader has left), never a retry storm
REJECTED_RETRY_SECONDS = (5.0, 300.0)
_UNSETTLED = (OrderStatus.INTENT, OrderStatus.UNKNOWN)
_READS_EQUITY = (SizingMode.EQUITY_PCT, SizingMode.LEADER_EQUITY)  # modes sized by the balance


class Source(Protocol):
    async def fetch(self, trader: TraderSettings, *, other_exit: bool = False) -> FetchResult: ...

    async def aclose(self) -> None: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class EngineEvent:
    at: datetime
    level: str
    message: str


@dataclass
class TraderView:
    trader: str
    label: str
    last_poll_at: datetime | None = None
    last_status: str = "-"
    last_reason: str = ""
    last_ok_at: datetime | None = None  # the last good read: past notify.blind_after_seconds
    # without one, the trader is blind (blind.py)

    @property
    def name(self) -> str:
        return self.trader if self.label in ("", self.trader) else f"{self.label} ({self.trader})"


@dataclass
class EngineView:
    """What the live view and the status line show; updated in place by the engine."""

    traders: dict[str, TraderView] = field(default_factory=dict)
    events: list[EngineEvent] = field(default_factory=list)
    orders_sent: int = 0
    refusals: int = 0
    polls: int = 0
    schedule: ScheduleState | None = None

    def add_event(self, event: EngineEvent, keep: int = 50) -> None:
        self.events.append(event)
        del self.events[:-keep]


@dataclass
class ReconcileReport:
    resolved_filled: int = 0
    resolved_not_placed: int = 0
    still_unknown: int = 0
    closed_outside: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    size_mismatch: list[str] = field(default_factory=list)


class FatalTradingError(Exception):
    """Trading cannot continue (invalid keys, permission): stop and tell the user."""


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker,
        source: Source,
        journal: Journal,
        license_client: LicenseClient | None = None,
        notifier: Notifier | None = None,
        alerts: Alerts | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.broker = broker
        broker.on_acknowledged = journal.mark_acknowledged
        self.source = source
        self.journal = journal
        self.license = license_client
        self.notifier = notifier
        self.alerts = alerts or Alerts.from_settings(settings.notify, notifier)
        self.clock = clock
        self.view = EngineView(
            traders={t.id: TraderView(t.id, t.label or t.id) for t in self._traders}
        )
        self.symbols: SymbolMap | None = None
        self.control: Control | None = None  # pause / close-all (control.py); None = never paused
        self.stops: ProtectiveStops | None = None  # stop-losses held by Bybit (stops.py)
        self.fatal: str | None = None
        self._equity: tuple[Decimal, float] | None = None
        self._instance = journal.instance_id
        self._marks: dict[str, Decimal] = {}  # latest Binance mark seen per symbol, any trader
        self._poll_written: dict[str, float] = {}  # trader -> monotonic time of last poll write
        self.license_gate = LicenseGate(license_client, self._license_changed)
        self._open_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # opens/increases sent and not yet recorded (or of unknown fate), by client order id:
        # the caps count them, or two traders opening different symbols at once could each
        # pass a cap only one fits
        self._in_flight: dict[str, MirroredPosition] = {}
        # (trader, Binance symbol, side) -> (monotonic time a rejected close may go again,
        # rejections in a row)
        self._retry_at: dict[tuple[str, str, Side], tuple[float, int]] = {}
        self._lost_said: set[str] = set()  # acknowledged orders Bybit lists nowhere, said once
        self._waiting_said: set[tuple[str, str, Side]] = set()  # opens waiting for a close
        # snapshot received -> broker.execute, per signal; the latest 10,000 (bounded: a bot
        # runs for months)
        self.signal_overhead_ms: deque[float] = deque(maxlen=10_000)
        # per order sent: (snapshot received -> broker.execute in ms, Bybit requests made in
        # between: price, balance, leverage, margin mode; target 0, prices.py and prepare.py)
        self.hot_path: deque[tuple[float, int]] = deque(maxlen=10_000)
        self.prices = PriceCache(
            lambda: self.broker.last_prices(),
            refresh_seconds=settings.bybit.price_refresh_seconds,
            max_age_seconds=settings.bybit.price_max_age_seconds,
        )
        self.ahead = AheadOfTime(broker, settings)
        self.reconciler = Reconciler(self)  # journal vs Bybit, on its own task (reconcile.py)
        # copy-trade leaders' fills and status (None for a source that cannot read them)
        self.leaders = Leaders.for_source(
            source,
            journal,
            self._traders,
            alerts=self.alerts,
            price_scale=self._price_scale,
            report=lambda level, message: self._event(level, message),
        )

    @property
    def _traders(self) -> list[TraderSettings]:
        return [t for t in self.settings.traders if t.enabled]

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> ReconcileReport:
        await self.broker.start()
        self.symbols = SymbolMap.from_markets(self.broker.markets.values())
        return await self.reconcile()

    async def run(self, stop: asyncio.Event) -> int:
        """Poll every trader until `stop` is set; returns the process exit code."""
        if self.notifier is not None:
            self.notifier.start()
        renewals: asyncio.Task[None] | None = None
        if self.license is not None:
            renewals = asyncio.create_task(self._license_tasks(stop), name="license")
        schedule = PollSchedule(
            self.settings.polling, self._traders, source_rate(self.source, self.settings.polling)
        )
        polls = asyncio.create_task(
            schedule.run(lambda t: self._poll_guarded(t, stop), stop), name="polls"
        )
        checkpoints = asyncio.create_task(self._checkpoints(stop), name="journal-checkpoint")
        reconciling = asyncio.create_task(self.reconciler.run(stop), name="reconcile")
        prices = asyncio.create_task(self.prices.run(stop), name="bybit-prices")
        self._prepare_known_symbols()
        published = asyncio.create_task(self._publish_schedule(schedule, stop), name="schedule")
        leaders = (
            asyncio.create_task(self.leaders.run(stop), name="leaders")
            if self.leaders is not None
            else None
        )
        blind_watch = asyncio.create_task(
            blind.watch(
                self.alerts,
                lambda: [(t.name, t.last_ok_at, t.last_reason) for t in self.view.traders.values()],
                self.clock,
                self.settings.notify.blind_after_seconds,
                stop,
            ),
            name="blind-watch",
        )
        try:
            await polls
        finally:
            stop.set()
            # a poll that died must not leave the others orphaned mid-order: let them finish
            await asyncio.gather(polls, return_exceptions=True)
            await asyncio.gather(
                checkpoints, published, prices, blind_watch, reconciling, return_exceptions=True
            )
            if leaders is not None:
                await asyncio.gather(leaders, return_exceptions=True)
            await self.ahead.aclose()
            if renewals is not None:
                renewals.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await renewals
            if self.notifier is not None:
                await self.notifier.aclose()
        return EXIT_FATAL if self.fatal else EXIT_OK

    async def _license_tasks(self, stop: asyncio.Event) -> None:
        """Heartbeat, and a watch that says at once when opening stops or resumes."""
        assert self.license is not None
        await asyncio.gather(self.license.run_renewals(stop), self.license_gate.watch(stop))

    async def _checkpoints(self, stop: asyncio.Event) -> None:
        """WAL checkpoints in a thread, so no trading commit ever pays for one."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=CHECKPOINT_SECONDS)
            try:
                await asyncio.to_thread(self.journal.checkpoint)
            except Exception as exc:  # a busy database just means next time
                log.debug("journal checkpoint skipped: %s", exc)

    def _prepare_known_symbols(self) -> None:
        """Margin mode, and leverage for what the journal's books hold, set in the background."""
        assert self.symbols is not None, "engine.start() must run first"
        self.ahead.margin_mode()
        try:
            held = {m.symbol for m in self.journal.mirrored_positions()}
            books = [(t, self.journal.book_snapshot(t.id)) for t in self._traders]
        except sqlite3.DatabaseError as exc:  # the polls find it and say what to do
            log.debug("journal unreadable, nothing prepared ahead: %s", exc)
            return
        for trader, book in books:
            if book is not None:
                self.ahead.positions_seen(self.symbols, trader, book.positions, held)

    async def _publish_schedule(
        self, schedule: PollSchedule[TraderSettings], stop: asyncio.Event
    ) -> None:
        """The poll interval and each exit's budget, for `status`: when they change, at most
        every few seconds."""
        exit_states = getattr(self.source, "exit_states", list)
        written = None
        while not stop.is_set():
            state = schedule.state(exit_states(), self.clock())
            self.view.schedule = state
            if state.model_dump(exclude={"at"}) != written:
                written = state.model_dump(exclude={"at"})
                try:
                    self.journal.set_meta(SCHEDULE_META_KEY, state.model_dump_json())
                except Exception as exc:  # status only; the journal's errors show elsewhere
                    log.debug("schedule state not journaled: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_STATE_WRITE_SECONDS)

    async def _poll_guarded(self, trader: TraderSettings, stop: asyncio.Event) -> None:
        """One scheduled poll; whatever goes wrong is said, and stops only what it must."""
        try:
            await self.poll_trader(trader)
            self.alerts.clear(Kind.ERROR, trader.id)
        except sqlite3.DatabaseError as exc:
            from lightspeed_cli.journal import integrity as journalcheck

            damaged = await journalcheck.handle_error(self.journal.path, exc, self.alerts)
            if damaged is not None:  # trading stops (exit 3), loudly
                self.fatal = str(damaged)
                self.view.add_event(EngineEvent(self.clock(), "error", damaged.what))
                stop.set()
        except FatalTradingError as exc:
            self.fatal = str(exc)
            stop.set()
            self._report_error(
                f"trading stopped: {exc}",
                (Kind.STOPPED, "trading", "fix the API key or its permissions, then restart"),
            )
        except Exception as exc:  # a bug for one trader must not stop the others
            log.exception("trader %s: unexpected error", trader.id)
            self._report_error(
                f"{trader.id}: unexpected error: {exc!r}",
                (Kind.ERROR, trader.id, "see the log; the trader is polled again"),
            )

    # ---- reconciliation --------------------------------------------------------------------

    async def reconcile(self) -> ReconcileReport:
        """Settle what a crash left open, then compare the journal with Bybit (reconcile.py)."""
        report = ReconcileReport()
        rows = self.journal.unfinished_orders()
        if rows:
            last = max(self._window_closes(r) for r in rows)
            wait = max(0.0, (last - self.clock()).total_seconds())
            log.info("%d order(s) of unknown fate: settling (up to %.1f s)", len(rows), wait)
        states = await fate.settle_within_windows(
            rows, self._settle_unfinished, self._window_closes, self.clock
        )
        for n, state in states.items():
            if state == "filled":
                report.resolved_filled += 1
            elif state == "not_placed":
                report.resolved_not_placed += 1
            else:
                report.still_unknown += 1
                if not rows[n].reduce_only:  # Bybit may hold it: the caps count it
                    self._in_flight[rows[n].client_order_id] = self._reserved(
                        rows[n], rows[n].reference_price, rows[n].created_at
                    )
        await self.reconciler.at_start(report)
        return report

    def _window_closes(self, row: OrderRow) -> datetime:
        return fate.window_closes_at(row.created_at, self.settings.bybit.recv_window_ms)

    async def _settle_unfinished(self, row: OrderRow) -> str:
        """Look an order of unknown fate up (both order lists) and record what Bybit says.

        "not_placed" only when it is provably dead (execution/fate.py): until its request
        window has closed, or ever once Bybit acknowledged it, "unknown" keeps the change
        waiting under the same id."""
        try:
            fill = await self.broker.lookup(row.client_order_id, row.symbol)
        except Exception as exc:
            log.warning("lookup of %s failed: %s", row.client_order_id, exc)
            return "unknown"
        acknowledged = row.outcome == fate.ACKNOWLEDGED
        closed = self.clock() >= self._window_closes(row)
        verdict = fate.fate_of(fill, acknowledged=acknowledged, window_closed=closed)
        order_key = f"{row.trader} {row.symbol} {row.side.value}"
        if verdict is fate.Fate.FILLED:
            assert fill is not None
            self._record_fill(row, fill, self.journal.signal_for_order(row.client_order_id))
            self.alerts.clear(Kind.ORDER, order_key, f"order {row.client_order_id}: filled")
            return "filled"
        if verdict is fate.Fate.DEAD:
            # nothing was executed and nothing will be: the change may go again, under a new id
            self._mark_not_placed(
                row,
                "not_placed" if fill is None else fill.status,
                "Bybit has no such order in either list after its request window: never placed"
                if fill is None
                else f"Bybit {fill.status} the order without filling any of it",
            )
            return "not_placed"
        if verdict is fate.Fate.LOST and row.client_order_id not in self._lost_said:
            self._lost_said.add(row.client_order_id)
            self._event(
                "error",
                f"{row.trader} {row.kind} {row.symbol} {row.side.value} {row.quantity}: Bybit"
                f" acknowledged order {row.client_order_id} but lists it in neither order list"
                " after its request window: fate unknown; this change waits until Bybit shows"
                " it",
                alert=(Kind.ORDER, order_key, _UNKNOWN_ACTION),
            )
        return "unknown"

    def _mark_not_placed(self, row: OrderRow, outcome: str, reason: str) -> None:
        self.journal.mark_order_failed(
            row.client_order_id, outcome, reason, signal_decision=SignalDecision.FAILED
        )
        self.journal.bump_attempt(row.trader, row.binance_symbol, row.side)

    # ---- one poll --------------------------------------------------------------------------

    async def poll_trader(self, trader: TraderSettings) -> None:
        result = await self.source.fetch(trader)
        self.view.polls += 1
        tv = self.view.traders.setdefault(trader.id, TraderView(trader.id, trader.label))
        previous_status = tv.last_status
        tv.last_poll_at, tv.last_status, tv.last_reason = (
            result.fetched_at,
            result.status.value,
            result.reason,
        )
        if result.status is FetchStatus.OK:
            tv.last_ok_at = result.fetched_at
        self._journal_poll(trader.id, result, changed=previous_status != result.status.value)
        if result.status is not FetchStatus.OK or result.snapshot is None:
            # DESIGN rule 1: no data is not "flat" — nothing is closed on an error or hidden book
            if previous_status != result.status.value:
                level = "warning" if result.status is FetchStatus.HIDDEN else "error"
                hidden = result.status is FetchStatus.HIDDEN
                self._event(
                    level, f"{trader.id}: {result.status.value}: {result.reason}", notify=hidden
                )
            return
        await self.handle_snapshot(trader, result.snapshot)
        self._prepare_for(trader, result.snapshot)

    def _journal_poll(self, trader: str, result: FetchResult, *, changed: bool) -> None:
        """A status change is written at once; an unchanged one every few seconds, so 200
        traders polled every second do not cost 200 fsyncs a second."""
        now = time.monotonic()
        if not changed and now - self._poll_written.get(trader, -1e9) < POLL_STATE_WRITE_SECONDS:
            return
        self._poll_written[trader] = now
        self.journal.record_poll(
            trader,
            result.status.value,
            result.reason,
            result.fetched_at,
            result.snapshot.source_time if result.snapshot else None,
        )
        self.alerts.clear(Kind.JOURNAL, "disk", "the journal can be written again")

    async def handle_snapshot(self, trader: TraderSettings, snapshot: Snapshot) -> None:
        received = time.perf_counter()
        for position in snapshot.positions:
            self._marks[position.symbol] = position.mark_price
        previous = self.journal.book_snapshot(trader.id)
        if self.leaders is not None:
            self.leaders.observe(trader.id, snapshot)
        copy = self.settings.copy_settings
        if previous is None and not copy.follow_existing:
            self.journal.set_baseline(snapshot)
            if snapshot.positions:
                self._event(
                    "info",
                    f"{trader.id}: following from now; {len(snapshot.positions)} position(s)"
                    " opened before we started are not copied",
                )
            return
        if massclose.needs_confirmation(previous, snapshot):
            assert previous is not None
            confirmed = await self._confirm_mass_close(trader, previous, snapshot)
            if confirmed is None:
                return
            snapshot, received = confirmed, time.perf_counter()
        signals = diff(
            previous,
            snapshot,
            follow_existing=copy.follow_existing,
            size_epsilon=copy.size_epsilon,
        )
        for signal in signals:
            for leg in expand_flip(signal):
                await self._handle_signal(trader, leg, received)
        if signals and self.leaders is not None:
            self.leaders.changed(trader.id, snapshot)

    def _prepare_for(self, trader: TraderSettings, snapshot: Snapshot) -> None:
        """After the signals (never before an order): leverage for what the trader holds."""
        if self.symbols is not None and snapshot.positions:
            held = {m.symbol for m in self.journal.mirrored_positions()}
            self.ahead.positions_seen(self.symbols, trader, snapshot.positions, held)

    async def _confirm_mass_close(
        self, trader: TraderSettings, previous: Snapshot, first: Snapshot
    ) -> Snapshot | None:
        """An answer closing several positions at once is read again before acting (one odd
        empty answer must not close everything); massclose.py decides what to act on."""
        closing = len(massclose.closed_keys(previous, first))
        if self.leaders is not None and await self.leaders.confirms_closes(
            trader.id, previous, first
        ):
            return first  # the leader's closing orders are in the order-history: no re-read
        second = await self.source.fetch(trader, other_exit=True)
        decided = massclose.confirmed(previous, first, second.snapshot)
        if decided is None:
            self._event(
                "warning",
                f"{trader.id}: one answer closed {closing} positions at once and the second"
                f" read failed ({second.reason}): nothing closed, read again next poll",
            )
        elif not massclose.closed_keys(previous, decided):
            self._event(
                "warning",
                f"{trader.id}: one answer closed {closing} positions at once, the second read"
                " did not: ignored as a glitch, nothing sent",
            )
        return decided

    # ---- one signal ------------------------------------------------------------------------

    async def _handle_signal(self, trader: TraderSettings, signal: Signal, received: float) -> None:
        """Opens and increases on one Bybit symbol go one at a time, from reading the mirrored
        book to recording the fill: two traders' opens deciding at once would both pass the
        one-way check (and the symbol's cap) that only one may pass, and net on Bybit.
        Reduces and closes never wait."""
        assert self.symbols is not None, "engine.start() must run first"
        if signal.kind.is_risk_reducing:
            await self._handle_signal_now(trader, signal, received)
            return
        mapping = self.symbols.resolve(signal.symbol)
        key = mapping.market.symbol if isinstance(mapping, SymbolMapping) else signal.symbol
        async with self._open_locks[key]:
            await self._handle_signal_now(trader, signal, received)

    async def _handle_signal_now(
        self, trader: TraderSettings, signal: Signal, received: float
    ) -> None:
        assert self.symbols is not None, "engine.start() must run first"
        trips = RoundTrips()
        retry = self._retry_at.get((trader.id, signal.symbol, signal.side))
        if retry is not None and time.monotonic() < retry[0]:
            return  # a rejected close, pausing before it goes again (said when it was rejected)
        mapping = self.symbols.resolve(signal.symbol)
        bybit_symbol = mapping.market.symbol if isinstance(mapping, SymbolMapping) else ""
        cid = self._client_order_id(trader.id, signal)
        existing = self.journal.order(cid)
        if existing is not None:
            # replay after a crash or a failed lookup: settle the old order before anything else
            if existing.status in _UNSETTLED:
                state = await self._settle_unfinished(existing)
                if state != "unknown":
                    self._in_flight.pop(existing.client_order_id, None)  # the journal knows
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
            cid = self._client_order_id(trader.id, signal)
            if cid == existing.client_order_id:
                self.journal.bump_attempt(trader.id, signal.symbol, signal.side)
                cid = self._client_order_id(trader.id, signal)
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
        conflict = (
            paused_refusal(self.control, signal)
            or self._one_way_conflict(signal, bybit_symbol, mirrored)
            or self.reconciler.opens_refusal(signal)
            or (self.leaders.refusal(trader.id, signal) if self.leaders is not None else None)
        )
        if conflict is not None:
            decision = Decision(signal=signal, refusal=conflict)
        else:
            decision, bybit_last = await self._decide(trader, signal, mapping, held, cid, trips)
            if decision.intent is not None and signal.kind is SignalKind.CLOSE:
                decision = self._with_close_reference(decision, mapping, bybit_last)
        if decision.refusal is not None:
            self.journal.record_refusal(decision, advance=True)
            self.view.refusals += 1
            self._event(
                "warning",
                f"REFUSED {trader.id} {signal.kind.value} {signal.symbol} {signal.side.value}:"
                f" {decision.refusal.check}: {decision.refusal.reason}",
                notify=True,
            )
            return
        assert decision.intent is not None
        intent = self._within_market_max(decision.intent)
        self.journal.record_intent(intent, signal, leader_change_at=signal.source_time)
        row = self.journal.order(intent.client_order_id)
        assert row is not None
        overhead_ms = (time.perf_counter() - received) * 1000
        self.signal_overhead_ms.append(overhead_ms)
        if not signal.kind.is_risk_reducing:  # no await since the caps were checked: atomic
            self._in_flight[intent.client_order_id] = self._reserved(intent, bybit_last)
        self.reconciler.order_started()
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
                self._in_flight.pop(intent.client_order_id, None)
                unknown = False
            self.reconciler.order_finished(unknown=unknown)

    def _pause_after_rejection(self, row: OrderRow, signal: Signal) -> float:
        key = (row.trader, signal.symbol, signal.side)
        rejections = self._retry_at.get(key, (0.0, 0))[1] + 1
        first, cap = REJECTED_RETRY_SECONDS
        pause = min(first * 2 ** (rejections - 1), cap)
        self._retry_at[key] = (time.monotonic() + pause, rejections)
        return pause

    def _reserved(
        self, order: OrderIntent | OrderRow, price: Decimal, at: datetime | None = None
    ) -> MirroredPosition:
        """An open in flight (or of unknown fate), as the caps see it: its quantity at the
        price it was sized at."""
        now = at or self.clock()
        return MirroredPosition(
            trader=order.trader,
            symbol=order.symbol,
            side=order.side,
            binance_symbol=order.binance_symbol,
            quantity=order.quantity,
            entry_price=price,
            opened_at=now,
            updated_at=now,
        )

    def _within_market_max(self, intent: OrderIntent) -> OrderIntent:
        """Bybit caps one market order at maxMktOrderQty. A close above it goes out in chunks,
        one per poll, until nothing is left (the journal keeps the change open meanwhile); a
        reduce is trimmed to the cap. Opens were already clamped by sizing."""
        market = self.broker.markets.get(intent.symbol)
        if market is None or market.max_qty is None or intent.quantity <= market.max_qty:
            return intent
        capped = floor_to_step(market.max_qty, market.qty_step)
        is_close = intent.signal_kind is SignalKind.CLOSE
        if is_close:  # the last chunk must be one Bybit takes
            capped = leaving_closable(capped, intent.quantity, market)
        what = "closing in chunks" if is_close else "reduce trimmed"
        self._event(
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
        reference = self._marks.get(decision.signal.symbol)
        if reference is None and bybit_last > 0:
            reference = bybit_last / mapping.price_scale
        if reference is None:
            return decision
        intent = decision.intent.model_copy(update={"reference_price": reference})
        return decision.model_copy(update={"intent": intent})

    def _price_scale(self, binance_symbol: str) -> Decimal:
        mapping = self.symbols.resolve(binance_symbol) if self.symbols else None
        return mapping.price_scale if isinstance(mapping, SymbolMapping) else Decimal(1)

    def _client_order_id(self, trader: str, signal: Signal, attempt: int | None = None) -> str:
        """The id for this change's current attempt (or an earlier `attempt`), from the
        journal's book of the key."""
        entry = self.journal.book_entry(trader, signal.symbol, signal.side)
        current = entry.attempt if entry else 0
        return client_order_id(
            instance=self._instance,
            trader=trader,
            symbol=signal.symbol,
            side=signal.side,
            version=entry.version if entry else 0,
            attempt=current if attempt is None else attempt,
        )

    def _reduced_so_far(self, trader: str, signal: Signal) -> Decimal:
        """What earlier tries of this same change sold, when it is a reduce that Bybit filled
        in part (an IOC market order out of liquidity): the rest goes out against the same
        target. Journal reads only, and only for a retried reduce."""
        if signal.kind is not SignalKind.REDUCE:
            return Decimal(0)
        entry = self.journal.book_entry(trader, signal.symbol, signal.side)
        if entry is None or entry.attempt == 0:
            return Decimal(0)
        sold = Decimal(0)
        for attempt in range(entry.attempt):
            row = self.journal.order(self._client_order_id(trader, signal, attempt))
            if row is not None and row.kind == "reduce" and row.status is OrderStatus.FILLED:
                sold += row.fill_qty or Decimal(0)
        return sold

    def _waits_for_close(
        self, trader: str, signal: Signal, bybit_symbol: str, mirrored: list[MirroredPosition]
    ) -> bool:
        """An open that meets the other side only because that side's close is still in
        flight (sent, or of unknown fate) is a flip half done: refusing it would drop the
        open for good (a refused open is never chased), so it waits for the close to settle."""
        key = (trader, signal.symbol, signal.side)
        holders = self._opposite_holders(signal, bybit_symbol, mirrored)
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
            self._event(
                "info",
                f"{trader} {signal.kind.value} {signal.symbol} {signal.side.value} waits for"
                f" the close of {bybit_symbol} {other.value} ({', '.join(holders)}) still in"
                " flight",
            )
        return True

    def _opposite_holders(
        self, signal: Signal, bybit_symbol: str, mirrored: list[MirroredPosition]
    ) -> list[str]:
        """Who holds the other side of this open's symbol, where one-way netting matters."""
        if self.broker.hedge_mode or signal.kind.is_risk_reducing or not bybit_symbol:
            return []
        other = signal.side.opposite
        return sorted(m.trader for m in mirrored if m.symbol == bybit_symbol and m.side is other)

    def _one_way_conflict(
        self, signal: Signal, bybit_symbol: str, mirrored: list[MirroredPosition]
    ) -> Refusal | None:
        """A one-way account holds one side per symbol: opening the other side for a second
        trader would silently net against the first trader's mirrored position."""
        holders = self._opposite_holders(signal, bybit_symbol, mirrored)
        if not holders:
            return None
        other = signal.side.opposite
        return Refusal(
            check="one_way_conflict",
            reason=f"the one-way Bybit account holds {bybit_symbol} {other.value} for"
            f" {', '.join(holders)}; a {signal.side.value} would net against it"
            " (use a hedge-mode account to follow both)",
            value=signal.side.value,
            limit=other.value,
        )

    async def _decide(
        self,
        trader: TraderSettings,
        signal: Signal,
        mapping: SymbolMapping | Refusal,
        held: MirroredPosition | None,
        cid: str,
        trips: RoundTrips,
    ) -> tuple[Decision, Decimal]:
        """The pure decision, fed with what it needs from Bybit and the journal.

        The book the caps see is read after the Bybit round trips (another trader's fill may
        have landed meanwhile) and includes the opens still in flight."""
        from lightspeed_cli.decisions.decide import DecisionContext, decide

        now = self.clock()
        mapped = mapping if isinstance(mapping, SymbolMapping) else None
        sizing = trader.effective_sizing(self.settings.sizing)
        if sizing.mode in _READS_EQUITY:
            bybit_last, equity = await asyncio.gather(
                self._bybit_price(signal, mapped, trips), self._equity_usdt(trips)
            )
        else:
            bybit_last, equity = await self._bybit_price(signal, mapped, trips), Decimal(0)
        mirrored = [*self.journal.mirrored_positions(), *self._in_flight.values()]
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
            leader_balance_usdt=self.leaders.balance(trader.id) if self.leaders else None,
            held_qty=held.quantity if held is not None else Decimal(0),
            reduced_qty=self._reduced_so_far(trader.id, signal),
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

    def _license_changed(self, level: str, message: str) -> None:
        """The license gate's announcement: closing-only is an error event and a webhook
        alert (alerts.py); valid again clears it."""
        if level == "error":
            action = "run `lightspeed license status`, then `license activate` or renew the key"
            self._event(level, message, alert=(Kind.LICENSE, "license", action))
        else:
            self.alerts.clear(Kind.LICENSE, "license", "license valid again")
            self._event(level, message)

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

    async def _apply_result(self, row: OrderRow, signal: Signal, result: ExecutionResult) -> None:
        outcome = result.outcome
        label = f"{row.trader} {signal.kind.value} {row.symbol} {row.side.value} {row.quantity}"
        order_key = f"{row.trader} {row.symbol} {row.side.value}"
        if outcome not in (ExecutionOutcome.REJECTED, ExecutionOutcome.INSUFFICIENT_FUNDS):
            self._retry_at.pop((row.trader, signal.symbol, signal.side), None)
        if outcome in (ExecutionOutcome.FILLED, ExecutionOutcome.ALREADY_FLAT):
            self.alerts.clear(Kind.ORDER, order_key, f"{label}: done")
        if outcome is ExecutionOutcome.FILLED and result.fill is not None:
            self._record_fill(row, result.fill, signal, result)
            price, filled = result.fill.price, result.fill.quantity
            part = ""
            if filled < row.quantity:  # an IOC market order out of liquidity
                rest = "goes next" if signal.kind.is_risk_reducing else "is not chased"
                part = f" (filled {filled} of {row.quantity}: the rest {rest})"
            self._event("info", f"EXECUTED {label} @ {price}{part}", notify=True)
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
            self._event("warning", f"{label}: already flat on Bybit")
            return
        if outcome is ExecutionOutcome.FATAL:
            self.journal.mark_order_failed(
                row.client_order_id,
                outcome.value,
                result.error,
                signal_decision=SignalDecision.FAILED,
            )
            self._event("error", f"FAILED {label}: {result.error}")
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
            self._event(
                "error",
                f"FAILED {label}: {outcome.value}: {result.error}{retry}",
                alert=(Kind.ORDER, order_key, _order_action(signal, outcome)),
            )
            return
        # rate limited, unavailable, unknown: Bybit may or may not have the order
        if result.not_placed:  # refused outright each time: nothing can execute
            self._mark_not_placed(row, outcome.value, result.error)
            state = "not_placed"
        else:
            acked = fate.ACKNOWLEDGED if result.acknowledged else outcome.value
            self.journal.mark_order_unknown(row.client_order_id, acked, result.error)
            state = await self._settle_unfinished(row.model_copy(update={"outcome": acked}))
        if state == "not_placed" and not signal.kind.is_risk_reducing:
            # don't chase an open later at a worse price; a close is retried next poll
            self.journal.advance_book(signal)
        if state == "unknown":
            self._event(
                "error",
                f"UNKNOWN {label}: {outcome.value}: {result.error}: Bybit may hold it; the"
                " change waits (no resend) until Bybit shows it or its request window closes",
                alert=(Kind.ORDER, order_key, _UNKNOWN_ACTION),
            )
        elif state != "filled":
            self._event(
                "error",
                f"FAILED {label}: {outcome.value}: {result.error}"
                + (" (will retry)" if signal.kind.is_risk_reducing else ""),
                alert=(Kind.ORDER, order_key, _order_action(signal, outcome)),
            )

    def _record_fill(
        self,
        row: OrderRow,
        fill: Fill,
        signal: Signal | None,
        result: ExecutionResult | None = None,
    ) -> None:
        from lightspeed_cli.decisions import fidelity

        sent_at = (result.sent_at if result else None) or fill.sent_at or row.created_at
        slippage = None
        leader_price = (
            fidelity.leader_reference_price(signal)
            if signal is not None and signal.kind is not SignalKind.CLOSE
            else None
        ) or row.reference_price
        price_scale = self._price_scale(row.binance_symbol)
        if fill.price is not None and leader_price > 0:
            slippage = fidelity.slippage_bps(
                row.order_side,  # type: ignore[arg-type]
                leader_price,
                fill.price,
                price_scale,
            )
        latency = (
            fidelity.detection_latency_ms(sent_at, row.snapshot_at, row.leader_change_at)
            if row.snapshot_at
            else None
        )
        acked_at = fill.acked_at or (result.acked_at if result else None)
        fill = fill.model_copy(update={"sent_at": sent_at, "acked_at": acked_at})
        self.journal.record_fill(
            row, fill, signal=signal, slippage_bps=slippage, detection_latency_ms=latency
        )
        if self.stops is not None:  # after the fill, off the hot path
            self.stops.position_changed(row.symbol, row.side)

    # ---- events ----------------------------------------------------------------------------

    def report(self, level: str, message: str) -> None:
        """An event from beside the engine (control, stops): journaled, logged and notified."""
        self._event(level, message, notify=True)

    def open_lock(self, bybit_symbol: str) -> asyncio.Lock:
        """The lock opens on this Bybit symbol hold from deciding to recording the fill."""
        return self._open_locks[bybit_symbol]

    def _report_error(self, message: str, alert: tuple[Kind, str, str] | None = None) -> None:
        """An error event that cannot itself raise out of a polling loop (a full disk, say)."""
        try:
            self._event("error", message, alert=alert)
        except Exception:
            log.exception("could not record: %s", message)

    def _event(
        self,
        level: str,
        message: str,
        *,
        notify: bool = False,
        alert: tuple[Kind, str, str] | None = None,
    ) -> None:
        """Show, log and journal an event. `notify`: a plain webhook message (a trade);
        `alert`: (kind, subject, what to do), rate-limited by alerts.py. The webhook goes
        first: a journal that cannot be written must not swallow the alert."""
        at = self.clock()
        self.view.add_event(EngineEvent(at, level, message))
        getattr(log, level if level != "info" else "info")(message)
        if alert is not None:
            kind, subject, action = alert
            self.alerts.raise_(kind, subject, message, action)
        elif notify and self.notifier is not None:
            self.notifier.notify(message)
        self.journal.record_event(level, message, at)


_UNKNOWN_ACTION = (
    "nothing to do while it waits; if it lasts, look the order up in Bybit's order history"
    " and close by hand what the leader no longer holds"
)


def _order_action(signal: Signal, outcome: ExecutionOutcome) -> str:
    if outcome is ExecutionOutcome.INSUFFICIENT_FUNDS and not signal.kind.is_risk_reducing:
        return "add margin to the Bybit account; this open is not retried"
    if signal.kind.is_risk_reducing:
        return "the bot retries; if it keeps failing, close the position on Bybit by hand"
    return "check the reason; this open is not retried"
