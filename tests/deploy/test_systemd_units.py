"""The shipped systemd units: restart policy, hardening and credentials that match secrets.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightspeed_cli.secrets import SecretName

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("lightspeed.service", "lightspeed-user.service")


def service_section(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = None
    for raw in (DEPLOY / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("unit", UNITS)
def test_unit_runs_the_bot_and_restarts_only_on_failure(unit: str) -> None:
    service = service_section(unit)
    assert service["ExecStart"][0].endswith("/lightspeed run --no-live")
    assert service["Restart"] == ["on-failure"]
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
    # the data dir is in the config the README's commands read too, never only in the unit
    assert not any("DATA_DIR" in e for e in service["Environment"])
