"""`lightspeed simulate`: the real engine against the fake Binance and fake Bybit, in-process.

Both fakes serve real HTTP on 127.0.0.1 from their own threads; a temporary config points the
bot at them (copytrade traders, a hedge-mode Bybit account, ratio sizing, safety caps that fit
the scenario) and `runner.run_bot` runs it exactly as `lightspeed run` would, minus the license
and the keyring (the fake account's keys are passed in). Meanwhile the scenario driver plays the
leaders' moves and moves prices. When the bot stops by itself, the fidelity report compares
what the leaders did with what the fake Bybit's order log holds.

No keys, no license, no network. Exit 0 when the mirror is exact (0 missed, 0 extra, every
exposure error within one quantity step), 1 otherwise, 2 for a bad option.

Options (`lightspeed simulate --help`): `--seconds N` (default 20; the bot polls with the default
settings: budget mode, 20 requests/s), `--binance-rtt MS` / `--bybit-rtt MS` (default 50 / 20:
each fake adds that delay to every answer, as a VPS's round trips would), `--report` prints the
fidelity figures and writes the JSON report to `./lightspeed-report.json` (the run's data dir is
temporary and removed afterwards), `--json PATH` writes the JSON there instead (with or without
--report), `--plot PATH` draws leader vs follower exposure to a PNG (needs the `plot` extra:
matplotlib).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lightspeed_cli.sim.binance import COPYTRADE, POSITION_PATHS, FakeBinance
from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET, FakeBybit
from lightspeed_cli.sim.hyperliquid import FakeHyperliquid
from lightspeed_cli.sim.hyperliquid_leaders import HyperliquidLeaders
from lightspeed_cli.sim.report import FidelityReport, RunFacts, build_report
from lightspeed_cli.sim.scenario import Driver, Scenario, default_scenario

DEFAULT_SECONDS = 20.0
DEFAULT_REPORT_PATH = Path("lightspeed-report.json")
STARTUP_SECONDS = 3.0  # the bot's start: ccxt import, Bybit markets, reconciliation
BINANCE_RTT_MS = 50.0  # the fake Binance adds this to each answer (real Binance: 20-200 ms)
BYBIT_RTT_MS = 20.0  # the fake Bybit adds this to each answer (a VPS near Bybit)
MIN_POLL, MAX_POLL = 0.1, 0.5
PROGRESS_SECONDS = 5.0  # off a terminal (no live view): one progress line this often
EXIT_STOPPED = 130  # stopped with Ctrl-C / SIGTERM before the end: no verdict


class SimulationError(Exception):
    """The simulation could not run; the message says why."""


@dataclass(frozen=True)
class Timing:
    """How a run of `seconds` is paced: the bot's poll interval and the time left at the end."""

    seconds: float
    poll_interval: float

    @property
    def settle(self) -> float:
        """Time kept after the last step: one poll to see it, and the orders to fill."""
        return 2 * self.poll_interval + 0.5


def schedule_interval(settings: Any) -> float:
    """Each trader's poll interval under these settings (sources/schedule.py's rule; copy-trade
    traders keep a background lane of the budget for their lead-portfolio reads)."""
    from lightspeed_cli.models import SourceKind
    from lightspeed_cli.sources.schedule import PollSchedule, configured_poll_rate

    traders = [t for t in settings.traders if t.enabled]
    polling = settings.polling
    background = any(t.source is SourceKind.COPYTRADE for t in traders)
    rate = configured_poll_rate(polling, background)
    return PollSchedule(polling, traders, lambda: rate).interval()


