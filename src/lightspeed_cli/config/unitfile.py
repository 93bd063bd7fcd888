"""The systemd units, rendered from one place: the files in deploy/ and `lightspeed service
install` both come from `render_unit`, so the hardening cannot drift between them.

Pure: no I/O. `python -m lightspeed_cli.config.unitfile DIR` rewrites deploy/'s two files.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_NAME = "lightspeed"
SYSTEM_USER = "lightspeed"
SYSTEM_HOME = "/var/lib/lightspeed"
SYSTEM_CONFIG = "/etc/lightspeed/config.toml"
SYSTEM_CREDENTIALS = "/etc/lightspeed/credentials"
USER_CREDENTIALS = "%h/.config/lightspeed/credentials"
DEFAULT_CREDENTIALS = ("bybit_api_key", "bybit_api_secret")

# exit 0: stopped on request; 2: config problem; 3: trading stopped (key, permission, license)
RESTART = (
    ("Restart", "on-failure"),
    ("RestartSec", "30"),
    ("RestartPreventExitStatus", "2 3"),
    ("KillSignal", "SIGTERM"),
    ("TimeoutStopSec", "60"),
)
# Exit 1 (Binance / Bybit unreachable at start, a crash) is retried 20 times in an hour, about
# 10 minutes of attempts; then the unit stays failed until `systemctl reset-failed` + start.
START_LIMIT = (("StartLimitIntervalSec", "3600"), ("StartLimitBurst", "20"))

# Enforced by seccomp / no_new_privs: these work in user units too (no privileges needed).
HARDENING_COMMON = (
    ("NoNewPrivileges", "yes"),
    ("PrivateTmp", "yes"),
    ("UMask", "0077"),
    ("LockPersonality", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictNamespaces", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
    ("SystemCallErrorNumber", "EPERM"),
)
# Mount namespaces and capability bounds: the system manager can set these up.
HARDENING_SYSTEM = (
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateDevices", "yes"),
    ("PrivateUsers", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("ProcSubset", "pid"),
    ("PrivateMounts", "yes"),
    ("RemoveIPC", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("MemoryDenyWriteExecute", "yes"),
    ("DevicePolicy", "closed"),
    ("KeyringMode", "private"),
)


@dataclass(frozen=True)
class UnitSpec:
    """What differs between units: who runs it, what it runs, what it reads and writes."""

    exec_start: str  # the `lightspeed` command (absolute path), without arguments
    config: str  # LIGHTSPEED_CONFIG
    credentials_dir: str  # where LoadCredential= reads the secret files
    user_unit: bool = False
    user: str = SYSTEM_USER  # system units only
    writable: tuple[str, ...] = (SYSTEM_HOME,)  # ReadWritePaths=, system units only
    credentials: tuple[str, ...] = DEFAULT_CREDENTIALS
    environment: tuple[str, ...] = ()  # more NAME=value lines
    header: tuple[str, ...] = field(default=(), compare=False)  # comment lines on top


def _lines(pairs: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"{key}={value}" for key, value in pairs]


def render_unit(spec: UnitSpec) -> str:
    """The unit file's text."""
    out = [f"# {line}".rstrip() for line in spec.header]
    out += ["[Unit]"]
    if spec.user_unit:
        out += ["Description=LightSpeed copy-trading bot (user service)"]
    else:
        out += [
            "Description=LightSpeed copy-trading bot (Binance lead traders -> Bybit)",
            "Documentation=https://github.com/lightspeed/lightspeed-cli#running-under-systemd",
            "Wants=network-online.target",
            "After=network-online.target time-sync.target",
        ]
    out += _lines(START_LIMIT)
    out += ["", "[Service]", "Type=simple"]
    if not spec.user_unit:
        out += [f"User={spec.user}", f"Group={spec.user}"]
    env = (f"LIGHTSPEED_CONFIG={spec.config}", "LIGHTSPEED_LOGGING__JSON_LINES=false")
    out += [f"Environment={line}" for line in (*env, *spec.environment)]
    out += [f"ExecStart={spec.exec_start} run --no-live"]
    out += _lines(RESTART)
    out += ["", "# Secrets: systemd credentials, readable only by this service"]
    out += [f"LoadCredential={name}:{spec.credentials_dir}/{name}" for name in spec.credentials]
    out += ["", "# Hardening (`systemd-analyze security` scores it; README records the score)"]
    out += _lines(HARDENING_COMMON)
    if not spec.user_unit:
        out += [f"ReadWritePaths={path}" for path in spec.writable]
        out += _lines(HARDENING_SYSTEM)
    out += ["", "[Install]", f"WantedBy={'default' if spec.user_unit else 'multi-user'}.target"]
    return "\n".join(out) + "\n"


