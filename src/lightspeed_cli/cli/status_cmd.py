"""`lightspeed status` and `lightspeed history`: read the journal, never write it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings, license_state
from lightspeed_cli.cli.output import emit_json, json_option

if TYPE_CHECKING:
    from rich.text import Text

    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.journal.store import Journal


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


def _journal_exists(settings: Settings, paper: bool) -> bool:
    from lightspeed_cli.runner import journal_path

    return journal_path(settings, paper).exists()


def _open_journal(settings: Settings, paper: bool) -> Journal:
    from lightspeed_cli.journal.store import Journal
    from lightspeed_cli.runner import journal_path

    path = journal_path(settings, paper)
    if not path.exists():
        fail(f"no journal yet at {path}: nothing has run" + (" in paper mode" if paper else ""))
    with readable(path):
        return Journal(path)


@contextmanager
def readable(path: Path) -> Iterator[None]:
    """A damaged journal is one clear line and exit 3, never a traceback."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        from lightspeed_cli.journal.integrity import RECOVER_ACTION

        fail(f"cannot read the journal {path} ({exc}): {RECOVER_ACTION}", 3)


def show_status(settings: Settings, *, paper: bool, as_json: bool) -> None:
    """`status`: also what `service status` shows under the unit's state."""
    from lightspeed_cli.steering.control import read_pause_state
    from lightspeed_cli.views.status import status_data, status_group
    from lightspeed_cli.views.target import target_data, target_text

    journal = _open_journal(settings, paper)
    limit = settings.safety.daily_loss_limit_usdt
    blind_after = settings.notify.blind_after_seconds
    info, line = license_info(settings, paper)
    labels = _labels(settings)
    pause = read_pause_state(journal.path)
    with readable(journal.path), journal:
        if as_json:
            data = status_data(journal, labels, limit, info, blind_after=blind_after)
            opens = {"paused": pause.paused, "state": pause.describe()}
            emit_json({**data, "trading": target_data(settings, paper), "opens": opens})
            return
        target = target_text(settings, paper)
        console.print(
            status_group(journal, labels, limit, line, blind_after=blind_after, target=target)
        )
    console.print(f"Opens: {pause.describe()}", highlight=False)


def license_info(settings: Settings, paper: bool) -> tuple[dict[str, Any], str | Text]:
    """`{"can_open", "state"}` for --json, and the line `status` shows (red when closing-only)."""
    if paper:
        text = "paper (no license needed)"
        return {"can_open": True, "state": text}, text
    from lightspeed_cli.license.gate import license_summary, license_text

    state = license_state(settings)
    return {"can_open": state.can_open, "state": license_summary(state)}, license_text(state)


def _labels(settings: Settings) -> dict[str, str]:
    return {t.id: t.label for t in settings.traders}


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        ctx: typer.Context,
        paper: bool = typer.Option(False, "--paper", help="Show the paper-trading journal."),
        as_json: bool = json_option(),
    ) -> None:
        """License, traders and their last poll, open mirrored positions, today's PnL."""
        show_status(get_settings(ctx, missing_ok=True), paper=paper, as_json=as_json)

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
        as_json: bool = json_option(),
    ) -> None:
        """The trade journal: every signal, its decision, and the order's fill.

        A wide terminal gets a table, a narrow one (under 120 columns) one block per signal.
        """
        from lightspeed_cli.views.history import history_csv, history_records, history_view

        settings = get_settings(ctx, missing_ok=True)
        if as_json and not _journal_exists(settings, paper):
            emit_json([])  # nothing has run yet: no signal, not an error for a script
            return
        journal = _open_journal(settings, paper)
        with readable(journal.path), journal:
            rows = journal.history(since=_parse_since(since), trader=trader, limit=limit)
        if as_json:
            emit_json(history_records(rows))
        elif csv_out is not None:
            _write_csv(csv_out, history_csv(rows), len(rows))
        else:
            console.print(history_view(rows, _labels(settings), console.width))


def _write_csv(path: Path, text: str, count: int) -> None:
    if str(path) == "-":
        typer.echo(text, nl=False)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--csv {path}: cannot write: {exc.strerror or exc}", EXIT_USAGE)
    console.print(f"wrote {count} rows to {path}", highlight=False)
