"""`lightspeed service install|status`: the bot as a systemd service, from one pasted command.

The unit comes from `unitfile.render_unit` (the same hardening as deploy/); the Bybit keys go
into credential files (0600 in a 0700 folder) that the unit hands over with LoadCredential=.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from lightspeed_cli.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    console,
    err_console,
    fail,
    read_secret_values,
)

app = typer.Typer(
    help="Install the bot as a systemd service and show how it runs.", no_args_is_help=True
)

USER_OPTION = typer.Option(
    False, "--user", help="A user service (no root) instead of a system one."
)
UNIT_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState", "NRestarts")


def running_script() -> Path | None:
    """The absolute path of the `lightspeed` command now running (pipx: ~/.local/bin/...).

    Symlinks are kept, not resolved: pipx's link survives `pipx upgrade`.
    """
    argv0 = sys.argv[0]
    if Path(argv0).name == "lightspeed":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found:
            return Path(os.path.abspath(found))
    beside = Path(sys.executable).with_name("lightspeed")  # `python -m lightspeed_cli` in a venv
    return Path(os.path.abspath(beside)) if beside.exists() else None


def _xdg_config() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def unit_path(user: bool, unit_dir: Path | None) -> Path:
    from lightspeed_cli.config.unitfile import SERVICE_NAME

    folder = unit_dir or (_xdg_config() / "systemd/user" if user else Path("/etc/systemd/system"))
    return folder / f"{SERVICE_NAME}.service"


def _config_for(ctx: typer.Context, user: bool) -> Path:
    """--config (or $LIGHTSPEED_CONFIG) when given; else the user's, or /etc's for a system unit."""
    from lightspeed_cli.config.paths import default_config_path
    from lightspeed_cli.config.unitfile import SYSTEM_CONFIG

    given = (ctx.find_root().obj or {}).get("config")
    if given:
        return Path(os.path.abspath(given))
    return default_config_path() if user else Path(SYSTEM_CONFIG)


def _write_private(folder: Path, values: dict[str, str]) -> None:
    """Each value in `folder/name`, mode 0600, the folder 0700 (made private if it was not)."""
    from lightspeed_cli.config.atomicfile import write_atomic

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    for name, value in values.items():
        write_atomic(folder / name, value + "\n", new_mode=0o600, force_mode=True)


def _read_credentials(stdin: bool, binance_session: bool) -> dict[str, str]:
    from lightspeed_cli.cli.keys_cmd import PROMPTS, KeyTarget
    from lightspeed_cli.config.secrets import SecretName, encode_binance_session

    labels: tuple[str, ...] = PROMPTS[KeyTarget.BYBIT]
    if binance_session:
        labels += PROMPTS[KeyTarget.BINANCE_SESSION]
    key, secret, *session = read_secret_values(labels, stdin)  # one reader, every line
    values = {SecretName.BYBIT_API_KEY.value: key, SecretName.BYBIT_API_SECRET.value: secret}
    if session:
        values[SecretName.BINANCE_SESSION.value] = encode_binance_session(session[0], session[1])
    return values


def _system_home(user: str) -> str:
    import pwd

    from lightspeed_cli.config.unitfile import SYSTEM_HOME

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return SYSTEM_HOME


@app.command("install")
def install_cmd(
    ctx: typer.Context,
    user: bool = USER_OPTION,
    stdin: bool = typer.Option(
        False, "--stdin", help="Read the Bybit key and secret from stdin, one per line."
    ),
    binance_session: bool = typer.Option(
        False, "--binance-session", help="Also store the Binance session (leaderboard traders)."
    ),
    no_keys: bool = typer.Option(
        False, "--no-keys", help="Keep the credential files there are; only write the unit."
    ),
    exec_path: Path | None = typer.Option(
        None, "--exec", help="The `lightspeed` command to run (default: this one).", dir_okay=False
    ),
    system_user: str = typer.Option("lightspeed", "--system-user", help="Who runs a system unit."),
    unit_dir: Path | None = typer.Option(None, "--unit-dir", help="Write the unit here instead."),
    credentials_dir: Path | None = typer.Option(
        None, "--credentials-dir", help="Keep the credential files here instead."
    ),
) -> None:
    """Write the systemd unit and its credential files, then print the systemctl lines.

    System unit (default; run with sudo): /etc/systemd/system/lightspeed.service, keys in
    /etc/lightspeed/credentials. --user: ~/.config/systemd/user/, ~/.config/lightspeed/.
    """
    from lightspeed_cli.config.secrets import SecretName
    from lightspeed_cli.config.unitfile import SYSTEM_CREDENTIALS, UnitSpec, render_unit

    command = exec_path or running_script()
    if command is None or not os.access(command, os.X_OK):
        fail(f"cannot run `{command}`: pass --exec PATH, the `lightspeed` to run", EXIT_USAGE)
    creds = credentials_dir or (
        _xdg_config() / "lightspeed/credentials" if user else Path(SYSTEM_CREDENTIALS)
    )
    creds = Path(os.path.abspath(creds))
    target = unit_path(user, unit_dir)
    config = _config_for(ctx, user)
    try:
        if not no_keys:
            _write_private(creds, _read_credentials(stdin, binance_session))
        names = tuple(n.value for n in SecretName if (creds / n.value).is_file())
        spec = UnitSpec(
            exec_start=os.path.abspath(command),
            config=str(config),
            credentials_dir=str(creds),
            user_unit=user,
            user=system_user,
            writable=(_system_home(system_user),),
            credentials=names,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_unit(spec), encoding="utf-8")
        target.chmod(0o644)
    except PermissionError as exc:
        fail(f"{exc.filename}: permission denied; run with sudo, or use --user", EXIT_FAILURE)
    except OSError as exc:
        fail(f"{exc.filename}: cannot write: {exc.strerror}", EXIT_FAILURE)
    missing = {SecretName.BYBIT_API_KEY.value, SecretName.BYBIT_API_SECRET.value} - set(names)
    if missing:
        err_console.print(f"warning: no {', '.join(sorted(missing))} in {creds}", markup=False)
    console.print(f"Wrote {target} (credentials: {creds})", highlight=False, markup=False)
    _print_next_steps(user, system_user, config, command)


def _print_next_steps(user: bool, system_user: str, config: Path, command: Path) -> None:
    sudo = "" if user else f"sudo -u {system_user} "
    ctl = "systemctl --user" if user else "sudo systemctl"
    lines = [
        f"{sudo}{command} --config {config} config validate",
        f"{sudo}{command} --config {config} license activate",
        f"{ctl} daemon-reload && {ctl} enable --now lightspeed",
        f"{'journalctl --user' if user else 'journalctl'} -u lightspeed -f",
        f"{command} --config {config} service status" + (" --user" if user else ""),
    ]
    if user:
        lines.insert(3, 'loginctl enable-linger "$USER"   # keep it running after you log out')
    console.print("Next:", highlight=False)
    for line in lines:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def unit_state(user: bool) -> dict[str, str] | str:
    """systemctl's view of the unit, or why there is none (no systemctl, no systemd running)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return "systemctl not found: systemd does not manage services on this machine"
    args = [systemctl, *(["--user"] if user else []), "show", "lightspeed.service"]
    args.append("--property=" + ",".join(UNIT_PROPERTIES))
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"systemctl failed: {exc}"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[0]
        return f"systemctl cannot tell (exit {done.returncode}): {reason}"
    return dict(line.partition("=")[::2] for line in done.stdout.splitlines() if "=" in line)


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    user: bool = USER_OPTION,
    unit_dir: Path | None = typer.Option(None, "--unit-dir", help="Where the unit was written."),
) -> None:
    """The unit's state (systemctl) and the bot's `status`, read with the unit's config.

    Exit 0 when the unit is active, 1 otherwise.
    """
    from lightspeed_cli.cli.status_cmd import show_status
    from lightspeed_cli.config.settings import ConfigError, load_settings
    from lightspeed_cli.config.unitfile import unit_environment, unit_user

    state = unit_state(user)
    path = unit_path(user, unit_dir)
    if isinstance(state, str):
        console.print(f"service: {state}", highlight=False, markup=False, soft_wrap=True)
        active = False
    else:
        active = state.get("ActiveState") == "active"
        shown = ", ".join(f"{k} {state.get(k, '?')}" for k in UNIT_PROPERTIES)
        console.print(f"service: {shown}", highlight=False, markup=False, soft_wrap=True)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    env = unit_environment(text)
    as_user = _reader(unit_user(text))
    if not path.is_file():
        console.print(f"unit file: {path} not found (`lightspeed service install`)", markup=False)
    given = (ctx.find_root().obj or {}).get("config")
    with _unit_env(env):  # read the config and data dir the way the service does
        try:
            settings = load_settings(given or env.get("LIGHTSPEED_CONFIG"), missing_ok=not given)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
        show_status(settings, paper=False, as_json=False, as_user=as_user)
    raise typer.Exit(0 if active else EXIT_FAILURE)


def _reader(user: str | None) -> str | None:
    """The unit's user when it is not the caller: the license is then read as that user's bot
    reads it (its machine fingerprint), and said so. None: read as the caller."""
    from lightspeed_cli.config.datadir import current_user

    me = current_user()
    if user is None or user == me:
        return None
    console.print(
        f"license: read as the unit's user {user} (you are {me}); a lease kept in {user}'s"
        " keyring cannot be seen from here",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return user


@contextmanager
def _unit_env(env: dict[str, str]) -> Iterator[None]:
    """The unit's LIGHTSPEED_* settings in os.environ for the block, then as they were."""
    names = [n for n in env if n.startswith("LIGHTSPEED_") and n != "LIGHTSPEED_CONFIG"]
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update({n: env[n] for n in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
