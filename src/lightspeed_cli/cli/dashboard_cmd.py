"""`lightspeed dashboard`: the local web dashboard over the journal, with or without a bot."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from lightspeed_cli.cli.common import console, fail, get_settings


def register(app: typer.Typer) -> None:
    @app.command()
    def dashboard(
        ctx: typer.Context,
        paper: bool = typer.Option(False, "--paper", help="Show the paper-trading journal."),
        host: str | None = typer.Option(
            None, help="Address to listen on (default dashboard.host, 127.0.0.1)."
        ),
        port: int | None = typer.Option(
            None, min=0, max=65535, help="TCP port (default dashboard.port; 0 = any free one)."
        ),
        control: bool = typer.Option(
            False, "--control", help="Make a control token that may pause, resume and close-all."
        ),
        new_token: bool = typer.Option(
            False, "--new-token", help="Replace the tokens (old links stop working)."
        ),
        show_tokens: bool = typer.Option(
            False, "--show-tokens", hidden=True, help="Print new tokens even when not a terminal."
        ),
    ) -> None:
        """Serve the dashboard: overview, per-trader edge kept, /metrics. Ctrl-C stops it.

        Bound to 127.0.0.1 (reach it from elsewhere through an SSH tunnel, see README). Every
        request needs the token it prints once (kept 0600 in the data dir).
        """
        from lightspeed_cli.cli.control_cmd import act
        from lightspeed_cli.cli.status_cmd import license_info
        from lightspeed_cli.config.datadir import prepare_data_dir
        from lightspeed_cli.runner import journal_path, run_async
        from lightspeed_cli.steering.control import Command, read_pause_state
        from lightspeed_cli.views.dashboard.app import DashboardContext, create_app
        from lightspeed_cli.views.dashboard.server import serve
        from lightspeed_cli.views.dashboard.tokens import load_tokens
        from lightspeed_cli.views.dashboard.wiring import announce, open_socket

        settings = get_settings(ctx, missing_ok=True)
        data_dir = settings.storage.resolved_data_dir()
        try:
            prepare_data_dir(data_dir)
            loaded = load_tokens(data_dir, control=control, renew=new_token)
        except OSError as exc:
            fail(f"data dir {data_dir}: {exc}")
        bind = host or settings.dashboard.host
        try:
            sock = open_socket(bind, settings.dashboard.port if port is None else port)
        except OSError as exc:
            fail(str(exc))
        path = journal_path(settings, paper)

        async def steer(command: str) -> tuple[bool, str]:
            from lightspeed_cli.execution.base import BrokerError

            try:
                return await act(settings, paper, Command(command))
            except BrokerError as exc:
                return False, f"cannot reach Bybit: {exc.message}"
            except Exception as exc:  # the journal or its disk: said on the page, never silent
                return False, f"{command} failed: {exc}"

        context = DashboardContext(
            settings=settings,
            paper=paper,
            journal_path=path,
            tokens=loaded.tokens,
            host=bind,
            license_info=lambda: license_info(settings, paper)[0],
            opens=lambda: read_pause_state(path).describe(),
            act=steer if control else None,
        )

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, stop.set)
            # said once the signals are ours: a SIGTERM right after the banner stops cleanly
            announce(
                context,
                loaded,
                sock,
                data_dir,
                lambda line: console.print(line, highlight=False, soft_wrap=True),
                show_tokens=True if show_tokens else None,
            )
            await serve(create_app(context), sock, stop)

        try:
            run_async(main())
        finally:
            sock.close()
