"""Top-level commands: run, doctor, simulate (status and history: journal_cmd.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.text import Text

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings
from lightspeed_cli.cli.options import MAX_USDT
from lightspeed_cli.cli.output import json_option


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        ctx: typer.Context,
        paper: bool = typer.Option(
            False, "--paper", help="Simulated fills at Bybit's price: no keys, no license."
        ),
        paper_equity: float = typer.Option(
            10_000, help="Starting paper balance in USDT, above 0 (first paper run only)."
        ),
        json_logs: bool = typer.Option(
            False, "--json-logs", help="Structured JSON log lines (default under systemd: plain)."
        ),
        no_live: bool = typer.Option(False, "--no-live", help="Plain log lines, no live view."),
        dashboard: bool = typer.Option(
            False, "--dashboard", help="Serve the local web dashboard too ([dashboard] settings)."
        ),
        duration: float | None = typer.Option(
            None, "--duration", help="Stop by itself after this many seconds.", hidden=True
        ),
    ) -> None:
        """Follow the configured traders and mirror their trades on Bybit.

        Validates the license, reconciles the journal with Bybit, then polls every trader.
        SIGTERM / Ctrl-C stops it cleanly after in-flight orders (exit 0); exit 3 means
        trading was stopped (bad API key or permission); exit 2 a config problem.
        """
        from lightspeed_cli.config import logsetup
        from lightspeed_cli.runner import RunOptions, StartupError, run_async, run_bot

        if not 0 < paper_equity <= MAX_USDT:  # also refuses nan and inf
            fail(
                f"--paper-equity {paper_equity:g}: must be above 0 USDT, at most {MAX_USDT:g}",
                EXIT_USAGE,
            )
        settings = get_settings(ctx)
        live = None if not no_live else False
        if json_logs or settings.logging.json_lines:
            live = False
        logsetup.configure(
            settings.logging.level,
            json_lines=json_logs or settings.logging.json_lines,
        )
        from lightspeed_cli.views.target import target_text

        # before anything else: which network, paper or live, which account (mainnet in red)
        console.print(Text("Trading on ").append(target_text(settings, paper)), soft_wrap=True)
        options = RunOptions(
            paper=paper,
            paper_equity_usdt=Decimal(str(paper_equity)),
            live_view=live,
            duration_seconds=duration,
            dashboard=dashboard,
        )
        try:
            code = run_async(run_bot(settings, options))
        except StartupError as exc:
            fail(str(exc), exc.exit_code)
        raise typer.Exit(code)

    @app.command()
    def doctor(
        ctx: typer.Context,
        paper: bool = typer.Option(
            False, "--paper", help="Check only what `run --paper` needs (no keys, no license)."
        ),
        as_json: bool = json_option(),
    ) -> None:
        """Check config, keys, license, Binance and Bybit reachability, clock skew, data dir."""
        from lightspeed_cli.cli.doctor import run_doctor

        raise typer.Exit(run_doctor(ctx, paper=paper, as_json=as_json))

    @app.command()
    def simulate(
        ctx: typer.Context,
        seconds: float = typer.Option(20.0, help="How long to run the scripted scenario."),
        report: bool = typer.Option(False, "--report", help="Print and save a fidelity report."),
        report_json: Path | None = typer.Option(None, "--json", help="Write the report as JSON."),
        plot: Path | None = typer.Option(
            None, "--plot", help="Draw leader vs follower exposure to this PNG (needs [plot])."
        ),
        binance_rtt: float = typer.Option(
            50.0, min=0, max=5000, help="Milliseconds the fake Binance adds to every answer."
        ),
        bybit_rtt: float = typer.Option(
            20.0, min=0, max=5000, help="Milliseconds the fake Bybit adds to every answer."
        ),
        source: str = typer.Option(
            "copytrade",
            "--source",
            help="The leaders: copytrade (Binance, polled) or hyperliquid (wallets, pushed:"
            " --binance-rtt is then the push's one-way delay).",
        ),
    ) -> None:
        """Run the real engine against built-in fake Binance (or Hyperliquid) and Bybit: no
        keys, no network."""
        from lightspeed_cli.cli.simulate_cmd import simulate_command

        raise typer.Exit(
            simulate_command(
                seconds=seconds,
                report=report,
                report_json=report_json,
                plot=plot,
                binance_rtt_ms=binance_rtt,
                bybit_rtt_ms=bybit_rtt,
                source=source,
            )
        )