def unit_environment(text: str) -> dict[str, str]:
    """The `Environment=NAME=value` settings of a unit file's text (later lines win)."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and key == "Environment":
            for assignment in shlex.split(value):
                name, eq, setting = assignment.partition("=")
                if eq:
                    env[name] = setting
    return env


SYSTEM_HEADER = (
    "System service for LightSpeed. `lightspeed service install`, run as root, writes this file",
    "with your paths and the credential files; by hand (README, Running under systemd):",
    "  sudo useradd --system --create-home --home-dir /var/lib/lightspeed lightspeed",
    "  sudo -u lightspeed -H pipx install /path/to/lightspeed  (puts `lightspeed` in ~/.local/bin)",
    "  sudo install -d -m 0750 -g lightspeed /etc/lightspeed",
    "  sudo install -m 0640 -g lightspeed config.example.toml /etc/lightspeed/config.toml",
    '    (edit it; storage.data_dir = "/var/lib/lightspeed/data": the service reads it there)',
    "  sudo -u lightspeed /var/lib/lightspeed/.local/bin/lightspeed \\",
    "    --config /etc/lightspeed/config.toml license activate",
    "  sudo install -d -m 0700 /etc/lightspeed/credentials",
    "  sudo install -m 0600 /dev/stdin /etc/lightspeed/credentials/bybit_api_key    (paste, ^D)",
    "  sudo install -m 0600 /dev/stdin /etc/lightspeed/credentials/bybit_api_secret",
    "  sudo cp deploy/lightspeed.service /etc/systemd/system/ && sudo systemctl daemon-reload",
    "  sudo systemctl enable --now lightspeed && journalctl -u lightspeed -f",
)
USER_HEADER = (
    "User service for LightSpeed (no root needed). `lightspeed service install --user` writes",
    "this file and the credential files; by hand (README, Running under systemd):",
    "  install -d -m 0700 ~/.config/lightspeed/credentials ~/.config/systemd/user",
    "  install -m 0600 /dev/stdin ~/.config/lightspeed/credentials/bybit_api_key     (paste, ^D)",
    "  install -m 0600 /dev/stdin ~/.config/lightspeed/credentials/bybit_api_secret",
    "  cp deploy/lightspeed-user.service ~/.config/systemd/user/lightspeed.service",
    "  systemctl --user daemon-reload && systemctl --user enable --now lightspeed",
    '  loginctl enable-linger "$USER"     # keep it running after you log out',
)


def shipped_units() -> dict[str, UnitSpec]:
    """deploy/'s files: the system unit for a pipx install under the `lightspeed` user."""
    return {
        "lightspeed.service": UnitSpec(
            exec_start=f"{SYSTEM_HOME}/.local/bin/lightspeed",
            config=SYSTEM_CONFIG,
            credentials_dir=SYSTEM_CREDENTIALS,
            header=SYSTEM_HEADER,
        ),
        "lightspeed-user.service": UnitSpec(
            exec_start="%h/.local/bin/lightspeed",
            config="%h/.config/lightspeed/config.toml",
            credentials_dir=USER_CREDENTIALS,
            user_unit=True,
            header=USER_HEADER,
        ),
    }


if __name__ == "__main__":  # python -m lightspeed_cli.config.unitfile deploy
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "deploy")
    for name, unit in shipped_units().items():
        (target / name).write_text(render_unit(unit), encoding="utf-8")
        print(f"wrote {target / name}")


def unit_user(text: str) -> str | None:
    """The `User=` a unit file's text runs the bot as (None: a user unit, the caller's own)."""
    found = None
    for raw in text.splitlines():
        key, sep, value = raw.strip().partition("=")
        if sep and key == "User" and value.strip():
            found = value.strip()
    return found
