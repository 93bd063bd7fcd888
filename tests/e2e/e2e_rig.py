"""`lightspeed run` as a real subprocess against both fakes and a real license server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit

TRADER_A = "5000000000000000001"
TRADER_B = "5000000000000000002"
WALLET_A = "0x" + "a1" * 20  # Hyperliquid wallets
WALLET_B = "0x" + "b2" * 20
LIGHTSPEED = [sys.executable, "-m", "lightspeed_cli"]


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until `predicate()` is truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")


def write_config(
    path: Path,
    *,
    binance_url: str,
    bybit_url: str,
    license_url: str,
    public_key: str,
    data_dir: Path,
    traders: list[dict[str, Any]] | None = None,
    hyperliquid: dict[str, Any] | None = None,
) -> None:
    """`traders`: instead of the two copytrade traders; `hyperliquid`: its section."""
    doc: dict[str, Any] = {
        "license": {"server_url": license_url, "public_key": public_key},
        "bybit": {"base_url": bybit_url},
        "binance": {"base_url": binance_url},
        "traders": traders
        or [
            {"id": TRADER_A, "source": "copytrade", "label": "alpha"},
            {"id": TRADER_B, "source": "copytrade", "label": "beta"},
        ],
        "sizing": {"mode": "ratio", "value": 0.1},
        "safety": {
            "max_position_notional_usdt": 50000,
            "max_total_notional_usdt": 200000,
            "max_price_divergence_bps": 50,
        },
        "polling": {"interval_seconds": 0.2, "timeout_seconds": 2, "retries": 0},
        "storage": {"data_dir": str(data_dir)},
    }
    if hyperliquid is not None:
        doc["hyperliquid"] = hyperliquid
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


class Bot:
    """One `lightspeed run` process; restartable, killable."""

    def __init__(self, config: Path, data_dir: Path, env: dict[str, str], logs: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.env = env
        self.logs = logs
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.start_args: list[str] = []
        self.journal_file = "journal.sqlite3"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LIGHTSPEED, "--config", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        log = open(self.logs / f"run-{self.runs}.log", "wb")  # noqa: SIM115 - closed with proc
        self.proc = subprocess.Popen(
            [*LIGHTSPEED, "--config", str(self.config), "run", "--no-live", *self.start_args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def log_text(self) -> str:
        return "\n".join(
            f"--- run {i} ---\n" + (self.logs / f"run-{i}.log").read_text(errors="replace")
            for i in range(1, self.runs + 1)
        )

    def latest_log(self) -> str:
        return (self.logs / f"run-{self.runs}.log").read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    # ---- reading the journal from outside (WAL lets us read while the bot writes) --------

    def query(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        path = self.data_dir / self.journal_file
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        db.row_factory = sqlite3.Row
        try:
            return db.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []  # schema not created yet
        finally:
            db.close()

    def baselined(self, *traders: str) -> bool:
        rows = self.query("SELECT trader FROM trader_state WHERE baseline_at IS NOT NULL")
        return set(traders) <= {r["trader"] for r in rows}

    def order_statuses(self) -> list[str]:
        return [r["status"] for r in self.query("SELECT status FROM orders ORDER BY created_at")]


def base_env(tmp_path: Path) -> dict[str, str]:
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("0123456789abcdef0123456789abcdef\n")
    env = dict(os.environ)
    env.update(
        {
            "LIGHTSPEED_MACHINE_ID_FILE": str(machine_id),
            "LIGHTSPEED_BYBIT_API_KEY": "fake-bybit-key",
            "LIGHTSPEED_BYBIT_API_SECRET": "fake-bybit-secret",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
        }
    )
    return env
