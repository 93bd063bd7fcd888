"""Issue 21: the commands that printed a traceback, run as a user runs them (a subprocess in a
temp HOME): each is one clear line and a documented exit code.

A read-only and a full file system are real ones: a small tmpfs mounted for the test (root
only, as in CI; skipped where mounting is refused). "Another user" runs the command as
`nobody` with setpriv when the suite is root (root itself is never denied), else it takes the
permission away with chmod.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightspeed_cli.journal.store import Journal

LIGHTSPEED = [sys.executable, "-m", "lightspeed_cli"]
ROOT = os.geteuid() == 0
CONTROL = (("pause",), ("resume",), ("close-all", "--yes"), ("journal", "accept-rebuild"))
READERS = (("status",), ("history",), ("journal", "check"))


class User:
    """`lightspeed ...` in a private HOME and XDG dirs, with a config naming `data`."""

    def __init__(self, base: Path, as_nobody: bool = False) -> None:
        self.home = base / "home"
        self.data = base / "data"
        self.config = base / "config.toml"
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(f'[storage]\ndata_dir = "{self.data}"\n', encoding="utf-8")
        self.as_nobody = as_nobody

    @property
    def journal(self) -> Path:
        return self.data / "paper-journal.sqlite3"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTSPEED_")}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
            COLUMNS="200",
        )
        return env

    def __call__(
        self, *args: str, stdin: bytes = b"", config: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command = [*(prefix if self.as_nobody else []), *LIGHTSPEED]
        command += ["--config", str(self.config)] if config else []
        done = subprocess.run(
            [*command, *args],
            input=stdin,
            env={**self.env(), **(env or {})},
            capture_output=True,
            timeout=60,
        )
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )


def assert_error(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """Exit `code`, no traceback, one `error:` line on stderr naming each needle."""
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output, output
    errors = [line for line in done.stderr.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def user(tmp_path: Path) -> User:
    return User(tmp_path)


def _healthy(user: User) -> None:
    assert user("pause", "--paper").returncode == 0
    assert user("resume", "--paper").returncode == 0


# ---- the journal: a text file, a directory, overwritten pages ------------------------------


@pytest.mark.parametrize("command", CONTROL)
def test_a_text_file_for_a_journal_is_damage(user: User, command: tuple[str, ...]) -> None:
    user.data.mkdir(mode=0o700)
    user.journal.write_text("hello\n")
    line = assert_error(user(*command, "--paper"), 3, "damaged", "journal recover")
    if command[0] == "close-all":
        assert "close what must be closed on Bybit itself" in line


@pytest.mark.parametrize("command", (*CONTROL, ("journal", "recover")))
def test_a_directory_for_a_journal_is_said_and_left(user: User, command: tuple[str, ...]) -> None:
    user.journal.mkdir(parents=True)
    line = assert_error(user(*command, "--paper"), 2, "is a directory", "not damage")
    assert "do not run `journal recover`" in line
    moved = [p.name for p in user.data.iterdir() if ".damaged-" in p.name or "recovering" in p.name]
    assert moved == [], "nothing half-done: no file moved aside, no .recovering left"
    assert user.journal.is_dir()


@pytest.mark.parametrize("command", CONTROL)
def test_overwritten_pages_are_damage(user: User, command: tuple[str, ...]) -> None:
    from journal_damage import damage_middle, grow_journal

    user.data.mkdir(mode=0o700)
    grow_journal(user.journal, events=3000)
    damage_middle(user.journal)
    assert_error(user(*command, "--paper"), 3, "damaged", "journal recover")


# ---- a read-only and a full file system (a real tmpfs) ------------------------------------


@pytest.fixture
def tmpfs(user: User) -> Iterator[Path]:
    if not ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    user.data.mkdir(mode=0o700)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(user.data)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mount refused here: {done.stderr.decode().strip()}")
    try:
        yield user.data
    finally:
        subprocess.run(["umount", "-l", str(user.data)], check=False)


def _remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def _fill(path: Path) -> None:
    with (path / "filler").open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


@pytest.mark.parametrize("state", ("read-only", "full"))
def test_an_unusable_file_system_is_not_damage(user: User, tmpfs: Path, state: str) -> None:
    _healthy(user)
    if state == "read-only":
        _remount(tmpfs, "ro")
    else:
        _fill(tmpfs)
    try:
        for command in (*READERS, *CONTROL, ("journal", "recover")):
            line = assert_error(user(*command, "--paper"), 2, state, "not damage")
            assert "damaged" not in line
        assert_error(user("close-all", "--yes", "--paper"), 2, "on Bybit itself")
    finally:
        if state == "read-only":
            _remount(tmpfs, "rw")
    (tmpfs / "filler").unlink(missing_ok=True)
    assert user("journal", "check", "--paper").returncode == 0, "the journal was left sound"


# ---- another user ----------------------------------------------------------------------


@pytest.fixture
def other() -> Iterator[User]:
    """A User whose files belong to this test's user, run as someone else (see module doc)."""
    base = Path(tempfile.mkdtemp(prefix="ls-other-"))
    base.chmod(0o755)
    try:
        yield User(base, as_nobody=ROOT)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_another_users_data_dir(other: User) -> None:
    other.as_nobody, nobody = False, other.as_nobody
    _healthy(other)  # made by its owner
    other.as_nobody = nobody
    other.config.chmod(0o644)
    if not ROOT:
        other.data.chmod(0o500)
    try:
        for command in (*READERS, *CONTROL):
            assert_error(other(*command, "--paper"), 2, "permission denied", "not damage")
    finally:
        other.data.chmod(0o700)


