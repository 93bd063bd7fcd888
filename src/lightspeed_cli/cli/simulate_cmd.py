"""`lightspeed simulate`: the quick start's command, printing what sim/simulate.py runs."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from lightspeed_cli.sim.report import FidelityReport
from lightspeed_cli.sim.scenario import hyperliquid_scenario
from lightspeed_cli.sim.simulate import (
    BINANCE_RTT_MS,
    BYBIT_RTT_MS,
    DEFAULT_REPORT_PATH,
    EXIT_STOPPED,
    default_scenario,
    option_problem,
    run_simulation,
    write_report_json,
)

SOURCES = {"copytrade": default_scenario, "hyperliquid": hyperliquid_scenario}


def simulate_command(
    *,
    seconds: float,
    report: bool,
    report_json: Path | None,
    plot: Path | None,
    binance_rtt_ms: float = BINANCE_RTT_MS,
    bybit_rtt_ms: float = BYBIT_RTT_MS,
    source: str = "copytrade",
) -> int:
    """The CLI entry: run, print the summary (and the fidelity report), write JSON / PNG."""
    from rich.markup import escape

    from lightspeed_cli.cli.common import console, err_console
    from lightspeed_cli.config import logsetup
    from lightspeed_cli.runner import StartupError
    from lightspeed_cli.sim import views

    if source not in SOURCES:
        err_console.print(
            f"[red]error:[/] --source {escape(source)}: use one of {', '.join(SOURCES)}",
            highlight=False,
        )
        return 2
    scenario = SOURCES[source]()
    problem = option_problem(seconds, scenario, plot)
    if problem:
        err_console.print(f"[red]error:[/] {escape(problem)}", highlight=False)
        return 2
    logsetup.configure("ERROR")  # refusals are in the summary; errors still show
    console.print(views.intro(scenario, seconds))
    on_terminal = sys.stdout.isatty()
    if not on_terminal:  # no live view to watch: say what the next seconds are for
        leaders = "Hyperliquid" if source == "hyperliquid" else "Binance"
        console.print(f"simulate: starting the fake {leaders} and Bybit and the bot", markup=False)
    try:
        with tempfile.TemporaryDirectory(prefix="lightspeed-simulate-") as tmp:
            result = asyncio.run(
                run_simulation(
                    seconds,
                    scenario=scenario,
                    data_dir=Path(tmp),
                    live_view=on_terminal,
                    progress=None if on_terminal else _say,
                    binance_rtt_ms=binance_rtt_ms,
                    bybit_rtt_ms=bybit_rtt_ms,
                )
            )
    except StartupError as exc:
        err_console.print(f"[red]the bot did not start:[/] {escape(str(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the bot took over the signal
        result = None
    if result is None or result.stopped_early:
        console.print("[yellow]stopped[/] (interrupted): no verdict, nothing written")
        return EXIT_STOPPED
    console.print(views.summary(result.report))
    if report:
        console.print(views.fidelity(result.report))
    try:
        for line in _write_outputs(
            result.report, report_json or (DEFAULT_REPORT_PATH if report else None), plot
        ):
            console.print(escape(line))
    except OSError as exc:
        err_console.print(
            f"[red]error:[/] cannot write {escape(str(exc.filename))}: {exc.strerror}"
        )
        return 1
    console.print(views.verdict(result.report, result.engine_exit_code))
    if not report:
        console.print(
            "[dim]--report adds the fidelity figures (exposure error, latency, slippage) and"
            " writes them as JSON; --plot FILE.png draws the exposure over time[/]"
        )
    return result.exit_code


def _say(line: str) -> None:
    from lightspeed_cli.cli.common import console

    console.print(line, markup=False, highlight=False)


def _write_outputs(report: FidelityReport, json_path: Path | None, plot: Path | None) -> list[str]:
    """Write the JSON report and the PNG that were asked for; say what was written."""
    written = []
    if json_path is not None:
        write_report_json(report, json_path)
        written.append(f"report written to {json_path}")
    if plot is not None:
        from lightspeed_cli.sim.plot import plot_exposure

        plot_exposure(report, plot)
        written.append(f"exposure plot written to {plot}")
    return written
