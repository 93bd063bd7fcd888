"""Top-level commands: run, status, history, doctor, simulate."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import typer

from lightspeed_cli.cli.common import (
    EXIT_USAGE,
    console,
    fail,
    get_settings,
)


def _parse_since(value: str | None) -> datetime | None:
    """`--since 2h`, `--since 3d`, or an ISO date/time (UTC)."""
    if not value:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: use 30m, 2h, 7d or an ISO date like 2026-11-01", EXIT_USAGE)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _open_journal(ctx: typer.Context, paper: bool):  # type: ignore[no-untyped-def]
    from lightspeed_cli.journal import Journal
    from lightspeed_cli.runner import journal_path

    settings = get_settings(ctx, missing_ok=True)
    path = journal_path(settings, paper)
    if not path.exists():
        fail(f"no journal yet at {path}: nothing has run" + (" in paper mode" if paper else ""))
    with readable(path):
        return settings, Journal(path)


@contextmanager
def readable(path: Path) -> Iterator[None]:
    """A damaged journal is one clear line and exit 3, never a traceback."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        from lightspeed_cli.journalcheck import RECOVER_ACTION

        fail(f"cannot read the journal {path} ({exc}): {RECOVER_ACTION}", 3)


def _license_line(settings):  # type: ignore[no-untyped-def]
    """Green when `run` may open, bold red "CLOSING ONLY: why" otherwise."""
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.license.gate import license_text

    client = LicenseClient(settings.license, settings.storage.resolved_data_dir())
    return license_text(client.state())


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        ctx: typer.Context,
        paper: bool = typer.Option(
            False, "--paper", help="Simulated fills at Bybit's price: no keys, no license."
        ),
        paper_equity: float = typer.Option(
            10_000, help="Starting paper balance in USDT (first paper run only)."
        ),
        json_logs: bool = typer.Option(
            False, "--json-logs", help="Structured JSON log lines (default under systemd: plain)."
        ),
        no_live: bool = typer.Option(False, "--no-live", help="Plain log lines, no live view."),
        duration: float | None = typer.Option(
            None, "--duration", help="Stop by itself after this many seconds.", hidden=True
        ),
    ) -> None:
        """Follow the configured traders and mirror their trades on Bybit.

        Validates the license, reconciles the journal with Bybit, then polls every trader.
        SIGTERM / Ctrl-C stops it cleanly after in-flight orders (exit 0); exit 3 means
        trading was stopped (bad API key or permission); exit 2 a config problem.
        """
        from lightspeed_cli import logsetup
        from lightspeed_cli.runner import RunOptions, StartupError, run_async, run_bot

        settings = get_settings(ctx)
        live = None if not no_live else False
        if json_logs or settings.logging.json_lines:
            live = False
        logsetup.configure(
            settings.logging.level,
            json_lines=json_logs or settings.logging.json_lines,
        )
        options = RunOptions(
            paper=paper,
            paper_equity_usdt=Decimal(str(paper_equity)),
            live_view=live,
            duration_seconds=duration,
        )
        try:
            code = run_async(run_bot(settings, options))
        except StartupError as exc:
            fail(str(exc), exc.exit_code)
        raise typer.Exit(code)

    @app.command()
    def status(
        ctx: typer.Context,
        paper: bool = typer.Option(False, "--paper", help="Show the paper-trading journal."),
    ) -> None:
        """License, traders and their last poll, open mirrored positions, today's PnL."""
        settings, journal = _open_journal(ctx, paper)
        with readable(journal.path), journal:
            from lightspeed_cli.views import status_group

            labels = {t.id: t.label for t in settings.traders}
            license_line = "paper (no license needed)" if paper else _license_line(settings)
            console.print(
                status_group(
                    journal,
                    labels,
                    settings.safety.daily_loss_limit_usdt,
                    license_line,
                    blind_after=settings.notify.blind_after_seconds,
                )
            )
        from lightspeed_cli.control import read_pause_state
        from lightspeed_cli.runner import journal_path

        console.print(f"Opens: {read_pause_state(journal_path(settings, paper)).describe()}")

    @app.command()
    def history(
        ctx: typer.Context,
        since: str | None = typer.Option(None, help="Only since then: 30m, 2h, 7d or ISO date."),
        trader: str | None = typer.Option(None, help="Only this trader id."),
        csv_out: Path | None = typer.Option(
            None, "--csv", help="Write CSV to this file ('-' for stdout) instead of a table."
        ),
        limit: int = typer.Option(200, min=1, help="At most this many rows (newest)."),
        paper: bool = typer.Option(False, "--paper", help="Show the paper-trading journal."),
    ) -> None:
        """The trade journal: every signal, its decision, and the order's fill."""
        from lightspeed_cli.views import history_csv, history_table

        _, journal = _open_journal(ctx, paper)
        with readable(journal.path), journal:
            rows = journal.history(since=_parse_since(since), trader=trader, limit=limit)
        if csv_out is not None:
            text = history_csv(rows)
            if str(csv_out) == "-":
                typer.echo(text, nl=False)
            else:
                csv_out.write_text(text, encoding="utf-8")
                console.print(f"wrote {len(rows)} rows to {csv_out}")
            return
        console.print(history_table(rows))

    @app.command()
    def doctor(ctx: typer.Context) -> None:
        """Check config, keys, license, Binance and Bybit reachability, clock skew, data dir."""
        from lightspeed_cli.doctor import run_doctor

        raise typer.Exit(run_doctor(ctx))

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
    ) -> None:
        """Run the real engine against built-in fake Binance and Bybit: no keys, no network."""
        from lightspeed_cli.sim.simulate import simulate_command

        raise typer.Exit(
            simulate_command(
                seconds=seconds,
                report=report,
                report_json=report_json,
                plot=plot,
                binance_rtt_ms=binance_rtt,
                bybit_rtt_ms=bybit_rtt,
            )
        )
