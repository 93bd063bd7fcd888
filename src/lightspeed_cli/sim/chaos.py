"""Chaos run: the real bot (`lightspeed run` subprocesses) against the fakes, killed at random.

A scripted leader opens, increases, reduces, closes and flips; the fake Bybit suffers random
faults (requests held in flight then processed or dropped, lost answers, slow or partial
fills, failing lookups, and whatever real-behaviour switches it offers); the bot is SIGKILLed at
random moments and restarted at once, as systemd would. After each restart every order on the
fake must be in the journal (rows are written before orders are sent); at the end, once
settled, Bybit's positions must equal the leader's book x ratio within one quantity step.

    python benchmarks/chaos_run.py --kills 200          # the full run (BENCHMARKS.md)

Figures: kills, doubled orders (filled on Bybit while the journal says they were not),
missed closes (the leader is flat, Bybit is not), drift left at the end; target 0 / 0 / 0.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

RATIO = Decimal("0.1")
# leader size unit per symbol: x RATIO it is one Bybit quantity step
UNITS = {"BTCUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.1"), "SOLUSDT": Decimal("1")}
MARKS = {"BTCUSDT": "60000", "ETHUSDT": "3000", "SOLUSDT": "150"}
STEPS = {s: u * RATIO for s, u in UNITS.items()}
TRADERS = ("5100000000000000001", "5100000000000000002")
CREATE, REALTIME, HISTORY = "/v5/order/create", "/v5/order/realtime", "/v5/order/history"


@dataclass
class ChaosReport:
    kills: int = 0
    doubled: int = 0  # filled on the fake, but the journal says not filled (or has no row)
    missed_closes: int = 0  # the leader is flat on a key, Bybit is not
    drift_left: int = 0  # keys off the leader's book x ratio by more than one step
    missing_from_journal: int = 0  # orders on the fake with no journal row, after a restart
    leader_changes: int = 0
    faults: int = 0
    orders: int = 0
    repairs: int = 0
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"kills {self.kills}, doubled orders {self.doubled}, missed closes"
            f" {self.missed_closes}, drift left {self.drift_left} (orders missing from the"
            f" journal {self.missing_from_journal}; {self.leader_changes} leader changes,"
            f" {self.faults} faults, {self.orders} orders, {self.repairs} repairs,"
            f" {self.seconds:.0f} s)"
        )


class Leader:
    """Random leader books: per trader, per symbol a signed size in whole units."""

    def __init__(self, rng: random.Random, traders: tuple[str, ...], symbols: tuple[str, ...]):
        self.rng = rng
        self.traders = traders
        self.symbols = symbols
        self.books: dict[str, dict[str, int]] = {t: {} for t in traders}
        # each symbol has one leader: on a one-way account two leaders on opposite sides of a
        # symbol cannot both be mirrored (the bot refuses the second), so no target would hold
        self.owned = {t: symbols[n :: len(traders)] or symbols for n, t in enumerate(traders)}

    def change(self) -> str:
        trader = self.rng.choice(self.traders)
        symbol = self.rng.choice(self.owned[trader])
        book = self.books[trader]
        units = book.get(symbol, 0)
        size = self.rng.randint(1, 20)
        if units == 0:
            book[symbol] = size if self.rng.random() < 0.5 else -size
            what = "open"
        else:
            sign = 1 if units > 0 else -1
            what = self.rng.choice(("increase", "reduce", "close", "flip"))
            if what == "reduce" and abs(units) < 2:
                what = "close"
            if what == "increase":
                book[symbol] = units + sign * size
            elif what == "reduce":
                book[symbol] = sign * self.rng.randint(1, abs(units) - 1)
            elif what == "close":
                book.pop(symbol)
            else:
                book[symbol] = -sign * size
        return f"{trader[-1]} {what} {symbol} -> {book.get(symbol, 0)}"

    def positions(self, trader: str) -> list[Any]:
        from lightspeed_cli.sim.binance import FakePosition

        out = []
        for symbol, units in sorted(self.books[trader].items()):
            size = UNITS[symbol] * abs(units)
            make = FakePosition.long if units > 0 else FakePosition.short
            out.append(make(symbol, size, MARKS[symbol]))
        return out

    def targets(self) -> dict[tuple[str, str], Decimal]:
        """(Bybit symbol, side) -> the leader's book x ratio, summed over traders."""
        out: dict[tuple[str, str], Decimal] = {}
        for book in self.books.values():
            for symbol, units in book.items():
                key = (symbol, "long" if units > 0 else "short")
                out[key] = out.get(key, Decimal(0)) + UNITS[symbol] * abs(units) * RATIO
        return out


