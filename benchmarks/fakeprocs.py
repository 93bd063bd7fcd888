"""The fakes in their own processes, so their CPU, memory and event-loop work never count as
the bot's. Pinned to the last core when there are two or more (the bot gets core 0).

- `fake_binance_demo(traders, latency)`: `python -m lightspeed_cli.sim.binance` with demo traders
  (static books) and a required web session, as the poll benchmark runs it.
- `ScriptedBinance()`: this file's `binance` mode, a FakeBinance whose books the caller sets
  between polls through the child's stdin (one JSON line per change, answered "ok").
- `fake_bybit()`: this file's `bybit` mode, a FakeBybit (one-way mode, default keys, prices and
  instruments, 10,000 USDT) serving until its stdin closes.

    python benchmarks/fakeprocs.py bybit|binance      # prints the URL, serves until stdin closes
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SESSION = {"p20t": "bench-p20t-cookie", "csrftoken": "bench-csrf"}
HERE = str(Path(__file__).resolve())


def _pinned(cmd: list[str]) -> list[str]:
    cores = os.cpu_count() or 1
    if cores > 1 and shutil.which("taskset"):
        return ["taskset", "-c", str(cores - 1), *cmd]
    return cmd


@contextlib.contextmanager
def _serving(cmd: list[str], what: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `cmd`, read the URL it prints first, stop it on exit."""
    proc = subprocess.Popen(_pinned(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"the fake {what} did not start")
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def fake_binance_demo(traders: int, latency: float) -> Iterator[str]:
    """`traders` demo traders, `latency` s added to every answer, v2 session required."""
    cmd = [
        sys.executable, "-m", "lightspeed_cli.sim.binance",
        "--latency", str(latency), "--demo-traders", str(traders),
        "--session", f"{SESSION['p20t']}:{SESSION['csrftoken']}",
    ]  # fmt: skip
    with _serving(cmd, "Binance") as (url, _proc):
        yield url


@contextlib.contextmanager
def fake_bybit() -> Iterator[str]:
    with _serving([sys.executable, HERE, "bybit"], "Bybit") as (url, _proc):
        yield url


class ScriptedBinance:
    """Drives a FakeBinance in a child process: `set_positions` returns once it is applied."""

    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self._proc = proc

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[ScriptedBinance]:
        with _serving([sys.executable, HERE, "binance"], "Binance") as (url, proc):
            yield cls(url, proc)

    def _send(self, command: dict[str, object]) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        if self._proc.stdout.readline().strip() != "ok":
            raise RuntimeError(f"the fake Binance refused {command}")

    def set_mark_price(self, symbol: str, price: str) -> None:
        self._send({"mark": symbol, "price": price})

    def set_positions(self, trader: str, longs: list[tuple[str, str, str]]) -> None:
        """The trader's whole book: (symbol, size, entry price) longs, one-way mode."""
        self._send({"trader": trader, "longs": longs})


def _serve_bybit() -> None:
    from lightspeed_cli.sim.bybit import FakeBybit

    with FakeBybit.running() as fake:
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()  # until the parent closes our stdin (or dies)


def _serve_binance() -> None:
    from lightspeed_cli.sim.binance import FakeBinance, FakePosition

    with FakeBinance.running(keep_log=False) as fake:
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            for line in sys.stdin:
                command = json.loads(line)
                if "mark" in command:
                    fake.set_mark_price(command["mark"], command["price"])
                else:
                    longs = [FakePosition.long(*p) for p in command["longs"]]
                    fake.set_positions(command["trader"], longs)
                print("ok", flush=True)


if __name__ == "__main__":
    modes = {"bybit": _serve_bybit, "binance": _serve_binance}
    if len(sys.argv) != 2 or sys.argv[1] not in modes:
        sys.exit("usage: python benchmarks/fakeprocs.py bybit|binance")
    modes[sys.argv[1]]()
