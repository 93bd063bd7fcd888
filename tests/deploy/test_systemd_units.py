"""The shipped systemd units: restart policy, hardening and credentials that match secrets.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lightspeed_cli.config.secrets import SecretName

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("lightspeed.service", "lightspeed-user.service")


def unit_text(name: str) -> str:
    return (DEPLOY / name).read_text(encoding="utf-8")


def section(text: str, wanted: str) -> dict[str, list[str]]:
    """One [Section] of a unit file: every key with its values in order."""
    values: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            continue
        if current == wanted:
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def service_section(name: str) -> dict[str, list[str]]:
    return section(unit_text(name), "Service")


@pytest.mark.parametrize("unit", UNITS)
def test_unit_runs_the_bot_and_restarts_only_on_failure(unit: str) -> None:
    service = service_section(unit)
    assert service["ExecStart"][0].endswith("/lightspeed run --no-live")
    assert service["Restart"] == ["on-failure"]
    unit = section(unit_text(unit), "Unit")
    # exit 1 is retried, but not every few seconds forever: a start limit ends it
    assert int(unit["StartLimitBurst"][0]) <= 20 and int(unit["StartLimitIntervalSec"][0]) >= 600
    # config errors (2) and refused keys (3) will not fix themselves: no restart loop
    assert set(service["RestartPreventExitStatus"][0].split()) == {"2", "3"}
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["PrivateTmp"] == ["yes"]


@pytest.mark.parametrize("unit", UNITS)
def test_credentials_use_the_names_secrets_py_reads(unit: str) -> None:
    names = {v.split(":", 1)[0] for v in service_section(unit)["LoadCredential"]}
    assert {SecretName.BYBIT_API_KEY.value, SecretName.BYBIT_API_SECRET.value} <= names
    assert names <= {s.value for s in SecretName}


def test_system_unit_is_hardened() -> None:
    service = service_section("lightspeed.service")
    assert service["ProtectSystem"] == ["strict"]
    assert service["ReadWritePaths"] == ["/var/lib/lightspeed"]
    assert service["User"] == ["lightspeed"]
    assert "LIGHTSPEED_CONFIG=/etc/lightspeed/config.toml" in service["Environment"]
    # the data dir is in the config the README's commands read too, never only in the unit
    assert not any("DATA_DIR" in e for e in service["Environment"])


@pytest.mark.parametrize("unit", UNITS)
def test_deploy_files_are_what_the_installer_renders(unit: str) -> None:
    """One source for the hardening: deploy/ is `render_unit` output, byte for byte."""
    from lightspeed_cli.config.unitfile import render_unit, shipped_units

    assert unit_text(unit) == render_unit(shipped_units()[unit]), (
        "deploy/ is out of date: python -m lightspeed_cli.config.unitfile deploy"
    )


SYSTEM_HARDENING = {
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "CapabilityBoundingSet": [""],
    "ProtectClock": ["yes"],
    "ProtectKernelLogs": ["yes"],
    "ProtectHostname": ["yes"],
    "RestrictRealtime": ["yes"],
    "ProtectProc": ["invisible"],
    "RestrictAddressFamilies": ["AF_INET AF_INET6 AF_UNIX"],
    "NoNewPrivileges": ["yes"],
    "PrivateDevices": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectKernelTunables": ["yes"],
    "ProtectControlGroups": ["yes"],
    "LockPersonality": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "SystemCallArchitectures": ["native"],
    "UMask": ["0077"],
    "ProtectSystem": ["strict"],
}


def test_system_unit_carries_every_hardening_setting() -> None:
    service = service_section("lightspeed.service")
    for key, values in SYSTEM_HARDENING.items():
        assert service.get(key) == values, key


def test_user_unit_has_the_unprivileged_hardening_and_no_network_online() -> None:
    unit = section(unit_text("lightspeed-user.service"), "Unit")
    assert "network-online.target" not in unit_text("lightspeed-user.service").split("[Unit]")[1]
    assert "Wants" not in unit and "After" not in unit  # no effect in a user manager
    service = service_section("lightspeed-user.service")
    for key in ("SystemCallFilter", "RestrictAddressFamilies", "SystemCallArchitectures", "UMask"):
        assert service[key] == SYSTEM_HARDENING[key], key
    assert "User" not in service and "ProtectSystem" not in service  # root-only settings


def security_score(path: Path) -> float:
    """`systemd-analyze security --offline=yes` on a unit file: its overall exposure."""
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    return float(match.group(1))


def test_system_unit_scores_ok_and_the_readme_says_so() -> None:
    """Target: 2.0 or lower ("OK"). Where systemd-analyze exists (it does on the CI image) the
    score is measured; the README records it."""
    readme = (DEPLOY.parent / "README.md").read_text(encoding="utf-8")
    recorded = re.search(r"`systemd-analyze security` scores it ([0-9.]+) \(OK\)", readme)
    assert recorded, "README: record the system unit's systemd-analyze security score"
    assert float(recorded.group(1)) <= 2.0
    if shutil.which("systemd-analyze"):
        assert security_score(DEPLOY / "lightspeed.service") == float(recorded.group(1))


def test_user_unit_score_is_in_the_readme_next_to_the_system_units() -> None:
    """The user unit cannot apply root-only settings: README says how much that costs."""
    readme = (DEPLOY.parent / "README.md").read_text(encoding="utf-8")
    flat = " ".join(readme.split())
    recorded = re.search(r"the user unit scores ([0-9.]+) \((MEDIUM|OK|EXPOSED)\)", flat)
    assert recorded, "README: record the user unit's systemd-analyze security score"
    if shutil.which("systemd-analyze"):
        assert security_score(DEPLOY / "lightspeed-user.service") == float(recorded.group(1))