def random_fault(rng: random.Random, fake: Any) -> str:
    """Inject one fault a real Bybit can show, or turn on one of the fake's real behaviours."""
    from lightspeed_cli.sim.bybit import Fault

    choices: list[tuple[str, Callable[[], None]]] = [
        ("create held, then processed", lambda: fake.inject(
            CREATE, Fault.stalled(rng.uniform(0.3, 4.5), then_process=True))),
        ("create held, then dropped", lambda: fake.inject(
            CREATE, Fault.stalled(rng.uniform(0.3, 2.0), then_process=False))),
        ("create answer lost", lambda: fake.inject(CREATE, Fault.lost_response())),
        ("create dropped", lambda: fake.inject(CREATE, Fault.dropped())),
        ("create answered late", lambda: fake.inject(
            CREATE, Fault.delayed(rng.uniform(0.2, 2.0)))),
        ("lookups fail", lambda: (fake.inject(REALTIME, Fault.dropped(), rng.randint(1, 4)),
                                  fake.inject(HISTORY, Fault.dropped(), rng.randint(1, 2)))),
        ("slow fills", lambda: fake.slow_fills(rng.randint(1, 8), partial=rng.random() < 0.5)),
    ]  # fmt: skip
    for name, switch in _behaviour_switches(rng, fake):
        choices.append((name, switch))
    name, apply = rng.choice(choices)
    apply()
    return name


def _behaviour_switches(rng: random.Random, fake: Any) -> list[tuple[str, Callable[[], None]]]:
    """The fake's real-Bybit behaviours (bybit_ccxt.md section 5) that keep the target
    reachable (a partly filled open is not chased: those go with reduces only, `partial_fill`)."""
    return [
        ("orders unlisted for a while", lambda: fake.hide_orders(rng.uniform(0.5, 4.0))),
        ("closed orders only in history", lambda: fake.history_only(rng.random() < 0.7)),
        ("a cursor on the last page", lambda: fake.paging(
            rng.choice((1, 2, 50)), rng.choice(("repeat", "empty", "")))),
    ]  # fmt: skip


def partial_fill(rng: random.Random, fake: Any) -> str:
    """The next market order (a reduce or close) ends Cancelled with part of it filled."""
    status = rng.choice(("Cancelled", "PartiallyFilledCanceled"))
    fake.partial_fills(rng.choice(("0.5", "0.3", "0.8")), status=status)
    return f"next market order {status} part-filled"


SWITCHES = (
    "orders unlisted for a while",
    "closed orders only in history",
    "a cursor on the last page",
)


def _behaviours_off(fake: Any) -> None:
    fake.hide_orders(0)
    fake.history_only(False)
    fake.paging(0, "")


def _clear_behaviours(fake: Any) -> None:
    fake.clear_faults()
    fake.slow_fills(0)
    _behaviours_off(fake)
    with fake._lock:  # partial fills not yet used
        fake._state.partial.clear()


class BotProcess:
    """`lightspeed run --no-live` as a subprocess; logs to run-N.log in `out`."""

    def __init__(self, config: Path, data_dir: Path, env: dict[str, str], out: Path) -> None:
        self.config, self.data_dir, self.env, self.out = config, data_dir, env, out
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "lightspeed_cli", "--config", str(self.config), *args]
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )

    def start(self) -> None:
        self.runs += 1
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lightspeed_cli", "--config", str(self.config), "run",
                 "--no-live"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    @property
    def log_path(self) -> Path:
        return self.out / f"run-{self.runs}.log"

    def started(self) -> bool:
        return "following" in self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def journal_rows(self, sql: str) -> list[sqlite3.Row]:
        path = self.data_dir / "journal.sqlite3"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return db.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()