@pytest.mark.parametrize(
    "command",
    (("status",), ("license", "status"), ("doctor",), ("service", "status"), ("keys", "status")),
)
def test_a_config_this_user_cannot_read(other: User, command: tuple[str, ...]) -> None:
    folder = other.config.parent / "etc"
    folder.mkdir(mode=0o700)
    config = folder / "config.toml"
    config.write_text("")
    if not ROOT:
        folder.chmod(0)
    try:
        done = other("--config", str(config), *command, config=False)
    finally:
        folder.chmod(0o700)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "permission denied" in output.lower()
    assert done.returncode in (1, 2), output  # doctor: its table, exit 1; the others: 2


# ---- input: not UTF-8, numbers out of range ----------------------------------------------


@pytest.mark.parametrize(
    "command",
    (
        ("license", "activate", "--stdin"),
        ("keys", "set", "bybit", "--stdin"),
        ("service", "install", "--stdin", "--exec", sys.executable),
    ),
)
def test_bytes_that_are_not_utf8_on_stdin(user: User, command: tuple[str, ...]) -> None:
    extra: tuple[str, ...] = ()
    env = {}
    if command[0] == "service":
        extra = ("--unit-dir", str(user.home / "units"), "--credentials-dir", str(user.home / "c"))
    if command[0] == "keys":  # a keyring that works, so the value is read
        env = {"PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    assert_error(user(*command, *extra, stdin=b"\xff\xfe\n", env=env), 2, "not UTF-8")


def test_service_install_reads_every_secret_from_stdin(user: User) -> None:
    creds = user.home / "creds"
    done = user(
        "service",
        "install",
        "--stdin",
        "--binance-session",
        "--exec",
        sys.executable,
        "--unit-dir",
        str(user.home / "units"),
        "--credentials-dir",
        str(creds),
        stdin=b"KEY1\nSECRET2\nP20T3\nCSRF4\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (creds / "bybit_api_key").read_text().strip() == "KEY1"
    assert (creds / "bybit_api_secret").read_text().strip() == "SECRET2"
    session = (creds / "binance_session").read_text()
    assert "P20T3" in session and "CSRF4" in session


@pytest.mark.parametrize(
    "args",
    (
        ("issue", "--seats", "99999999999999999999"),
        ("issue", "--days", "inf"),
        ("issue", "--days", "nan"),
        ("issue", "--days", "1e12"),
        ("issue", "--days", "3000000"),
        ("serve", "--lease-hours", "1e12"),
    ),
)
def test_license_server_numbers_out_of_range(user: User, args: tuple[str, ...]) -> None:
    db = user.home / "keys.sqlite3"
    assert_error(user("license-server", args[0], "--db", str(db), *args[1:]), 2, args[1])
    assert not db.exists() or args[0] == "serve"


def test_license_server_extend_out_of_range(user: User) -> None:
    db = user.home / "keys.sqlite3"
    issued = user("license-server", "issue", "--db", str(db), "--days", "30000")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.split()[0]
    for days in ("1e12", "5000000"):
        assert_error(user("license-server", "extend", key, "--db", str(db), "--days", days), 2)
    line = assert_error(
        user("license-server", "extend", key, "--db", str(db), "--days", "30000"), 2
    )
    assert "36500 days" in line


def test_a_lease_hours_bound_keeps_activation_working() -> None:
    from pydantic import ValidationError

    from lightspeed_cli.license.server import MAX_LEASE_HOURS, ServerConfig

    assert ServerConfig(lease_hours=MAX_LEASE_HOURS).lease_hours == MAX_LEASE_HOURS
    for bad in (1e12, float("inf"), float("nan")):
        with pytest.raises(ValidationError):
            ServerConfig(lease_hours=bad)


def test_license_activate_with_an_address_that_cannot_exist(user: User) -> None:
    from lightspeed_cli.license.keys import generate_key

    user.config.write_text(
        f'[storage]\ndata_dir = "{user.data}"\n'
        '[license]\nserver_url = "http://256.256.256.256:8765"\npublic_key = "x"\n'
    )
    done = user("license", "activate", generate_key())
    assert done.returncode in (1, 2), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_history_numbers_out_of_range(user: User) -> None:
    _healthy(user)
    assert_error(user("history", "--paper", "--since", "99999999999d"), 2, "--since")
    assert_error(user("history", "--paper", "--limit", "99999999999999999999999"), 2, "--limit")


def test_forecast_plot_to_a_text_file(user: User) -> None:
    pytest.importorskip("matplotlib")
    user.config.write_text(
        f'[storage]\ndata_dir = "{user.data}"\n'
        '[binance]\nbase_url = "http://127.0.0.1:9"\n'
        '[[traders]]\nid = "3803470589839557376"\nsource = "copytrade"\n'
    )
    done = user("traders", "forecast", "3803470589839557376", "--plot", "file.txt")
    assert_error(done, 2, "--plot file.txt", ".png")


def test_a_healthy_journal_under_a_damaged_path_is_not_moved(user: User) -> None:
    """`journal check` on a sound journal stays 0, and Journal opens it afterwards."""
    _healthy(user)
    assert user("journal", "check", "--paper").returncode == 0
    with Journal(user.journal):
        pass
