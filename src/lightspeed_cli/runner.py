"""Builds the engine's parts from settings and secrets and runs it until a signal says stop.

`lightspeed run` and `lightspeed simulate` both come through here, so the simulated bot is the
real one with different URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lightspeed_cli.config.datadir import (
    EXIT_DATA_DIR,
    DataDirError,
    data_dir_errors,
    ensure_writable,
    prepare_data_dir,
)
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.journal import integrity as journalcheck
from lightspeed_cli.journal.store import Journal

if TYPE_CHECKING:
    from lightspeed_cli.engine.follow import Source
    from lightspeed_cli.engine.loop import Engine
    from lightspeed_cli.engine.pushed import PushFeed
    from lightspeed_cli.execution.base import Broker
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.notify.alerts import Alerts
    from lightspeed_cli.notify.webhook import Notifier
    from lightspeed_cli.sources.binance import BinanceSource
    from lightspeed_cli.steering.wiring import Steering

log = logging.getLogger(__name__)
T = TypeVar("T")

PAPER_JOURNAL = "paper-journal.sqlite3"
LIVE_JOURNAL = "journal.sqlite3"


class StartupError(Exception):
    """The bot cannot start; the message tells the user what to do.

    `exit_code`: 2 a config problem (no trader, an unusable data dir), 3 trading stopped for a
    reason a restart will not fix (a damaged journal), 1 anything else.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RunOptions:
    paper: bool = False
    paper_equity_usdt: Decimal = Decimal(10_000)
    live_view: bool | None = None  # None = when stdout is a terminal
    require_license: bool = True
    duration_seconds: float | None = None  # stop by itself after this long (simulate, tests)
    bybit_keys: tuple[str, str] | None = None  # explicit (key, secret): simulate's fake account
    use_binance_session: bool = True  # False: never read the Binance session (simulate)
    on_engine: Callable[[Engine], None] | None = None  # sees the engine built (simulate's figures)
    dashboard: bool = False  # `run --dashboard`: serve it beside the bot (or dashboard.enabled)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it exists (measured ~15 % more polls per CPU second), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def freeze_startup_heap() -> None:
    """What is alive once the engine has started (ccxt and its markets, settings, the symbol
    map) lives as long as the process: take it out of the cyclic collector's sight, so a full
    collection no longer walks it inside a signal (BENCHMARKS.md: p99 about 1 ms lower)."""
    gc.collect()
    gc.freeze()


async def _open_journal(settings: Settings, options: RunOptions) -> Journal:
    """The journal, checked (PRAGMA quick_check) before anything trades on it: a damaged one
    stops the start with exit code 3, a clear message and a webhook alert."""
    try:
        journal = journalcheck.open_checked(
            journal_path(settings, options.paper), autocheckpoint=False
        )
        try:
            journal.checkpoint(truncate=True)  # what a burst left in the WAL goes to the disk
        except BaseException:
            journal.close()
            raise
        return journal
    except journalcheck.JournalDamaged as damaged:
        await _say_damaged(settings, damaged)
        raise StartupError(str(damaged), 3) from None


async def _say_damaged(settings: Settings, damaged: journalcheck.JournalDamaged) -> None:
    from lightspeed_cli.notify.alerts import Kind, say_now

    await say_now(
        settings.notify, Kind.JOURNAL, "journal", damaged.what, journalcheck.RECOVER_ACTION
    )


async def _say_stopped(settings: Settings, why: str) -> None:
    from lightspeed_cli.execution.base import stopped_action
    from lightspeed_cli.notify.alerts import Kind, say_now

    await say_now(settings.notify, Kind.STOPPED, "bybit", why, stopped_action(why))


def journal_path(settings: Settings, paper: bool) -> Path:
    return settings.storage.resolved_data_dir() / (PAPER_JOURNAL if paper else LIVE_JOURNAL)


def build_broker(settings: Settings, options: RunOptions) -> Broker:
    data_dir = settings.storage.resolved_data_dir()
    if options.paper:
        from lightspeed_cli.execution.paper import PaperBroker

        return PaperBroker(
            settings.bybit,
            starting_equity_usdt=options.paper_equity_usdt,
            state_path=data_dir / "paper-state.json",
        )
    from lightspeed_cli.execution.bybit import BybitBroker

    if options.bybit_keys is not None:
        key, secret = options.bybit_keys
        return BybitBroker(settings.bybit, api_key=key, api_secret=secret)
    return BybitBroker.from_settings(settings.bybit)


