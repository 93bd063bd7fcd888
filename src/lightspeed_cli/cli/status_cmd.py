"""`lightspeed status` and `lightspeed history`: read the journal, never write it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, console, fail, get_settings, license_state
from lightspeed_cli.cli.errors import existing_journal, journal_errors, open_journal
from lightspeed_cli.cli.options import MAX_COUNT, int_option, parse_since
from lightspeed_cli.cli.output import emit_json, json_option

TABLE_ROWS = 200  # a screenful or a few; --json and --csv give every row

if TYPE_CHECKING:
    from rich.text import Text

    from lightspeed_cli.config.settings import Settings


def show_status(
    settings: Settings, *, paper: bool, as_json: bool, as_user: str | None = None
) -> None:
    """`status`: also what `service status` shows under the unit's state (`as_user`: the
    license as the unit's user holds it)."""
    from lightspeed_cli.steering.control import read_pause_state
    from lightspeed_cli.views.status import status_data, status_group
    from lightspeed_cli.views.target import target_data, target_text

    journal = open_journal(existing_journal(settings, paper))
    limit = settings.safety.daily_loss_limit_usdt
    blind_after = settings.notify.blind_after_seconds
    info, line = _license(settings, paper, as_user)
    labels = _labels(settings)
    with journal_errors(journal.path), journal:
        pause = read_pause_state(journal.path)
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


def _license(
    settings: Settings, paper: bool, as_user: str | None = None
) -> tuple[dict[str, Any], str | Text]:
    """`{"can_open", "state"}` for --json, and the line `status` shows (red when closing-only)."""
    if paper:
        text = "paper (no license needed)"
        return {"can_open": True, "state": text}, text
    from lightspeed_cli.license.gate import license_summary, license_text

    state = license_state(settings, as_user)
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
        limit: int | None = int_option(
            None,
            "--limit",
            min=1,
            help=f"At most this many rows, the newest (default: {TABLE_ROWS} in the table, every"
            " row with --json or --csv).",
        ),
        paper: bool = typer.Option(False, "--paper", help="Show the paper-trading journal."),
        as_json: bool = json_option(),
    ) -> None:
        """The trade journal: every signal, its decision, and the order's fill.

        A wide terminal gets a table, a narrow one (under 120 columns) one block per signal.
        """
        from lightspeed_cli.views.history import history_csv, history_records, history_view

        settings = get_settings(ctx, missing_ok=True)
        if as_json:
            from lightspeed_cli.runner import journal_path

            if not journal_path(settings, paper).exists():
                emit_json([])  # nothing has run yet: no signal, not an error for a script
                return
        journal = open_journal(existing_journal(settings, paper))
        with journal_errors(journal.path), journal:
            if limit is None:
                limit = TABLE_ROWS if csv_out is None and not as_json else MAX_COUNT
            start = parse_since("--since", since)
            rows = journal.history(since=start, trader=trader, limit=limit)
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
