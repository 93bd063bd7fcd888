"""`lightspeed license ...` and `lightspeed license-server ...` end to end, real server.

The lease goes through secrets.py: with no keyring (the suite's default) into the 0600 file
fallback, and in one test into a keyrings.alt keyring. The key never appears in full in any
output, and the lease never at all.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from license_helpers import dead_url
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.config.secrets import SecretName, get_secret, lease_file_path
from lightspeed_cli.license.fingerprint import MACHINE_ID_ENV
from lightspeed_cli.license.keys import mask_key
from lightspeed_cli.license.store import STATE_FILE, load_state
from lightspeed_cli.license.testing import RunningLicenseServer

KEY_LINE = re.compile(r"^LS(-[0-9A-Z]{5}){6}$", re.MULTILINE)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def config_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a config pointing at `url`; this test process plays machine "cli"."""
    id_file = tmp_path / "machine-id"
    id_file.write_text("cli-machine\n")
    monkeypatch.setenv(MACHINE_ID_ENV, str(id_file))

    def write(url: str) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(
            f'[license]\nserver_url = "{url}"\n\n[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        )
        return path

    return write


def _cli(runner: CliRunner, config: Path, *args: str, **kwargs: object):
    return runner.invoke(app, ["--config", str(config), *args], **kwargs)


def _lease(config: Path):  # type: ignore[no-untyped-def]
    """The lease `config`'s commands stored: the one of its data dir."""
    return get_secret(SecretName.LICENSE_LEASE, data_dir=config.parent / "data")


def _assert_secret_free(output: str, key: str, config: Path) -> None:
    assert key not in output
    assert key[3:].replace("-", "") not in output.replace("-", "")
    lease = _lease(config)
    if lease is not None:
        assert lease.value not in output
        assert lease.value.split(".")[1][:20] not in output


def test_activate_status_deactivate(
    runner: CliRunner, license_server: RunningLicenseServer, config_for
) -> None:
    config = config_for(license_server.url)
    key = license_server.issue(seats=2, days=30)

    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    result = _cli(runner, config, "license", "activate", typo)
    assert result.exit_code == 2 and "typo" in result.output
    assert license_server.record(key).seats_used == 0  # nothing was sent

    result = _cli(runner, config, "license", "activate", key)
    assert result.exit_code == 0, result.output
    assert "License activated" in result.output and "1 of 2 in use" in result.output
    assert mask_key(key) in result.output and "expires" in result.output
    _assert_secret_free(result.output, key, config)
    # no keyring in the suite: the 0600 file fallback, in the config's data dir
    lease_file = lease_file_path(config.parent / "data")
    assert stat.S_IMODE(lease_file.stat().st_mode) == 0o600
    assert "private file" in result.output
    assert not lease_file_path().exists()  # not in the default data dir

    result = _cli(runner, config, "license", "status")
    assert result.exit_code == 0, result.output
    assert "License: valid" in result.output
    assert mask_key(key) in result.output and license_server.record(key).key_id in result.output
    assert "offline grace" in result.output and "left without contact" in result.output
    _assert_secret_free(result.output, key, config)

    license_server.revoke(key)
    result = _cli(runner, config, "license", "status", "--check")
    assert result.exit_code == 1
    assert "not valid" in result.output and "revoked" in result.output
    assert "CLOSING ONLY" in result.output and "closes still mirror" in result.output

    result = _cli(runner, config, "license", "deactivate", "--yes")
    assert result.exit_code == 0, result.output
    assert license_server.record(key).seats_used == 0
    assert _lease(config) is None
    result = _cli(runner, config, "license", "status")
    assert result.exit_code == 1 and "no license lease found" in result.output


def test_activating_a_second_key_frees_the_first_keys_seat(
    runner: CliRunner, license_server: RunningLicenseServer, config_for
) -> None:
    config = config_for(license_server.url)
    first, second = license_server.issue(seats=1), license_server.issue(seats=1)
    assert _cli(runner, config, "license", "activate", first).exit_code == 0
    result = _cli(runner, config, "license", "activate", second)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps long lines
    assert f"previous key {mask_key(first)}" in said and "seat is free" in said
    assert license_server.record(first).seats_used == 0
    assert license_server.record(second).seats_used == 1
    _assert_secret_free(result.output, first, config)
    _assert_secret_free(result.output, second, config)


def test_activate_prompts_without_echo_into_a_keyring(
    runner: CliRunner, license_server: RunningLicenseServer, config_for
) -> None:
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    try:
        config = config_for(license_server.url)
        key = license_server.issue()
        result = _cli(runner, config, "license", "activate", input=f"{key}\n")
        assert result.exit_code == 0, result.output
        assert "License key" in result.output
        _assert_secret_free(result.output, key, config)
        stored = _lease(config)
        assert stored is not None and stored.source == "keyring"
        assert not lease_file_path(config.parent / "data").exists()
        assert get_secret(SecretName.LICENSE_LEASE) is None  # its own entry, by data dir
        assert _cli(runner, config, "license", "status").exit_code == 0
    finally:
        keyring.set_keyring(previous)


def test_activation_refusal_and_unreachable_server_fail_clearly(
    runner: CliRunner, license_server: RunningLicenseServer, config_for
) -> None:
    config = config_for(license_server.url)
    key = license_server.issue(seats=1)
    license_server.service.db.activate(
        license_server.record(key).key_id, "f" * 64, license_server.service.now()
    )
    result = _cli(runner, config, "license", "activate", key)
    assert result.exit_code == 1 and "seats_exhausted" in result.output
    dead = config_for(dead_url())
    result = _cli(runner, dead, "license", "activate", key)
    assert result.exit_code == 1 and "cannot reach" in result.output
    _assert_secret_free(result.output, key, config)


def test_admin_commands_on_one_database(runner: CliRunner, tmp_path: Path, config_for) -> None:
    config = config_for(dead_url())
    db = str(tmp_path / "admin.sqlite3")
    result = _cli(
        runner,
        config,
        "license-server",
        "issue",
        "--seats",
        "3",
        "--days",
        "10",
        "--note",
        "bob",
        "--db",
        db,
    )
    assert result.exit_code == 0, result.output
    found = KEY_LINE.search(result.output)  # shown once, at issue
    assert found and "cannot be shown again" in result.output
    key = found.group(0)

    listing = _cli(runner, config, "license-server", "list", "--db", db)
    assert listing.exit_code == 0 and key not in listing.output
    assert mask_key(key) in listing.output and "active" in listing.output
    assert "0/3" in listing.output and "bob" in listing.output
    key_id = re.search(r"\b[0-9a-f]{16}\b", listing.output).group(0)

    extended = _cli(runner, config, "license-server", "extend", key_id, "--days", "5", "--db", db)
    assert extended.exit_code == 0 and key_id in extended.output
    revoked = _cli(runner, config, "license-server", "revoke", key.lower(), "--db", db)
    assert revoked.exit_code == 0 and "revoked" in revoked.output

    assert (
        _cli(runner, config, "license-server", "revoke", "0123456789abcdef", "--db", db).exit_code
        == 1
    )
    assert _cli(runner, config, "license-server", "revoke", "nonsense", "--db", db).exit_code == 2


def test_admin_releases_a_dead_machines_seat(
    runner: CliRunner, license_server: RunningLicenseServer, config_for
) -> None:
    config = config_for(license_server.url)
    db = str(license_server.service.db.path)
    key = license_server.issue(seats=1)
    assert _cli(runner, config, "license", "activate", key).exit_code == 0
    status = _cli(runner, config, "license", "status")
    prefix = re.search(r"this machine\s+([0-9a-f]{16})…", status.output).group(1)

    seats = _cli(runner, config, "license-server", "seats", key, "--db", db)
    assert seats.exit_code == 0 and "seats 1/1" in seats.output
    assert f"{prefix}…" in seats.output
    assert key not in seats.output

    short = _cli(runner, config, "license-server", "release", key, prefix[:7], "--db", db)
    assert short.exit_code == 2 and "at least 8" in short.output
    other = "0" * 8 if not prefix.startswith("0" * 8) else "f" * 8
    missing = _cli(runner, config, "license-server", "release", key, other, "--db", db)
    assert missing.exit_code == 1 and "no machine" in missing.output
    assert license_server.record(key).seats_used == 1

    released = _cli(runner, config, "license-server", "release", key, prefix, "--db", db)
    assert released.exit_code == 0 and "Released" in released.output
    assert license_server.record(key).seats_used == 0
    # the released machine's next heartbeat is refused: it stops opening (closes still mirror)
    check = _cli(runner, config, "license", "status", "--check")
    assert check.exit_code == 1 and "refused" in check.output
    assert "seat was" in " ".join(check.output.split())
    empty = _cli(runner, config, "license-server", "seats", key, "--db", db)
    assert empty.exit_code == 0 and "No machine holds a seat" in empty.output


# Runs the CLI in a Python that cannot import the server extra (starlette, uvicorn).
_WITHOUT_SERVER_EXTRA = """
import sys
class NoServerExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoServerExtra())
from lightspeed_cli.cli import main
main()
"""


def test_admin_commands_work_without_the_server_extra(tmp_path: Path, config_for) -> None:
    config = config_for(dead_url())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", _WITHOUT_SERVER_EXTRA, "--config", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    db = str(tmp_path / "admin.sqlite3")
    issued = cli("license-server", "issue", "--db", db)
    assert issued.returncode == 0, issued.stderr
    key = KEY_LINE.search(issued.stdout).group(0)
    for args in (("list",), ("seats", key), ("extend", key, "--days", "1"), ("revoke", key)):
        done = cli("license-server", *args, "--db", db)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    serve = cli("license-server", "serve", "--db", db)
    assert serve.returncode == 1 and "Traceback" not in serve.stderr
    said = " ".join((serve.stdout + serve.stderr).split())
    assert "needs the server extra" in said and "'.[server]'" in said


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[str, list[str], Path, Path]]:
    """`lightspeed license-server serve` as a real subprocess on a free port."""
    url = dead_url()
    db, key_file = tmp_path / "srv" / "db.sqlite3", tmp_path / "srv" / "signing.key"
    command = ["license-server", "serve", "--port", url.rsplit(":", 1)[1]]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lightspeed_cli.cli import main; main()",
            *command,
            "--db",
            str(db),
            "--key-file",
            str(key_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        banner: list[str] = []
        while not banner or not banner[-1].startswith("Listening on"):
            line = proc.stdout.readline()
            assert line, f"serve exited early: {banner}"
            banner.append(line.strip())
        for _ in range(200):
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url, banner, db, key_file
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_readme_flow_serve_issue_activate_status(
    runner: CliRunner, serve_process: tuple[str, list[str], Path, Path], config_for
) -> None:
    url, banner, db, key_file = serve_process
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert banner[0].startswith("Signing key created")
    public_key = banner[banner.index(next(b for b in banner if b.startswith("Public key"))) + 1]
    assert httpx.get(f"{url}/v1/health").json()["public_key"] == public_key

    config = config_for(url)
    issued = _cli(runner, config, "license-server", "issue", "--seats", "1", "--db", str(db))
    key = KEY_LINE.search(issued.output).group(0)
    assert _cli(runner, config, "license", "activate", key).exit_code == 0
    status = _cli(runner, config, "license", "status")
    assert status.exit_code == 0 and "License: valid" in status.output
    assert load_state(config.parent / "data" / STATE_FILE).public_key == public_key
