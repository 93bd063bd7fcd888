"""Polls per second of the Binance source on one core (shared/PERFORMANCE.md, first row).

N traders (half leaderboard v2 with a session, half copy-trade portfolios) are polled back to
back by `--concurrency` workers against the fake Binance, which runs in its own process on
another core and adds `--latency` seconds to every answer. This process is pinned to core 0.
Reports polls/s, CPU seconds per 1,000 polls (`time.process_time`) and p50/p99 poll latency.

    taskset -c 0 python benchmarks/bench_binance_poll.py --traders 200 --concurrency 128

`--mode bare-client` / `bare-transport` measure plain httpx loops for comparison (copy-trade GETs
only, no parsing, no retries, no budget), over `ceil(concurrency / pool-size)` pools of
`--pool-size` connections: `httpx.AsyncClient.get` versus `AsyncHTTPTransport` directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx

from lightspeed_cli.config.sections import BinanceSettings, PollingSettings, TraderSettings
from lightspeed_cli.sim.binance import COPYTRADE, demo_traders
from lightspeed_cli.sources.binance import BinanceSource
from lightspeed_cli.sources.pool import CONNECTIONS_PER_POOL

SESSION = {"p20t": "bench-p20t-cookie", "csrftoken": "bench-csrf"}


def start_fake(traders: int, latency: float) -> tuple[subprocess.Popen[str], str]:
    """The fake Binance in its own process, pinned to core 1 when there is one."""
    cmd = [
        sys.executable, "-m", "lightspeed_cli.sim.binance",
        "--latency", str(latency), "--demo-traders", str(traders),
        "--session", f"{SESSION['p20t']}:{SESSION['csrftoken']}",
    ]  # fmt: skip
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "1", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit("the fake Binance did not start")
    return proc, url


Poll = Callable[[int, TraderSettings], Awaitable[str]]


def source_poll(url: str, args: argparse.Namespace) -> tuple[Poll, Callable[[], Awaitable[None]]]:
    source = BinanceSource(
        BinanceSettings(base_url=url, leaderboard_api="v2-private"),
        PollingSettings(
            concurrency=args.concurrency, requests_per_second=10_000, timeout_seconds=10
        ),
        session=json.dumps(SESSION),
        pool_size=args.pool_size,
    )

    async def poll(worker: int, trader: TraderSettings) -> str:
        return (await source.fetch(trader)).status.value

    return poll, source.aclose


def bare_poll(url: str, args: argparse.Namespace) -> tuple[Poll, Callable[[], Awaitable[None]]]:
    """Plain httpx GETs of the copy-trade path; worker k always uses pool k % pools."""
    limits = httpx.Limits(max_connections=args.pool_size, max_keepalive_connections=args.pool_size)
    pools = math.ceil(args.concurrency / args.pool_size)
    headers = {"User-Agent": "bench", "clienttype": "web"}
    if args.mode == "bare-client":
        clients = [httpx.AsyncClient(limits=limits, headers=headers) for _ in range(pools)]

        async def poll(worker: int, trader: TraderSettings) -> str:
            params = {"portfolioId": trader.id}
            response = await clients[worker % pools].get(url + COPYTRADE, params=params)
            return "ok" if response.status_code == 200 else "error"

        async def close() -> None:
            for client in clients:
                await client.aclose()

        return poll, close
    transports = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(pools)]
    timeout = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), 10.0)}
    requests: dict[str, httpx.Request] = {}

    async def poll(worker: int, trader: TraderSettings) -> str:
        request = requests.get(trader.id)
        if request is None:
            target = f"{url}{COPYTRADE}?portfolioId={trader.id}"
            request = requests[trader.id] = httpx.Request(
                "GET", target, headers=headers, extensions=timeout
            )
        response = await transports[worker % pools].handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return "ok" if response.status_code == 200 else "error"

    async def close_transports() -> None:
        for transport in transports:
            await transport.aclose()

    return poll, close_transports


async def run(url: str, args: argparse.Namespace) -> dict[str, object]:
    traders = [TraderSettings(id=i, source=s) for s, i in demo_traders(args.traders)]
    if args.mode != "source":
        traders = [t for t in traders if t.source.value == "copytrade"]
    poll, close = (source_poll if args.mode == "source" else bare_poll)(url, args)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    measuring = False
    stop = False
    turn = 0

    async def worker(k: int) -> None:
        nonlocal turn
        while not stop:
            trader = traders[turn % len(traders)]
            turn += 1
            started = time.perf_counter()
            status = await poll(k, trader)
            if measuring:
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1

    tasks = [asyncio.create_task(worker(k)) for k in range(args.concurrency)]
    await asyncio.sleep(args.warmup)
    measuring = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(args.seconds)
    measuring = False
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stop = True
    await asyncio.gather(*tasks)
    await close()

    polls = len(latencies)
    cuts = statistics.quantiles(latencies, n=100) if polls > 1 else [0.0] * 99
    return {
        "polls": polls,
        "polls_per_s": round(polls / wall, 1),
        "cpu_s_per_1000_polls": round(cpu / polls * 1000, 3) if polls else None,
        "cpu_utilisation": round(cpu / wall, 3),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "statuses": dict(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--pool-size", type=int, default=CONNECTIONS_PER_POOL)
    parser.add_argument(
        "--mode", choices=["source", "bare-client", "bare-transport"], default="source"
    )
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # same as `taskset -c 0`, in case it was not used
    proc, url = start_fake(args.traders, args.latency)
    try:
        if args.uvloop:
            import uvloop

            result = uvloop.run(run(url, args))
        else:
            result = asyncio.run(run(url, args))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    result.update(
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        nproc=os.cpu_count(),
        python=sys.version.split()[0],
        traders=args.traders,
        concurrency=args.concurrency,
        pool_size=args.pool_size,
        mode=args.mode,
        latency_s=args.latency,
        loop="uvloop" if args.uvloop else "asyncio",
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
