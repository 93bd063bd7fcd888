"""The README's VPS steps and the shipped system unit agree on one lease (issue 13).

The README's lines are run as written (only `sudo`, the `-g lightspeed` group and the real
paths are swapped for this test's folders), against a real license server on 127.0.0.1; then
the unit's own command line (`ExecStart=`, with its `Environment=` and credentials, and the
service user's home) starts the bot, which must find the lease those lines stored: it opens
positions (not closing-only), and there is exactly one lease on the machine.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import tomlkit
from test_systemd_units import DEPLOY, service_section

from lightspeed_cli.license.testing import run_license_server
from lightspeed_cli.sim.binance import FakeBinance, FakePosition
from lightspeed_cli.sim.bybit import DEFAULT_API_KEY, DEFAULT_API_SECRET, FakeBybit

REPO = DEPLOY.parent
TRADER = "5000000000000000001"
LIGHTSPEED = f"{shlex.quote(sys.executable)} -m lightspeed_cli"


def readme_system_block() -> list[str]:
    """The README's system-service shell lines (up to the user-service part)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("# system service\n", 1)[1].split("```", 1)[0]
    return [line for line in block.split("# or a user service")[0].splitlines() if line.strip()]


def readme_line(lines: list[str], pattern: str) -> str:
    found = [line for line in lines if re.search(pattern, line)]
    assert len(found) == 1, (pattern, found)
    return found[0]


class Machine:
    """The VPS's paths under a tmp root; runs shell lines as the README writes them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "var/lib/lightspeed"  # the service user's home (useradd --home-dir)
        self.admin_home = root / "home/admin"  # whoever types the README's lines
        for path in (self.home, self.admin_home, root / "etc/lightspeed"):
            path.mkdir(parents=True)
        machine_id = root / "machine-id"
        machine_id.write_text("0123456789abcdef0123456789abcdef\n")
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LIGHTSPEED_") and k not in ("CREDENTIALS_DIRECTORY", "HOME")
        }
        self.base_env.update(
            {
                "LIGHTSPEED_MACHINE_ID_FILE": str(machine_id),
                "PYTHONUNBUFFERED": "1",
                "COLUMNS": "200",
                "PYTHONPATH": os.pathsep.join(sys.path),
            }
        )

    def local(self, text: str) -> str:
        """The real paths of the README and the unit, moved under the tmp root."""
        for real in ("/var/lib/lightspeed", "/etc/lightspeed", "/etc/systemd"):
            text = text.replace(real, f"{self.root}{real}")
        return text

    def as_written(self, line: str) -> str:
        """A README line for this test: no sudo (one test user plays both), our lightspeed."""
        line = line.split("  #")[0].strip()
        line = re.sub(r"^sudo (-u lightspeed (-H )?)?", "", line)
        line = line.replace(" -g lightspeed", "").replace("$LS", LIGHTSPEED)
        return self.local(line)

    def sh(self, line: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", self.as_written(line)],
            cwd=REPO,
            env={**self.base_env, "HOME": str(self.admin_home)},  # sudo may keep the admin's
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,  # no terminal: the hidden prompt reads stdin
        )


def baselined(journal: Path) -> bool:
    """The bot has read the trader once (its later changes are mirrored)."""
    if not journal.exists():
        return False
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        return bool(
            db.execute("SELECT 1 FROM trader_state WHERE baseline_at IS NOT NULL").fetchall()
        )
    except sqlite3.OperationalError:
        return False  # schema not created yet
    finally:
        db.close()


def edit_config(path: Path, binance: str, bybit: str, license_url: str) -> None:
    """The user's `sudoedit` step: a trader, the URLs; the data dir is the README's line."""
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    doc["license"]["server_url"] = license_url  # type: ignore[index]
    doc["bybit"]["base_url"] = bybit  # type: ignore[index]
    doc["binance"]["base_url"] = binance  # type: ignore[index]
    doc["polling"]["interval_seconds"] = 0.2  # type: ignore[index]
    trader = tomlkit.table()
    trader.update({"id": TRADER, "source": "copytrade", "label": "alice"})
    doc["traders"] = tomlkit.aot()
    doc["traders"].append(trader)  # type: ignore[union-attr]
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def test_the_service_sees_the_lease_the_readme_commands_stored(tmp_path: Path) -> None:
    vps = Machine(tmp_path / "vps")
    lines = readme_system_block()
    unit = service_section("lightspeed.service")
    with (
        FakeBinance.running() as binance,
        FakeBybit.running() as bybit,
        run_license_server(tmp_path / "license-server") as server,
    ):
        binance.set_mark_price("BTCUSDT", "60000")
        binance.clear_positions(TRADER)
        steps = (
            r"install -m 0640 .*config\.toml",
            r"sed -i .*data_dir",
            r"install -d .*/credentials$",
        )
        for pattern in steps:
            done = vps.sh(readme_line(lines, pattern))
            assert done.returncode == 0, done.stderr
        config = Path(vps.local("/etc/lightspeed/config.toml"))
        edit_config(config, binance.url, bybit.url, server.url)
        pasted = {"bybit_api_key": DEFAULT_API_KEY, "bybit_api_secret": DEFAULT_API_SECRET}
        for name, value in pasted.items():
            done = vps.sh(readme_line(lines, rf"/dev/stdin .*/{name}\b"), stdin=f"{value}\n")
            assert done.returncode == 0, done.stderr

        key = server.issue(seats=1)
        activated = vps.sh(readme_line(lines, r"license activate"), stdin=f"{key}\n")
        assert activated.returncode == 0, activated.stdout + activated.stderr
        status = vps.sh(readme_line(lines, r"license status"))
        assert status.returncode == 0 and "License: valid" in status.stdout, status.stdout

        # the service: its ExecStart, its Environment=, its credentials, its user's home
        env = {**vps.base_env, "HOME": str(vps.home)}
        for assignment in unit["Environment"]:
            name, _, value = vps.local(assignment).partition("=")
            env[name] = value
        credentials = tmp_path / "credentials"  # what systemd makes of LoadCredential=
        credentials.mkdir(mode=0o700)
        for spec in unit["LoadCredential"]:
            name, _, source = vps.local(spec).partition(":")
            (credentials / name).write_text(Path(source).read_text())
        env["CREDENTIALS_DIRECTORY"] = str(credentials)
        command = shlex.split(unit["ExecStart"][0])
        assert command[0] == "/var/lib/lightspeed/.local/bin/lightspeed"
        log = tmp_path / "service.log"
        with log.open("wb") as out:
            service = subprocess.Popen(
                [sys.executable, "-m", "lightspeed_cli", *command[1:]],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 60
            while "following 1 trader" not in log.read_text() and service.poll() is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            said = log.read_text()
            assert "LIVE: following 1 trader" in said, said
            assert "CLOSING ONLY" not in said and "no license lease" not in said, said
            while not baselined(vps.home / "data" / "journal.sqlite3"):
                assert service.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            binance.set_positions(TRADER, [FakePosition.long("BTCUSDT", "0.5", "60000")])
            while not bybit.orders:  # it opens: the license it found is valid
                assert service.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            service.send_signal(signal.SIGTERM)
            assert service.wait(30) == 0, log.read_text()

    leases = sorted(vps.root.rglob("license_lease"))
    assert leases == [vps.home / "data" / "license_lease"]  # one lease, in the config's data dir
    assert not list(vps.admin_home.rglob("*lightspeed*"))  # nothing in whoever typed the lines
