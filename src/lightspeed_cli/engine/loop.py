"""The loop that joins the pipeline: poll → diff → sizing → safety → execution, journaled.

It starts the parts and runs their tasks; the work is theirs: follow.py (poll -> snapshot ->
signals), mirror.py (signal -> decision -> order), tracker.py (the one in-flight record: fate,
settle, fills), events.py (the event sink), and beside them reconcile.py, leaders.py and the
protective stops, each handed the narrow things it needs. Traders are polled concurrently, each
in its own task; one trader's signals run strictly in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.diff import expand_flip
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.engine import upkeep
from lightspeed_cli.engine.events import EngineEvent, EngineView, Events
from lightspeed_cli.engine.follow import Follow, Source
from lightspeed_cli.engine.leaders import Leaders
from lightspeed_cli.engine.mirror import FatalTradingError, Mirror, OpenLocks, PausedBy
from lightspeed_cli.engine.pushed import Pushed, PushFeed
from lightspeed_cli.engine.reconcile import Reconciler, ReconcileReport
from lightspeed_cli.engine.tracker import FillWatch, OrderTracker
from lightspeed_cli.execution.base import Broker, stopped_action
from lightspeed_cli.execution.leverage_ahead import AheadOfTime
from lightspeed_cli.execution.prices import PriceCache
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.license.gate import LicenseGate
from lightspeed_cli.models import Snapshot, SymbolMapping
from lightspeed_cli.notify import blind
from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.sources.schedule import PollSchedule, source_rate

if TYPE_CHECKING:
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.notify.webhook import Notifier


log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FATAL = 3  # trading stopped: bad keys / permissions (a license problem only stops opens)


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        events: Events | None = None,
        open_locks: OpenLocks | None = None,
        paused_by: PausedBy | None = None,
        stops: FillWatch | None = None,
        push: PushFeed | None = None,
    ) -> None:
        """`events`, `open_locks`: the sink and the locks steering shares (runner.py builds
        them first); `paused_by`: who paused opens (steering's control door); `stops`: told
        after each fill; `push`: the wallets pushed rather than polled (engine/pushed.py)."""
        self.settings = settings
        self.broker = broker
        broker.on_acknowledged = journal.mark_acknowledged
        self.source = source
        self.license = license_client
        self.alerts = alerts or Alerts.from_settings(settings.notify, notifier)
        self.events = events or Events.for_settings(
            settings, journal=journal, alerts=self.alerts, notifier=notifier, clock=clock
        )
        self.view: EngineView = self.events.view
        self.fatal: str | None = None
        self.license_gate = LicenseGate(license_client, self._license_changed)
        self.prices = PriceCache(
            lambda: self.broker.last_prices(),
            refresh_seconds=settings.bybit.price_refresh_seconds,
            max_age_seconds=settings.bybit.price_max_age_seconds,
        )
        self.ahead = AheadOfTime(broker, settings)
        self.tracker = OrderTracker(
            broker=broker,
            journal=journal,
            events=self.events,
            alerts=self.alerts,
            recv_window_ms=settings.bybit.recv_window_ms,
            price_scale=self._price_scale,
            clock=clock,
        )
        self.tracker.watch = stops
        # copy-trade leaders' fills and status (None for a source that cannot read them)
        self.leaders = Leaders.for_source(
            source,
            journal,
            self._traders,
            alerts=self.alerts,
            price_scale=self._price_scale,
            report=lambda level, message: self.events.event(level, message),
        )
        self.reconciler = Reconciler(  # journal vs Bybit, on its own task (reconcile.py)
            settings,
            broker=broker,
            journal=journal,
            tracker=self.tracker,
            events=self.events,
            symbols=lambda: self.symbols,
        )
        self.mirror = Mirror(
            settings,
            broker=broker,
            journal=journal,
            tracker=self.tracker,
            events=self.events,
            prices=self.prices,
            license_gate=self.license_gate,
            leaders=self.leaders,
            opens_refusal=self.reconciler.opens_refusal,
            paused_by=paused_by,
            open_locks=open_locks,
            clock=clock,
        )
        self.follow = Follow(
            settings, source=source, journal=journal, events=self.events, leaders=self.leaders
        )
        self._journal = journal
        self._clock = clock
        self.push = push

    # ---- the parts' shared handles (a test may swap the journal or the clock) --------------

    @property
    def journal(self) -> Journal:
        return self._journal

    @journal.setter
    def journal(self, journal: Journal) -> None:
        self._journal = journal
        for part in (self.events, self.tracker, self.reconciler, self.mirror, self.follow):
            part.journal = journal

    @property
    def clock(self) -> Callable[[], datetime]:
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._clock = self.events.clock = self.tracker.clock = self.mirror.clock = clock

    @property
    def notifier(self) -> Notifier | None:
        return self.events.notifier

    @notifier.setter
    def notifier(self, notifier: Notifier | None) -> None:
        self.events.notifier = notifier

    @property
    def symbols(self) -> SymbolMap | None:
        return self.mirror.symbols

    @property
    def stops(self) -> FillWatch | None:
        return self.tracker.watch

    @property
    def signal_overhead_ms(self) -> deque[float]:
        return self.mirror.signal_overhead_ms

    @property
    def hot_path(self) -> deque[tuple[float, int]]:
        return self.mirror.hot_path

    @property
    def _traders(self) -> list[TraderSettings]:
        return [t for t in self.settings.traders if t.enabled]

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> ReconcileReport:
        await self.broker.start()
        self.mirror.symbols = SymbolMap.from_markets(self.broker.markets.values())
        return await self.reconcile()

    async def reconcile(self) -> ReconcileReport:
        """Settle what a crash left open, then compare the journal with Bybit (reconcile.py)."""
        return await self.reconciler.startup()

    async def run(self, stop: asyncio.Event) -> int:
        """Poll every trader until `stop` is set; returns the process exit code."""
        if self.notifier is not None:
            self.notifier.start()
        renewals: asyncio.Task[None] | None = None
        if self.license is not None:
            renewals = asyncio.create_task(self._license_tasks(stop), name="license")
        pushed = self._pushed(stop)
        pushed_ids = {t.id for t in pushed.traders} if pushed is not None else set()
        polled = [t for t in self._traders if t.id not in pushed_ids]
        schedule = PollSchedule(
            self.settings.polling, polled, source_rate(self.source, self.settings.polling)
        )
        schedule.pushed = len(pushed_ids)
        polls = asyncio.create_task(  # every trader pushed: the polls wait for the stop
            schedule.run(lambda t: self._poll_guarded(t, stop), stop) if polled else stop.wait(),
            name="polls",
        )
        pushes = (
            asyncio.create_task(pushed.run(stop), name="pushes") if pushed is not None else None
        )
        checkpoints = asyncio.create_task(
            upkeep.checkpoints(self.journal, stop), name="journal-checkpoint"
        )
        reconciling = asyncio.create_task(self.reconciler.run(stop), name="reconcile")
        prices = asyncio.create_task(self.prices.run(stop), name="bybit-prices")
        assert self.symbols is not None, "engine.start() must run first"
        upkeep.prepare_known_symbols(self.ahead, self.symbols, self.journal, self._traders)
        published = asyncio.create_task(
            upkeep.publish_schedule(
                schedule,
                getattr(self.source, "exit_states", list),
                view=self.view,
                journal=self.journal,
                clock=lambda: self.clock(),
                stop=stop,
            ),
            name="schedule",
        )
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
            if pushes is not None:
                await asyncio.gather(pushes, return_exceptions=True)
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

    def _pushed(self, stop: asyncio.Event) -> Pushed | None:
        """The door for the pushed wallets, handed the read record and the guarded take."""
        if self.push is None:
            return None

        async def take(trader: TraderSettings, snapshot: Snapshot) -> None:
            await self._poll_guarded(trader, stop, lambda t: self.take_snapshot(t, snapshot))

        return Pushed(
            self.push,
            self._traders,
            seen=self.follow.seen,
            take=take,
            journal=lambda: self.journal,
            price_scale=self._price_scale,
            clock=lambda: self.clock(),
        )

    async def _poll_guarded(
        self,
        trader: TraderSettings,
        stop: asyncio.Event,
        work: Callable[[TraderSettings], Awaitable[None]] | None = None,
    ) -> None:
        """One scheduled poll (or pushed snapshot: `work`); whatever goes wrong is said, and
        stops only what it must."""
        try:
            await (work or self.poll_trader)(trader)
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
            self.events.error(
                f"trading stopped: {exc}",
                (Kind.STOPPED, "trading", stopped_action(str(exc))),
            )
        except Exception as exc:  # a bug for one trader must not stop the others
            log.exception("trader %s: unexpected error", trader.id)
            self.events.error(
                f"{trader.id}: unexpected error: {exc!r}",
                (Kind.ERROR, trader.id, "see the log; the trader is polled again"),
            )

    # ---- one poll --------------------------------------------------------------------------

    async def poll_trader(self, trader: TraderSettings) -> None:
        snapshot = await self.follow.read(trader)
        if snapshot is None:
            return
        await self.take_snapshot(trader, snapshot)

    async def take_snapshot(self, trader: TraderSettings, snapshot: Snapshot) -> None:
        """A good read (polled or pushed): its signals mirrored, then leverage prepared."""
        await self.handle_snapshot(trader, snapshot)
        self._prepare_for(trader, snapshot)

    async def handle_snapshot(self, trader: TraderSettings, snapshot: Snapshot) -> None:
        received = time.perf_counter()
        self.mirror.saw_marks(snapshot)
        changes = await self.follow.changes(trader, snapshot, received)
        if changes is None:
            return
        signals, received, snapshot = changes
        for signal in signals:
            for leg in expand_flip(signal):
                await self.mirror.handle(trader, leg, received)
        if signals and self.leaders is not None:
            self.leaders.changed(trader.id, snapshot)

    def _prepare_for(self, trader: TraderSettings, snapshot: Snapshot) -> None:
        """After the signals (never before an order): leverage for what the trader holds."""
        if self.symbols is not None and snapshot.positions:
            held = {m.symbol for m in self.journal.mirrored_positions()}
            self.ahead.positions_seen(self.symbols, trader, snapshot.positions, held)

    def _license_changed(self, level: str, message: str) -> None:
        """The license gate's announcement: closing-only is an error event and a webhook
        alert (alerts.py); valid again clears it."""
        if level == "error":
            action = "run `lightspeed license status`, then `license activate` or renew the key"
            self.events.event(level, message, alert=(Kind.LICENSE, "license", action))
        else:
            self.alerts.clear(Kind.LICENSE, "license", "license valid again")
            self.events.event(level, message)

    def _price_scale(self, binance_symbol: str) -> Decimal:
        mapping = self.symbols.resolve(binance_symbol) if self.symbols else None
        return mapping.price_scale if isinstance(mapping, SymbolMapping) else Decimal(1)
