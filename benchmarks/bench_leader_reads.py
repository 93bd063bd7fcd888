"""Extra Binance reads that leader fills and leader status cost, at the default budget.

The real engine (`Engine.run`, default `[polling]`: a read every 2 s, 20 requests/s) follows N
copy-trade traders on the fake Binance and fake Bybit; each trader changes its book every
`--change-every` seconds (staggered). The fake's request log is counted by endpoint: position
reads, lead-portfolio order-history reads (after a change, and every 60 s with none) and detail
reads (status and marginBalance, every 180 s). Prints a Markdown table.

    python benchmarks/bench_leader_reads.py --traders 10 --seconds 240 --change-every 30
    python benchmarks/bench_leader_reads.py --traders 10 --seconds 240 --change-every 0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.sim.binance import (
    COPYTRADE,
    DETAIL,
    ORDER_HISTORY,
    FakeBinance,
    FakePosition,
)
from lightspeed_cli.sim.bybit import FakeBybit
from lightspeed_cli.sim.engines import engine_against_fakes


async def run(traders: int, seconds: float, change_every: float) -> dict[str, float]:
    ids = [str(4_100_000_000_000_000_000 + i) for i in range(traders)]
    with FakeBybit.running() as bybit, tempfile.TemporaryDirectory() as tmp:
        async with FakeBinance() as binance:
            binance.set_mark_price("ETHUSDT", Decimal(3000))
            for trader in ids:
                binance.clear_positions(trader)
            settings = Settings(
                traders=[{"id": t, "source": "copytrade"} for t in ids],
                binance={"base_url": binance.url},
                bybit=bybit.settings().model_dump(),
                sizing={"mode": "ratio", "value": "0.01"},
                safety={"max_open_positions": 1000, "max_total_notional_usdt": "1000000"},
                storage={"data_dir": tmp},
            )
            journal = Journal.in_dir(Path(tmp))
            engine = engine_against_fakes(settings, journal)
            await engine.start()
            stop = asyncio.Event()
            bot = asyncio.create_task(engine.run(stop))
            await asyncio.sleep(settings.polling.interval_seconds * 2)  # every baseline read
            binance.clear_log()
            started = time.monotonic()
            changes = 0
            if change_every <= 0:  # the quiet case: nothing changes, only the periodic reads
                await asyncio.sleep(seconds)
            while change_every > 0 and time.monotonic() - started < seconds:
                for trader in ids:  # staggered over the change interval
                    await asyncio.sleep(change_every / len(ids))
                    size = Decimal(1 + (changes // len(ids)) % 2)
                    binance.set_positions(trader, [FakePosition.long("ETHUSDT", size, "3000")])
                    changes += 1
                    if time.monotonic() - started >= seconds:
                        break
            elapsed = time.monotonic() - started
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bot, timeout=30)
            counts = Counter(r.path for r in binance.requests())
            await engine.source.aclose()
            await engine.broker.aclose()
            journal.close()
    per_min = 60 / elapsed
    return {
        "traders": traders,
        "seconds": round(elapsed, 1),
        "changes_per_min": round(changes * per_min, 1),
        "positions": round(counts[COPYTRADE] * per_min, 1),
        "order_history": round(counts[ORDER_HISTORY] * per_min, 1),
        "detail": round(counts[DETAIL] * per_min, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument(
        "--change-every", type=float, default=30, help="per trader, seconds (0: no changes)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    r = asyncio.run(run(args.traders, args.seconds, args.change_every))
    extra = r["order_history"] + r["detail"]
    print(f"cores: {os.cpu_count()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| traders | changes/min | position reads/min | order-history/min | detail/min |"
          " extra/min | extra per trader/min | extra vs positions |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {r['traders']} | {r['changes_per_min']} | {r['positions']} | {r['order_history']}"
        f" | {r['detail']} | {extra:.1f} | {extra / r['traders']:.2f}"
        f" | {extra / r['positions'] * 100:.1f} % |"
    )


if __name__ == "__main__":
    main()
