"""The bot alone in its own process, for benchmarks that must not share its CPU (and GIL) with
the fakes: `run_simulation(..., bot_runner=in_child_process(...))` runs the fakes and the
scenario driver in the benchmark's process and the bot here, on its own core when there are
two or more (the benchmark's process takes the last one).

The child loads the run's config.toml as `lightspeed run` would, measures the round trips to
both fakes from its own process (median of 20 GETs), runs the bot as
`lightspeed simulate` runs it (`runner.run_bot`, no license, the fake account's keys, on uvloop
like the product), and writes its exit code, the round trips and the engine's hot-path figures
to a JSON file.

    python benchmarks/botproc.py CONFIG.toml SECONDS OUT.json
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = str(Path(__file__).resolve())
RTT_SAMPLES = 20  # GETs per fake; the median is the run's round trip
BotRunner = Callable[[Any, Any, Path], Awaitable[int]]


def pin_self_to_last_core() -> None:
    """The benchmark's process (fakes, driver) off the bot's core."""
    cores = os.cpu_count() or 1
    if cores > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cores - 1})


def in_child_process(pin: bool, seen: dict[str, Any]) -> BotRunner:
    """A bot_runner for run_simulation: the bot in a child process (on core 0 when `pin`);
    `seen` receives what the child measured (`binance_rtt_ms`, `bybit_rtt_ms`)."""

    async def run(settings: Any, options: Any, config: Path) -> int:
        out = config.with_name("botproc.json")
        cmd = [sys.executable, HERE, str(config), str(options.duration_seconds), str(out)]
        if pin and (os.cpu_count() or 1) > 1 and shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
        child = await asyncio.create_subprocess_exec(*cmd)
        code = await child.wait()
        if code != 0 or not out.exists():
            raise RuntimeError(f"the bot's process ended with exit code {code}")
        result = json.loads(out.read_text(encoding="utf-8"))
        seen.update(result["rtt"])
        if options.on_engine is not None:
            options.on_engine(SimpleNamespace(hot_path=[tuple(x) for x in result["hot_path"]]))
        return int(result["code"])

    return run


async def _main(config: Path, seconds: float, out: Path) -> None:
    from lightspeed_cli.config import logsetup
    from lightspeed_cli.config.settings import read_toml, validate_file_data
    from lightspeed_cli.runner import run_bot
    from lightspeed_cli.sim.binance import COPYTRADE
    from lightspeed_cli.sim.simulate import measure_rtt_ms, run_options

    logsetup.configure("ERROR")
    settings = validate_file_data(read_toml(config), str(config))
    binance = f"{settings.binance.base_url}{COPYTRADE}?portfolioId=0"
    rtt = {
        "binance_rtt_ms": await measure_rtt_ms(binance, samples=RTT_SAMPLES),
        "bybit_rtt_ms": await measure_rtt_ms(
            f"{settings.bybit.base_url}/v5/market/time", samples=RTT_SAMPLES
        ),
    }
    engines: list[Any] = []
    options = run_options(seconds, live_view=False, on_engine=engines.append)
    code = await run_bot(settings, options)
    hot_path = list(engines[0].hot_path) if engines else []
    out.write_text(json.dumps({"code": code, "rtt": rtt, "hot_path": hot_path}), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python benchmarks/botproc.py CONFIG.toml SECONDS OUT.json")
    from lightspeed_cli.runner import run_async

    run_async(_main(Path(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])))