def build_source(settings: Settings, options: RunOptions) -> tuple[Source, PushFeed | None]:
    """The source each enabled trader is read by, and the push feed of the Hyperliquid
    wallets (the first `hyperliquid.max_pushed_wallets`; the rest are polled)."""
    from lightspeed_cli.models import SourceKind

    kinds = {t.source for t in settings.traders if t.enabled}
    if SourceKind.HYPERLIQUID not in kinds:
        return _binance_source(settings, options), None
    from lightspeed_cli.sources.by_kind import SourcesByKind
    from lightspeed_cli.sources.hyperliquid import HyperliquidSource
    from lightspeed_cli.sources.hyperliquid_push import HyperliquidPush

    hyperliquid = HyperliquidSource(settings.hyperliquid, settings.polling)
    sources: dict[SourceKind, Any] = {SourceKind.HYPERLIQUID: hyperliquid}
    binance = None
    if kinds - {SourceKind.HYPERLIQUID}:
        binance = _binance_source(settings, options)
        sources.update({kind: binance for kind in kinds - {SourceKind.HYPERLIQUID}})
    wallets = [t.id for t in settings.traders if t.enabled and t.source is SourceKind.HYPERLIQUID]
    hl = settings.hyperliquid
    push = HyperliquidPush(
        hyperliquid,
        hl.ws_url,
        wallets,
        max_wallets=hl.max_pushed_wallets,
        ping_seconds=hl.ping_seconds,
        pong_seconds=hl.pong_seconds,
    )
    return SourcesByKind(sources, primary=binance), push if push.pushed else None


def _binance_source(settings: Settings, options: RunOptions) -> BinanceSource:
    from lightspeed_cli.config.logsetup import register_secret
    from lightspeed_cli.config.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource

    session = get_secret(SecretName.BINANCE_SESSION) if options.use_binance_session else None
    if session is not None:
        register_secret(session.value)
    return BinanceSource(
        settings.binance, settings.polling, session=session.value if session else None
    )


def license_label(options: RunOptions) -> str:
    if options.paper:
        return "paper (no license needed)"
    return "not checked (simulation)" if not options.require_license else "valid"


def assemble(
    settings: Settings,
    *,
    broker: Broker,
    source: Source,
    journal: Journal,
    journal_path: Path,
    license_client: LicenseClient | None = None,
    notifier: Notifier | None = None,
    alerts: Alerts | None = None,
    push: PushFeed | None = None,
) -> tuple[Engine, Steering]:
    """The engine and what steers it, built in order: the event sink and the open locks first,
    then steering (the control door, the protective stops) on them, then the engine, handed
    the pause question and the stops. Telegram is added later (`Steering.add_telegram`)."""
    from lightspeed_cli.engine.events import Events
    from lightspeed_cli.engine.loop import Engine, utcnow
    from lightspeed_cli.engine.mirror import OpenLocks
    from lightspeed_cli.notify.alerts import Alerts
    from lightspeed_cli.steering.wiring import Steering

    alerts = alerts or Alerts.from_settings(settings.notify, notifier)
    events = Events.for_settings(
        settings, journal=journal, alerts=alerts, notifier=notifier, clock=utcnow
    )
    open_locks = OpenLocks()
    steering = Steering.build(
        settings,
        broker=broker,
        journal=journal,
        journal_path=journal_path,
        events=events.report,
        lock_for=open_locks,
        clock=utcnow,
    )
    engine = Engine(
        settings,
        broker=broker,
        source=source,
        journal=journal,
        license_client=license_client,
        notifier=notifier,
        alerts=alerts,
        events=events,
        open_locks=open_locks,
        paused_by=steering.control.paused_by,
        stops=steering.stops,
        push=push,
    )
    return engine, steering


