"""`lightspeed pause`, `resume`, `close-all`: through the running bot, or directly without one.

A running bot holds the journal's instance lock: the request goes into the control file and the
bot answers it. With no bot, the command takes the lock itself (so no bot starts meanwhile) and
acts: pause / resume set the stored flag the next run starts with; close-all closes on Bybit.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, console, err_console, fail, get_settings
from lightspeed_cli.cli.errors import journal_errors

if TYPE_CHECKING:
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.steering.control import Command

PAUSE_TIMEOUT = 15.0
CLOSE_ALL_TIMEOUT = 110.0  # below the control file's request TTL: never acted on after we gave up
SOURCE = "shell"
CLOSE_BY_HAND = (
    "Check your Bybit positions now: close what must be closed on Bybit itself (web or app),"
    " or fix the problem above and run `lightspeed close-all --yes` again."
)

_PAPER = typer.Option(False, "--paper", help="Act on the paper-trading bot and journal.")


async def _through_bot(settings: Settings, paper: bool, command: Command) -> tuple[bool, str]:
    from lightspeed_cli.runner import journal_path
    from lightspeed_cli.steering.control import (
        Command,
        ControlStore,
        RequestStatus,
        control_path,
        wait_for_answer,
    )

    timeout = CLOSE_ALL_TIMEOUT if command is Command.CLOSE_ALL else PAUSE_TIMEOUT
    with ControlStore(control_path(journal_path(settings, paper))) as store:
        request_id = store.submit(command, SOURCE)
        answer = await wait_for_answer(store, request_id, timeout)
    if answer is None:
        return False, (
            f"the running bot did not answer within {timeout:g} s (see its log); the request"
            " expires unanswered and will not be acted on later"
        )
    return answer.status is RequestStatus.DONE, f"{answer.result} (the running bot acted)"


async def _directly(settings: Settings, paper: bool, command: Command) -> tuple[bool, str]:
    """No bot running: act here (the caller holds the instance lock)."""
    from lightspeed_cli.journal.integrity import open_checked
    from lightspeed_cli.runner import RunOptions, build_broker, journal_path
    from lightspeed_cli.steering.control import (
        Command,
        Control,
        ControlStore,
        RequestStatus,
        control_path,
    )

    path = journal_path(settings, paper)
    with open_checked(path) as journal, ControlStore(control_path(path)) as store:
        broker = None
        if command is Command.CLOSE_ALL:
            broker = build_broker(settings, RunOptions(paper=paper))
        try:
            if broker is not None:
                await broker.start()
            control = Control(store, broker=broker, journal=journal, events=journal.record_event)
            answer = await control.execute(command, SOURCE)
        finally:
            if broker is not None:
                await broker.aclose()
    return answer.status is RequestStatus.DONE, f"{answer.result} (no bot running: acted here)"


def _act(ctx: typer.Context, paper: bool, command: Command) -> None:
    """Through the running bot, or here; a journal or disk that cannot be used is said with
    what to do instead (close-all is the panic button: never a traceback, never silent)."""
    from lightspeed_cli.config.instancelock import AlreadyRunning, instance_lock
    from lightspeed_cli.execution.base import BrokerError
    from lightspeed_cli.runner import journal_path, run_async
    from lightspeed_cli.steering.control import Command

    settings = get_settings(ctx, missing_ok=True)
    path = journal_path(settings, paper)
    then = CLOSE_BY_HAND if command is Command.CLOSE_ALL else f"Nothing was {command.value}d."
    with journal_errors(path, then):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with instance_lock(path):
                try:
                    ok, text = run_async(_directly(settings, paper, command))
                except BrokerError as exc:
                    fail(f"cannot reach Bybit: {exc.message}")
        except AlreadyRunning:
            ok, text = run_async(_through_bot(settings, paper, command))
    console.print(text, highlight=False, soft_wrap=True)
    if not ok:
        if command is Command.CLOSE_ALL:
            err_console.print(CLOSE_BY_HAND, highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command()
    def pause(ctx: typer.Context, paper: bool = _PAPER) -> None:
        """Stop opening positions; closes and reduces still mirror. Kept across restarts."""
        from lightspeed_cli.steering.control import Command

        _act(ctx, paper, Command.PAUSE)

    @app.command()
    def resume(ctx: typer.Context, paper: bool = _PAPER) -> None:
        """Allow opening positions again after `pause` or `close-all`."""
        from lightspeed_cli.steering.control import Command

        _act(ctx, paper, Command.RESUME)

    @app.command("close-all")
    def close_all(
        ctx: typer.Context,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        paper: bool = _PAPER,
    ) -> None:
        """Close every position the bot holds (reduce-only market orders) and pause opens.

        Only what the journal says the bot opened, clipped to what Bybit holds: positions you
        opened yourself are left alone. Works with or without a running bot.
        """
        from lightspeed_cli.steering.control import Command

        if not yes:
            if not sys.stdin.isatty():
                fail("close-all sends market orders: confirm with --yes", EXIT_USAGE)
            typer.confirm(
                "Close every position the bot holds with market orders, and pause opens?",
                abort=True,
            )
        _act(ctx, paper, Command.CLOSE_ALL)
