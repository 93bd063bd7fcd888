"""`lightspeed journal check|recover|accept-rebuild`: a damaged journal; a rebuild from Bybit."""

from __future__ import annotations

from pathlib import Path

import typer

from lightspeed_cli.cli.common import console, fail, get_settings
from lightspeed_cli.cli.errors import (
    EXIT_DAMAGED,
    existing_journal,
    journal_errors,
    journal_problem,
    open_journal,
)

app = typer.Typer(
    help="Check or recover the journal database; confirm a rebuild from Bybit.",
    no_args_is_help=True,
)


def _path(ctx: typer.Context, paper: bool) -> Path:
    return existing_journal(get_settings(ctx, missing_ok=True), paper, "nothing to check")


def _usable(path: Path) -> None:
    """A directory in the journal's place, or a read-only, full or foreign file system, is said
    as such (exit 2): it is not damage, and `recover` would move a good file away."""
    from lightspeed_cli.config.datadir import filesystem_problem

    problem = filesystem_problem(path.parent)
    if path.is_dir() or problem:
        raise journal_problem(path, OSError(problem or "a directory"))


@app.command()
def check(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The paper-trading journal."),
) -> None:
    """PRAGMA quick_check of the journal: exit 0 if sound, 3 if damaged."""
    from lightspeed_cli.journal.integrity import RECOVER_ACTION, check_file

    path = _path(ctx, paper)
    with journal_errors(path):
        problems = check_file(path)
    if problems:
        _usable(path)
    if problems:
        fail(f"{path} is damaged: {'; '.join(problems[:5])}. {RECOVER_ACTION}", EXIT_DAMAGED)
    console.print(f"{path}: ok")


@app.command()
def recover(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The paper-trading journal."),
) -> None:
    """Rebuild a damaged journal from every row still readable.

    The damaged file is kept beside it as `journal.sqlite3.damaged-<UTC time>`. The bot must be
    stopped. On its next start the bot reconciles the rebuilt journal with Bybit (the truth).
    """
    from lightspeed_cli.config.instancelock import AlreadyRunning, instance_lock
    from lightspeed_cli.journal.integrity import JournalDamaged, recover

    path = _path(ctx, paper)
    _usable(path)  # before anything is moved: never a half-done recovery
    try:
        with instance_lock(path):
            report = recover(path)
    except AlreadyRunning as exc:
        fail(str(exc))
    except JournalDamaged as exc:
        fail(str(exc), EXIT_DAMAGED)
    except OSError as exc:
        fail(f"cannot recover {path}: {exc}")
    console.print(f"rebuilt {path}: {report.rows} row(s) kept")
    for table in report.tables:
        note = "  [yellow]some rows unreadable: lost[/]" if table.damaged else ""
        console.print(f"  {table.table}: {table.rows}{note}")
    console.print(f"the damaged file is kept as {report.kept_as}")
    console.print(
        "next: start the bot (`lightspeed run`, or `systemctl restart lightspeed`); at start it"
        " reconciles the journal with Bybit, which is the truth. Check `lightspeed status` and"
        " your Bybit positions afterwards."
    )


@app.command("accept-rebuild")
def accept_rebuild_cmd(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The paper-trading journal."),
) -> None:
    """Confirm the mirrored book rebuilt from Bybit after the journal and Bybit disagreed.

    Check your Bybit positions first: those the bot could not prove its own are left alone and
    never closed by it. Opening resumes (a running bot sees it at its next open), and the bot's
    orders until now are not reported again.
    """
    from lightspeed_cli.engine.reconcile import accept_rebuild

    path = _path(ctx, paper)
    with open_journal(path, checked=True) as journal, journal_errors(path):
        reason = accept_rebuild(journal)
    if reason is None:
        console.print(
            "Nothing was waiting for confirmation; the bot's orders so far count as seen."
        )
    else:
        console.print(f"Accepted ({reason}). New positions may be opened again.")