def wait_for(what: str, predicate: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for: {what}")


def _write_config(path: Path, *, binance: str, bybit: str, server: Any, data_dir: Path,
                  traders: tuple[str, ...], reconcile_seconds: float) -> None:  # fmt: skip
    import tomlkit

    doc = {
        "license": {"server_url": server.url, "public_key": server.public_key},
        "bybit": {"base_url": bybit, "reconcile_interval_seconds": reconcile_seconds},
        "binance": {"base_url": binance},
        "traders": [
            {"id": t, "source": "copytrade", "label": f"t{n}"} for n, t in enumerate(traders)
        ],
        "sizing": {"mode": "ratio", "value": float(RATIO)},
        "safety": {
            "max_position_notional_usdt": 10_000_000,
            "max_total_notional_usdt": 10_000_000,
            "max_open_positions": 100,
            "max_price_divergence_bps": 50,
            "daily_loss_limit_usdt": 10_000_000,
        },
        "polling": {"interval_seconds": 0.2, "timeout_seconds": 2, "retries": 0},
        "storage": {"data_dir": str(data_dir)},
    }
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


@contextlib.contextmanager
def _world(
    out: Path, traders: tuple[str, ...], reconcile_seconds: float
) -> Iterator[tuple[Any, Any, BotProcess]]:
    from lightspeed_cli.license.testing import run_license_server
    from lightspeed_cli.sim.binance import FakeBinance
    from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET, FakeBybit

    with (
        FakeBinance.running() as binance,
        FakeBybit.running(balance="100000000") as bybit,
        run_license_server(out / "license-server") as server,
    ):
        for symbol, price in MARKS.items():
            binance.set_mark_price(symbol, price)
            bybit.set_price(symbol, price)
        for trader in traders:
            binance.clear_positions(trader)
        data_dir, config = out / "data", out / "config.toml"
        _write_config(
            config,
            binance=binance.url,
            bybit=bybit.url,
            server=server,
            data_dir=data_dir,
            traders=traders,
            reconcile_seconds=reconcile_seconds,
        )
        machine_id = out / "machine-id"
        machine_id.write_text("0123456789abcdef0123456789abcdef\n")
        env = dict(os.environ)
        env.update({
            "LIGHTSPEED_MACHINE_ID_FILE": str(machine_id),
            "LIGHTSPEED_BYBIT_API_KEY": DEFAULT_API_KEY,
            "LIGHTSPEED_BYBIT_API_SECRET": DEFAULT_API_SECRET,
            "XDG_DATA_HOME": str(out / "xdg"),
            "PYTHONUNBUFFERED": "1",
        })  # fmt: skip
        bot = BotProcess(config, data_dir, env, out)
        activated = bot.cli("license", "activate", server.issue(seats=1, days=30))
        if activated.returncode != 0:
            raise RuntimeError(f"license activation failed: {activated.stdout}{activated.stderr}")
        try:
            yield binance, bybit, bot
        finally:
            bot.kill()


def _missing_from_journal(bybit: Any, bot: BotProcess) -> list[str]:
    known = {r["client_order_id"] for r in bot.journal_rows("SELECT client_order_id FROM orders")}
    return [o.order_link_id for o in bybit.orders if o.order_link_id not in known]


def _positions(bybit: Any) -> dict[tuple[str, str], Decimal]:
    with bybit._lock:
        return {
            (p.symbol, p.side.value): p.size
            for p in bybit.ledger.open_positions()
            if p.side is not None and p.size > 0
        }


def _off_target(leader: Leader, bybit: Any) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """Keys where Bybit differs from the leader's book x ratio by more than one step."""
    targets, held = leader.targets(), _positions(bybit)
    out = {}
    for key in {*targets, *held}:
        target, actual = targets.get(key, Decimal(0)), held.get(key, Decimal(0))
        if abs(actual - target) > STEPS[key[0]]:
            out[key] = (target, actual)
    return out


@dataclass
class _Run:
    rng: random.Random
    report: ChaosReport
    leader: Leader
    binance: Any
    bybit: Any
    bot: BotProcess
    log: Callable[[str], None]
    kills_wanted: int = 0
    switch_rounds: int = 0  # rounds until the fake's behaviour switches go off again

    def publish(self) -> None:
        for trader in self.leader.traders:
            self.binance.set_positions(trader, self.leader.positions(trader))

    def leader_changes(self, n: int, fault_probability: float) -> None:
        rng, report = self.rng, self.report
        self.switch_rounds -= 1
        if self.switch_rounds == 0:  # a real behaviour comes and goes
            _behaviours_off(self.bybit)
        if rng.random() < fault_probability:
            report.faults += 1
            what = random_fault(rng, self.bybit)
            self.log(f"[{n}] fault: {what}")
            if what in SWITCHES:
                self.switch_rounds = rng.randint(1, 4)
        changes = rng.randint(1, 2)
        for _ in range(changes):
            what = self.leader.change()
            report.leader_changes += 1
            self.log(f"[{n}] leader: {what}")
            reducing = " reduce " in what or " close " in what
            if changes == 1 and reducing and rng.random() < 0.3:
                report.faults += 1
                self.log(f"[{n}] fault: {partial_fill(rng, self.bybit)}")
            self.publish()

    def kill(self) -> None:
        self.bot.kill()
        self.report.kills += 1

    def restart(self, n: int, early_kill_probability: float) -> None:
        """Start again at once; sometimes kill it again while it starts (reconciling)."""
        rng, bot = self.rng, self.bot
        bot.start()
        while self.report.kills < self.kills_wanted and rng.random() < early_kill_probability:
            time.sleep(rng.uniform(0.2, 3.0))
            self.log(f"[{n}] killed while starting")
            self.kill()
            bot.start()
        wait_for(f"restart {n + 1}", lambda: bot.started() or not bot.alive(), 90)
        if not bot.alive():
            raise RuntimeError(f"the bot exited at restart {n + 1}: see {bot.log_path}")
        missing = _missing_from_journal(self.bybit, bot)
        if missing:
            self.report.missing_from_journal += len(missing)
            self.report.details.append(f"restart {n + 1}: not in the journal: {missing}")

    def settle(self, seconds: float) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        _clear_behaviours(self.bybit)
        self.log("settling")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and _off_target(self.leader, self.bybit):
            time.sleep(0.5)
        return _off_target(self.leader, self.bybit)

    def tally(self, off: dict[tuple[str, str], tuple[Decimal, Decimal]]) -> None:
        report, bybit = self.report, self.bybit
        rows = {
            r["client_order_id"]: r
            for r in self.bot.journal_rows("SELECT client_order_id, status, kind FROM orders")
        }
        for order in bybit.orders:
            row = rows.get(order.order_link_id)
            if order.filled_qty > 0 and (row is None or row["status"] != "filled"):
                report.doubled += 1
                report.details.append(
                    f"filled on Bybit, journal {row['status'] if row else 'has no row'}:"
                    f" {order.order_link_id} {order.symbol} {order.side} {order.qty}"
                )
        report.missing_from_journal += len(_missing_from_journal(bybit, self.bot))
        partly = {
            (r["symbol"], r["side"])
            for r in self.bot.journal_rows(
                "SELECT symbol, side FROM orders WHERE kind IN ('open', 'increase')"
                " AND status='filled' AND CAST(fill_qty AS REAL) < CAST(quantity AS REAL)"
            )
        }
        for (symbol, side), (target, actual) in sorted(off.items()):
            if actual < target and (symbol, side) in partly:
                report.details.append(
                    f"end: {symbol} {side} Bybit {actual}, leader x ratio {target}: short by a"
                    " partly filled open, which is not chased (as designed)"
                )
                continue
            report.drift_left += 1
            report.missed_closes += target == 0
            report.details.append(f"end: {symbol} {side} Bybit {actual}, leader x ratio {target}")
        report.orders = len(bybit.orders)
        report.repairs = sum(1 for r in rows.values() if r["kind"] == "repair")


def run_chaos(
    out: Path,
    *,
    kills: int = 200,
    seed: int = 1,
    traders: int = 2,
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    fault_probability: float = 0.5,
    max_kill_delay: float = 1.5,
    early_kill_probability: float = 0.3,
    reconcile_seconds: float = 2.0,
    settle_seconds: float = 90.0,
    log: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    """Kill the bot `kills` times around random leader changes; returns the figures."""
    rng = random.Random(seed)
    report = ChaosReport()
    started = time.monotonic()
    ids = TRADERS[:traders]
    out.mkdir(parents=True, exist_ok=True)
    with _world(out, ids, reconcile_seconds) as (binance, bybit, bot):
        run = _Run(rng, report, Leader(rng, ids, symbols), binance, bybit, bot, log)
        run.kills_wanted = kills
        bot.start()
        wait_for("the first start", bot.started, 90)
        baselines = "SELECT 1 FROM trader_state WHERE baseline_at IS NOT NULL"
        wait_for("baselines", lambda: len(bot.journal_rows(baselines)) == len(ids), 60)
        n = 0
        while report.kills < kills:
            run.leader_changes(n, fault_probability)
            time.sleep(rng.uniform(0, max_kill_delay))
            run.kill()
            if rng.random() < 0.3:  # the leader trades on while the bot is down
                log(f"[{n}] leader (bot down): {run.leader.change()}")
                report.leader_changes += 1
                run.publish()
            run.restart(n, early_kill_probability)
            n += 1
        off = run.settle(settle_seconds)
        time.sleep(1.0)
        code = bot.stop()
        if code not in (0, None):
            report.details.append(f"the bot exited {code} at the end")
        run.tally(off)
    report.seconds = time.monotonic() - started
    return report