def _start_dashboard(
    settings: Settings,
    options: RunOptions,
    data_dir: Path,
    steering: Steering,
    license_client: LicenseClient | None,
    stop: asyncio.Event,
    *,
    live: bool,
) -> asyncio.Task[None]:
    """The dashboard inside the bot: the same journal, controls through the bot's own door.
    A busy port is a StartupError (said before trading starts)."""
    from lightspeed_cli.steering.control import Command, RequestStatus
    from lightspeed_cli.views.dashboard.app import DashboardContext, create_app
    from lightspeed_cli.views.dashboard.server import serve
    from lightspeed_cli.views.dashboard.tokens import load_tokens
    from lightspeed_cli.views.dashboard.wiring import announce, open_socket

    cfg = settings.dashboard
    try:
        loaded = load_tokens(data_dir, control=cfg.control)
        sock = open_socket(cfg.host, cfg.port)
    except OSError as exc:
        raise StartupError(f"dashboard: {exc}") from None

    async def act(command: str) -> tuple[bool, str]:
        answer = await steering.control.execute(Command(command), "dashboard")
        return answer.status is RequestStatus.DONE, answer.result or ""

    def license_info() -> dict[str, Any]:
        if license_client is None:
            return {"can_open": True, "state": license_label(options)}
        from lightspeed_cli.license.gate import license_summary

        state = license_client.state()
        return {"can_open": state.can_open, "state": license_summary(state)}

    context = DashboardContext(
        settings=settings,
        paper=options.paper,
        journal_path=journal_path(settings, options.paper),
        tokens=loaded.tokens,
        host=cfg.host,
        license_info=license_info,
        opens=lambda: steering.control.pause_state.describe(),
        act=act if cfg.control else None,
    )
    tty = sys.stdout.isatty()
    # a token goes only to a terminal, never into a log (announce shows it only then)
    announce(context, loaded, sock, data_dir, print if tty else log.info, show_tokens=tty)

    async def run() -> None:
        try:
            await serve(create_app(context), sock, stop)
        finally:
            sock.close()

    return asyncio.create_task(run(), name="dashboard")


async def run_bot(settings: Settings, options: RunOptions) -> int:
    """Validate, reconcile, then trade until SIGTERM/SIGINT; returns the exit code."""
    if not [t for t in settings.traders if t.enabled]:
        raise StartupError(
            "no traders to follow: add one with `lightspeed traders add ID --source copytrade`",
            exit_code=2,
        )
    data_dir = settings.storage.resolved_data_dir()
    from lightspeed_cli.config.instancelock import AlreadyRunning, instance_lock

    for attempt in range(sys.maxsize):
        with contextlib.ExitStack() as held:
            try:
                with data_dir_errors(data_dir):
                    prepare_data_dir(data_dir)
                    held.enter_context(instance_lock(journal_path(settings, options.paper)))
                return await _run_locked(settings, options, data_dir)
            except AlreadyRunning as exc:
                raise StartupError(str(exc)) from None
            except DataDirError as exc:  # raised only while starting: one line, exit 2
                if not exc.full:
                    raise StartupError(str(exc), EXIT_DATA_DIR) from None
                full = exc
        # a full disk passes once space is freed: an alert, a wait, and again (issue 22: a
        # final exit here became "down for good" under systemd's start limit)
        await _wait_for_space(settings, str(full), attempt)
    raise AssertionError("unreachable")


FULL_DISK_ACTION = (
    "free disk space (`df -h`, `du -sh` the data dir): the bot is not trading and tries to"
    " start again by itself, sooner at first, then every 5 minutes"
)
FULL_DISK_WAITS = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)  # then every 5 minutes


async def _wait_for_space(settings: Settings, why: str, attempt: int) -> None:
    from lightspeed_cli.notify.alerts import Kind, say_now

    wait = FULL_DISK_WAITS[min(attempt, len(FULL_DISK_WAITS) - 1)]
    log.error("cannot start: %s; trying again in %g s", why, wait)
    if attempt in (0, len(FULL_DISK_WAITS) - 1):  # said at once, and again once it drags on
        await say_now(
            settings.notify, Kind.JOURNAL, "disk", f"cannot start: {why}", FULL_DISK_ACTION
        )
    await asyncio.sleep(wait)


