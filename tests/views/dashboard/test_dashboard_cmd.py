"""`lightspeed dashboard` as a process: tokens never printed into a pipe (only their files are
named), a busy port said in one line."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from dashboard_rig import LIGHTSPEED, start_dashboard, stop_dashboard

from lightspeed_cli.views.dashboard.tokens import READ_TOKEN_FILE


def test_a_pipe_gets_the_token_files_name_not_the_token(hand_dir: Path) -> None:
    proc = subprocess.Popen(
        [*LIGHTSPEED, "--config", str(hand_dir / "config.toml"), "dashboard", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
    token = (hand_dir / "data" / READ_TOKEN_FILE).read_text().strip()
    assert lines[0].startswith("Dashboard on http://127.0.0.1:")
    assert str(hand_dir / "data" / READ_TOKEN_FILE) in lines[1]
    assert token not in "".join(lines)


def test_a_busy_port_is_one_line_and_exit_1(hand_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                *LIGHTSPEED,
                "--config",
                str(hand_dir / "config.toml"),
                "dashboard",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_stopped_dashboard_exits_cleanly(hand_dir: Path) -> None:
    board = start_dashboard(hand_dir)
    stop_dashboard(board)
    assert board.proc.returncode == 0
