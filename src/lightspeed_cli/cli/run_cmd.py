"""Top-level commands: run, status, history, doctor, simulate."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import not_available


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        paper: bool = typer.Option(False, "--paper", help="Simulated fills, no keys needed."),
    ) -> None:
        """Follow the configured traders and mirror their trades on Bybit."""
        not_available("run")

    @app.command()
    def status() -> None:
        """License, traders and their last poll, open mirrored positions, today's PnL."""
        not_available("status")

    @app.command()
    def history() -> None:
        """The trade journal as a table, or CSV."""
        not_available("history")

    @app.command()
    def doctor() -> None:
        """Check config, keys, license, exchange reachability, clock skew and the data dir."""
        not_available("doctor")

    @app.command()
    def simulate() -> None:
        """Run the real engine against built-in fake Binance and Bybit: no keys, no network."""
        not_available("simulate")