def busiest_second(times: list[float]) -> int:
    """Most requests in any one-second window [t, t + 1) of these (monotonic) times."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def step_spacing(interval: float) -> float:
    """The driver's shortest spacing of two steps (scenario.Driver.play): 2.5 polls apart, at
    most 1.5 s (a trader then waits for its previous change to be polled)."""
    return min(1.5, max(0.4, 2.5 * interval + 0.1))


def minimum_seconds(scenario: Scenario) -> float:
    """The shortest run that still leaves every step its polls at the default budget."""
    from lightspeed_cli.config.sections import PollingSettings
    from lightspeed_cli.sources.schedule import configured_poll_rate, poll_interval

    polling = PollingSettings()
    rate = configured_poll_rate(polling, background=True)  # the scenario's traders: copy-trade
    interval = poll_interval(len(scenario.traders), rate, polling.min_interval_seconds)
    timing = Timing(0, interval)
    per_step = step_spacing(interval)
    warm_up = interval  # the driver waits for a second poll of every trader
    return round(STARTUP_SECONDS + warm_up + timing.settle + len(scenario.steps) * per_step, 1)


@dataclass
class SimulationResult:
    report: FidelityReport
    facts: RunFacts  # what the report was built from (the fake's order log included)
    engine_exit_code: int
    data_dir: Path  # holds config.toml and the journal (data/journal.sqlite3)
    stopped_early: bool = False  # Ctrl-C / SIGTERM before the end: the report is partial

    @property
    def exit_code(self) -> int:
        if self.stopped_early:
            return EXIT_STOPPED
        return 0 if self.engine_exit_code == 0 and self.report.exact else 1


def simulation_config(
    scenario: Scenario,
    binance_url: str,
    bybit: FakeBybit,
    data_dir: Path,
    hyperliquid: FakeHyperliquid | None = None,
) -> dict[str, Any]:
    """The bot's config for a run: every trader a copytrade portfolio (or a Hyperliquid
    wallet, pointed at `hyperliquid`), caps that fit."""
    traders = []
    for t in scenario.traders:
        entry: dict[str, Any] = {"id": t.id, "source": t.source, "label": t.label}
        if t.ratio is not None:
            entry["sizing"] = {"value": str(t.ratio)}
        traders.append(entry)
    extra: dict[str, Any] = {}
    if hyperliquid is not None:
        extra["hyperliquid"] = {"info_url": hyperliquid.info_url, "ws_url": hyperliquid.ws_url}
    return {
        "traders": traders,
        **extra,
        "binance": {"base_url": binance_url},
        "bybit": {"base_url": bybit.url, "account_mode": bybit.settings().account_mode.value},
        "sizing": {"mode": "ratio", "value": str(scenario.ratio), "leverage": 0},
        "copy": {"follow_existing": False},
        "safety": {
            "max_price_divergence_bps": 50,
            "max_leverage": 20,
            "max_position_notional_usdt": 10_000,
            "max_total_notional_usdt": 50_000,
            "max_open_positions": 20,
            "max_snapshot_age_seconds": 30,
            "daily_loss_limit_usdt": 500,
        },
        "polling": {"timeout_seconds": 2.0, "retries": 1},  # budget mode, the default budget
        "storage": {"data_dir": str(data_dir)},
        "logging": {"level": "WARNING"},
    }


def write_config(data: dict[str, Any], path: Path):  # type: ignore[no-untyped-def]
    """Write the config as TOML and load it back the way `lightspeed run` would (file only:
    LIGHTSPEED_* variables of the user's shell must not change the demo)."""
    import tomlkit

    from lightspeed_cli.config.settings import read_toml, validate_file_data

    path.write_text(tomlkit.dumps(data), encoding="utf-8")
    return validate_file_data(read_toml(path), str(path))


async def measure_push_ms(fake: FakeHyperliquid, samples: int = 5) -> float:
    """Median one-way time of a push from the fake Hyperliquid to a subscriber in this
    process (after one warm-up): the push delay plus the hops a pushed fill really takes."""
    import json

    import aiohttp

    user = "0x" + "00" * 19 + "01"
    times = []
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.ws_url) as ws:
        subscription = {"type": "userFills", "user": user}
        await ws.send_str(json.dumps({"method": "subscribe", "subscription": subscription}))
        while '"isSnapshot"' not in str((await ws.receive(timeout=5)).data):
            pass  # the greeting, the ack, then the snapshot frame
        for _ in range(samples + 1):
            started = time.perf_counter()
            fake.push_frame(user, {"channel": "userFills", "data": {"user": user, "fills": []}})
            await ws.receive(timeout=5)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


async def measure_rtt_ms(url: str, samples: int = 5) -> float:
    """Median round trip of a GET to `url` (after one warm-up), in milliseconds."""
    import httpx

    times = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for _ in range(samples + 1):
            started = time.perf_counter()
            await client.get(url)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def run_options(seconds: float, *, live_view: bool, on_engine: Callable[[Any], None]) -> Any:
    """How simulate runs the bot: no license, the fake account's keys, no Binance session."""
    from lightspeed_cli.runner import RunOptions

    return RunOptions(
        require_license=False,
        bybit_keys=(DEFAULT_API_KEY, DEFAULT_API_SECRET),
        use_binance_session=False,
        duration_seconds=seconds,
        live_view=live_view,
        on_engine=on_engine,
    )


