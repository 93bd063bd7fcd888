"""Starting the dashboard, shared by `lightspeed dashboard` and `run --dashboard`: the tokens,
the socket (made first, so a busy port is said at once), the one-time announcement."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

from lightspeed_cli.license.listener import listen_socket
from lightspeed_cli.views.dashboard.app import DashboardContext, is_loopback
from lightspeed_cli.views.dashboard.tokens import (
    CONTROL_TOKEN_FILE,
    READ_TOKEN_FILE,
    LoadedTokens,
    Role,
)


def open_socket(host: str, port: int) -> socket.socket:
    return listen_socket(host, port)


def url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def announce(
    ctx: DashboardContext,
    loaded: LoadedTokens,
    sock: socket.socket,
    data_dir: Path,
    say: Callable[[str], None],
    *,
    show_tokens: bool | None = None,
) -> None:
    """Where it listens and how to get in. A token is shown only when it was just made and
    only to a terminal (never into a log); else where its 0600 file is."""
    show = sys.stdout.isatty() if show_tokens is None else show_tokens
    base = url(ctx.host, sock)
    say(f"Dashboard on {base}" + ("" if is_loopback(ctx.host) else " (open to other hosts)"))
    files = {Role.READ: READ_TOKEN_FILE, Role.CONTROL: CONTROL_TOKEN_FILE}
    tokens = {Role.READ: loaded.tokens.read, Role.CONTROL: loaded.tokens.control}
    for role in (Role.READ, Role.CONTROL):
        token = tokens[role]
        if token is None:
            continue
        what = "read-only" if role is Role.READ else "control (pause, resume, close-all)"
        if show and role in loaded.new:
            say(f"  {what}: {base}?token={token}  (shown once; kept in {data_dir / files[role]})")
        else:
            say(f"  {what} token: in {data_dir / files[role]} (open {base}?token=<it>)")
