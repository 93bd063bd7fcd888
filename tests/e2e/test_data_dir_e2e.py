"""Start-up on a data dir that cannot be used: one clear line and exit code 2 (issue 12, item 6);
a full disk instead is an alert and a wait, and the start goes on once space is freed
(issue 22, item 6).

Exit 2 is in the units' `RestartPreventExitStatus=`, so systemd does not restart a bot that
only the user can fix. A read-only or full file system is real: as root (CI), a bind mount
remounted read-only or a 64 KiB tmpfs filled up, in a private mount namespace (`unshare -m`);
otherwise a dir without write permission, and a file size limit of 0.
"""

from __future__ import annotations

import os
import resource
import shlex
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit
from e2e_rig import LIGHTSPEED, TRADER_A, base_env

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.runner import PAPER_JOURNAL
from lightspeed_cli.sim.binance import FakeBinance
from lightspeed_cli.sim.bybit import FakeBybit

ROOT = os.geteuid() == 0


def write_config(tmp_path: Path, data_dir: Path) -> Path:
    config = tmp_path / "config.toml"
    doc = {
        "traders": [{"id": TRADER_A, "source": "copytrade"}],
        "storage": {"data_dir": str(data_dir)},
    }
    config.write_text(tomlkit.dumps(doc), encoding="utf-8")
    Settings.model_validate(doc)  # the config itself is fine: only the data dir is not
    return config


def start(
    tmp_path: Path, config: Path, *, shell: str = "", preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lightspeed run --paper`, after `shell` (mount commands) in a private namespace."""
    argv = [*LIGHTSPEED, "--config", str(config), "run", "--paper", "--no-live"]
    if shell:
        script = f"{shell} && exec {shlex.join(argv)}"
        argv = ["unshare", "-m", "sh", "-c", script]
    return subprocess.run(
        argv,
        env=base_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
    )


def assert_clear_stop(result: subprocess.CompletedProcess[str], *said: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for text in ("error: data dir", *said):
        assert text in lines[0], (text, lines[0])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    made = tmp_path / "data"
    made.mkdir(mode=0o700)
    return made


def test_read_only_data_dir(tmp_path: Path, data: Path) -> None:
    config = write_config(tmp_path, data)
    if ROOT:
        d = shlex.quote(str(data))
        read_only = f"mount --bind {d} {d} && mount -o remount,bind,ro {d}"
        assert_clear_stop(start(tmp_path, config, shell=read_only), "read-only")
    else:
        data.chmod(0o500)
        assert_clear_stop(start(tmp_path, config), "permission denied")
    assert not (data / PAPER_JOURNAL).exists()


def test_full_data_dir(tmp_path: Path, data: Path, webhook) -> None:
    config = write_config(tmp_path, data)
    if not ROOT:

        def no_file_growth() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

        assert_clear_stop(start(tmp_path, config, preexec=no_file_growth), "size limit")
        return
    # issue 22: a full disk passes once space is freed: an alert, a wait, and the start goes
    # on by itself (an exit here became "down for good" under systemd's start limit). The
    # filler is removed from inside the private namespace after a few seconds.
    d = shlex.quote(str(data))
    fill = f"(dd if=/dev/zero of={d}/filler bs=64k count=64 2>/dev/null; true)"
    tiny = f"mount -t tmpfs -o size=4m,mode=0700 tmpfs {d} && {fill}"
    freed = f"(sleep 4; rm -f {d}/filler) >/dev/null 2>&1 &"
    argv = [*LIGHTSPEED, "--config", str(config), "run", "--paper", "--no-live"]
    script = f"{tiny} || exit 1\n{freed}\nexec {shlex.join(argv)}"
    with FakeBinance.running() as binance, FakeBybit.running() as bybit:
        binance.clear_positions(TRADER_A)
        urls = (
            f'\n[notify]\nwebhook_url = "{webhook.url}"\n[bybit]\nbase_url = "{bybit.url}"\n'
            f'[binance]\nbase_url = "{binance.url}"\n'
        )
        config.write_text(config.read_text(encoding="utf-8") + urls, encoding="utf-8")
        bot = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script],
            env=base_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            said = _read_until(bot, "following 1 trader", timeout=60)
        finally:
            bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(timeout=30)
            except subprocess.TimeoutExpired:
                bot.kill()
        assert "disk is full" in said and "trying again" in said, said
        assert "Traceback" not in said
        assert any("disk is full" in t for t in webhook.texts()), webhook.texts()


def _read_until(bot: subprocess.Popen[str], text: str, timeout: float) -> str:
    """What the bot printed until `text` (or its exit, or the timeout: then the test fails)."""
    import threading

    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert bot.stdout is not None
        for line in bot.stdout:
            seen.append(line)
            if text in line:
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    found.wait(timeout)
    said = "".join(seen)
    assert text in said, said
    return said


def test_unwritable_journal(tmp_path: Path, data: Path) -> None:
    """The journal can be read but not written (immutable as root, 0400 otherwise): stopped at
    start, not at the first order."""
    journal = data / PAPER_JOURNAL
    Journal(journal).close()
    config = write_config(tmp_path, data)
    if not ROOT:
        journal.chmod(0o400)
        assert_clear_stop(start(tmp_path, config), "permission denied", str(journal))
        return
    subprocess.run(["chattr", "+i", str(journal)], check=True)
    try:
        assert_clear_stop(start(tmp_path, config), "permission denied", str(journal))
    finally:
        subprocess.run(["chattr", "-i", str(journal)], check=True)


@pytest.mark.parametrize("in_the_way", ["file", "parent-file"])
def test_a_file_where_the_data_dir_should_be(tmp_path: Path, in_the_way: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    data = blocker if in_the_way == "file" else blocker / "data"
    result = start(tmp_path, write_config(tmp_path, data))
    assert_clear_stop(result, str(blocker))