async def run_simulation(
    seconds: float = DEFAULT_SECONDS,
    *,
    scenario: Scenario | None = None,
    data_dir: Path,
    live_view: bool = False,
    binance_rtt_ms: float = BINANCE_RTT_MS,
    bybit_rtt_ms: float = BYBIT_RTT_MS,
    progress: Callable[[str], None] | None = None,
    bot_runner: Callable[[Any, Any, Path], Awaitable[int]] | None = None,
) -> SimulationResult:
    """Run the bot against both fakes for `seconds` while the scenario plays; build the report.

    `data_dir` receives the config and the journal (the caller owns and removes it).
    `progress` is told what is happening every few seconds (for a run with no live view).
    `bot_runner(settings, options, config_path)` runs the bot instead of `runner.run_bot` in
    this process (benchmarks/botproc.py: in a process of its own); it hands `options.on_engine`
    something with the engine's `hot_path`.
    """
    from lightspeed_cli.journal.store import Journal
    from lightspeed_cli.runner import journal_path, run_bot

    scenario = scenario or default_scenario()
    problem = option_problem(seconds, scenario, None)
    if problem:
        raise SimulationError(problem)
    fakes = contextlib.ExitStack()
    with fakes:
        leaders, hyperliquid = _leader_fake(fakes, scenario, binance_rtt_ms)
        bybit = fakes.enter_context(
            FakeBybit.running(
                hedge_mode=True, instruments=scenario.instruments(), latency=bybit_rtt_ms / 1000
            )
        )
        config = simulation_config(scenario, leaders.url, bybit, data_dir / "data", hyperliquid)
        settings = write_config(config, data_dir / "config.toml")
        timing = Timing(seconds, schedule_interval(settings))
        driver = Driver(scenario, leaders, bybit, poll_interval=timing.poll_interval)
        driver.prepare()
        if hyperliquid is None:
            binance_rtt = await measure_rtt_ms(f"{leaders.url}{COPYTRADE}?portfolioId=0")
        else:  # pushed: one way, no poll to wait for
            binance_rtt = await measure_push_ms(hyperliquid)
        bybit_rtt = await measure_rtt_ms(f"{bybit.url}/v5/market/time")
        engines: list[Any] = []
        options = run_options(seconds, live_view=live_view, on_engine=engines.append)
        stop_prices = asyncio.Event()
        deadline = time.monotonic() + seconds
        leaders.clear_log()
        helpers = [
            asyncio.create_task(driver.move_prices(stop_prices), name="sim:prices"),
            asyncio.create_task(driver.play(deadline, timing.settle), name="sim:scenario"),
        ]
        if progress is not None:
            helpers.append(
                asyncio.create_task(_report_progress(progress, deadline, seconds, bybit))
            )
        try:
            if bot_runner is None:
                code = await run_bot(settings, options)
            else:
                code = await bot_runner(settings, options, data_dir / "config.toml")
            # run_bot's own timer ends a full run at or after the deadline; earlier with exit 0
            # means a SIGINT / SIGTERM asked it to stop
            stopped_early = code == 0 and time.monotonic() < deadline
        finally:
            stop_prices.set()
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
        with Journal(journal_path(settings, paper=False)) as journal:
            history = journal.history(limit=1_000_000)
        orders = bybit.orders
        positions = [
            (p.symbol, p.side, p.size) for p in bybit.ledger.open_positions() if p.side is not None
        ]
        hot_path = list(engines[0].hot_path) if engines else []
        facts = RunFacts(
            scenario=scenario,
            playback=driver.playback,
            history=history,
            orders=orders,
            rejections=len(bybit.rejections),
            positions=positions,
            seconds=seconds,
            poll_interval=timing.poll_interval if hyperliquid is None else 0.0,
            binance_rtt_ms=binance_rtt,
            bybit_rtt_ms=bybit_rtt,
            hot_path=hot_path,
            budget_per_second=settings.polling.requests_per_second,
            busiest_second=busiest_second([r.at for r in leaders.requests(paths=POSITION_PATHS)]),
            busiest_second_all=busiest_second([r.at for r in leaders.requests()]),
        )
    report = build_report(facts, now=datetime.now(UTC))
    return SimulationResult(report, facts, code, data_dir, stopped_early)


def _leader_fake(
    fakes: contextlib.ExitStack, scenario: Scenario, rtt_ms: float
) -> tuple[FakeBinance | HyperliquidLeaders, FakeHyperliquid | None]:
    """The fake the scenario's leaders trade on: Binance (each answer `rtt_ms` late), or
    Hyperliquid for wallets (each push `rtt_ms` late, one way)."""
    if all(t.source != "hyperliquid" for t in scenario.traders):
        return fakes.enter_context(FakeBinance.running(latency=rtt_ms / 1000)), None
    hyperliquid = fakes.enter_context(FakeHyperliquid.running(push_delay=rtt_ms / 1000))
    return HyperliquidLeaders(hyperliquid), hyperliquid


async def _report_progress(
    say: Callable[[str], None], deadline: float, seconds: float, bybit: FakeBybit
) -> None:
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        elapsed = seconds - max(0.0, deadline - time.monotonic())
        say(f"simulate: {elapsed:.0f} of {seconds:g} s, {len(bybit.orders)} Bybit orders so far")


def write_report_json(report: FidelityReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")


def option_problem(seconds: float, scenario: Scenario, plot: Path | None) -> str:
    """What is wrong with the options, before anything starts ("" if nothing)."""
    if seconds < minimum_seconds(scenario):
        return (
            f"--seconds {seconds:g} is too short for the {scenario.name} scenario"
            f" ({len(scenario.steps)} steps): use at least {minimum_seconds(scenario):g}"
        )
    if plot is not None:
        from lightspeed_cli.views.plotting import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            return str(exc)
    return ""
