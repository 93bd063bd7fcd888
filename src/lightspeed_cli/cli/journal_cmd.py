"""`lightspeed journal ...`: what the user confirms about the journal."""

from __future__ import annotations

import typer

from lightspeed_cli.cli.common import console

app = typer.Typer(
    help="The journal (the bot's record of what it mirrored) against Bybit.",
    no_args_is_help=True,
)


@app.command("accept-rebuild")
def accept_rebuild_cmd(
    ctx: typer.Context,
    paper: bool = typer.Option(False, "--paper", help="The paper-trading journal."),
) -> None:
    """Confirm the mirrored book rebuilt from Bybit after the journal and Bybit disagreed.

    Check your Bybit positions first: those the bot could not prove its own are left alone and
    never closed by it. Opening resumes (also in a running bot, at its next open), and the
    bot's orders until now are not reported again.
    """
    from lightspeed_cli.cli.run_cmd import _open_journal
    from lightspeed_cli.reconcile import accept_rebuild

    _, journal = _open_journal(ctx, paper)
    with journal:
        reason = accept_rebuild(journal)
    if reason is None:
        console.print(
            "Nothing was waiting for confirmation; the bot's orders until now count as seen."
        )
    else:
        console.print(f"Accepted. It was: {reason}.\nNew positions may be opened again.")