async def _run_locked(settings: Settings, options: RunOptions, data_dir: Path) -> int:
    """run_bot's body, while this process alone holds the journal."""
    from lightspeed_cli.engine.loop import utcnow
    from lightspeed_cli.engine.stops import settle_at_start
    from lightspeed_cli.notify.alerts import Alerts
    from lightspeed_cli.notify.alerts import install as install_alerts
    from lightspeed_cli.notify.webhook import Notifier

    license_client = None
    if options.require_license and not options.paper:
        from lightspeed_cli.license.client import LicenseClient

        # any license problem still starts the bot, closing-only: closes and reductions keep
        # mirroring so nobody is left exposed (the engine announces it below)
        license_client = LicenseClient(settings.license, data_dir)
        with data_dir_errors(data_dir):
            state = await license_client.startup_check()
        if state.warning:
            log.warning("license: %s", state.warning)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if options.duration_seconds is not None:
        loop.call_later(options.duration_seconds, stop.set)

    from lightspeed_cli.execution.base import BrokerError, ExecutionOutcome

    try:
        broker = build_broker(settings, options)
    except BrokerError as exc:
        raise StartupError(exc.message) from None
    with data_dir_errors(data_dir):
        ensure_writable(journal_path(settings, options.paper))  # before SQLite holds its locks
        journal = await _open_journal(settings, options)
    source, push = build_source(settings, options)
    notifier = Notifier(settings.notify)
    alerts = Alerts.from_settings(settings.notify, notifier)
    install_alerts(alerts)  # license, reconcile and others raise through the same book
    steering: Steering | None = None
    try:
        engine, steering = assemble(
            settings,
            broker=broker,
            source=source,
            journal=journal,
            journal_path=journal_path(settings, options.paper),
            license_client=license_client,
            notifier=notifier,
            alerts=alerts,
            push=push,
        )
        if options.on_engine is not None:
            options.on_engine(engine)
        live = options.live_view if options.live_view is not None else sys.stdout.isatty()
        engine.license_gate.refusal()  # closing-only is said first: log, event, webhook
        try:
            # stops that fired while the bot was away
            await settle_at_start(
                settings, broker=broker, journal=journal, events=engine.events.report, clock=utcnow
            )
            report = await engine.start()
        except sqlite3.DatabaseError as exc:
            damaged = await journalcheck.diagnose(journal.path, exc)
            if damaged is not None:
                await _say_damaged(settings, damaged)
            raise StartupError(f"cannot start trading: {damaged or exc}", 3) from None
        except BrokerError as exc:  # a refused key or permission: exit 3, said (README)
            if exc.outcome is not ExecutionOutcome.FATAL:
                raise StartupError(f"cannot start trading: {exc}") from None
            await _say_stopped(settings, exc.message)
            raise StartupError(f"cannot start trading: {exc}", 3) from None
        except Exception as exc:
            raise StartupError(f"cannot start trading: {exc}") from None
        freeze_startup_heap()
        log.info(
            "reconciled: %d filled, %d never placed, %d unknown, %d closed outside, %d unmanaged",
            report.resolved_filled,
            report.resolved_not_placed,
            report.still_unknown,
            len(report.closed_outside),
            len(report.unmanaged),
        )
        mode = "PAPER" if options.paper else "LIVE"
        log.info("%s: following %d trader(s)", mode, len(engine.view.traders))
        steering.add_telegram(
            settings,
            journal=journal,
            positions=broker.positions,
            notifier=notifier,
            paper=options.paper,
        )
        steering.start(stop)
        if options.dashboard or settings.dashboard.enabled:
            dashboard = _start_dashboard(
                settings, options, data_dir, steering, license_client, stop, live=live
            )
            steering.add_task(dashboard)
        try:
            if live:
                from lightspeed_cli.views.live import run_with_live_view

                code = await run_with_live_view(engine, stop, settings, license_label(options))
            else:
                code = await engine.run(stop)
        finally:
            stop.set()
            await steering.aclose()
        if engine.fatal:
            log.error("trading stopped: %s", engine.fatal)
        return code
    finally:
        if steering is not None:
            steering.control.store.close()  # (aclose closes it too; a failed start did not)
        for closer in (source.aclose, broker.aclose):
            with contextlib.suppress(Exception):
                await closer()
        journal.close()
        install_alerts(None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
