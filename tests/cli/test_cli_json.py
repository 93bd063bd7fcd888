"""`--json` on the config, traders and keys commands: stable keys, secrets masked as on screen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Cli

from lightspeed_cli.cli.output import to_json

PORTFOLIO = "3803470589839557376"
WEBHOOK = "https://discord.com/api/webhooks/123/very-secret-token"
API_KEY = "AbCdEfGhIjKlMnOpQr"


@pytest.fixture
def config(cfg: Path) -> Path:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        f'[safety]\nmax_leverage = 10\n[notify]\nwebhook_url = "{WEBHOOK}"\n'
        f'[[traders]]\nid = "{PORTFOLIO}"\nlabel = "alice"\n[traders.sizing]\nvalue = 0.5\n',
        encoding="utf-8",
    )
    return cfg


def test_config_show_json(cli: Cli, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightspeed_cli.config.keys import leaf_specs

    monkeypatch.setenv("LIGHTSPEED_POLLING__CONCURRENCY", "3")
    run = cli("config", "show", "--json", "--config", str(config))
    assert run.exit_code == 0, run.output
    assert WEBHOOK not in run.stdout
    data = json.loads(run.stdout)
    assert set(data) == {"path", "keys", "traders", "env", "data_dir"}
    assert data["path"] == str(config)
    assert set(data["keys"]) == {s.key for s in leaf_specs()}
    assert data["keys"]["safety.max_leverage"] == {"value": 10, "source": "file"}
    assert data["keys"]["polling.concurrency"] == {"value": 3, "source": "env"}
    assert data["keys"]["safety.max_open_positions"]["source"] == "default"
    assert data["keys"]["notify.webhook_url"]["value"] == f"**** ({len(WEBHOOK)} chars)"
    assert data["traders"] == {"ids": [PORTFOLIO], "source": "file"}
    assert data["env"] == {"LIGHTSPEED_POLLING__CONCURRENCY": ["polling.concurrency"]}


def test_traders_list_json(cli: Cli, config: Path) -> None:
    run = cli("traders", "list", "--json", "--config", str(config))
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout) == [
        {
            "id": PORTFOLIO,
            "source": "copytrade",
            "label": "alice",
            "enabled": True,
            "sizing": {"mode": "ratio", "value": "0.5", "leverage": 0, "own": True},
        }
    ]
    config.write_text("", encoding="utf-8")
    assert json.loads(cli("traders", "list", "--json", "-c", str(config)).stdout) == []


def test_keys_status_json_shows_only_lengths(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightspeed_cli.config.secrets import SecretName

    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_KEY", API_KEY)
    run = cli("keys", "status", "--json")
    assert run.exit_code == 0, run.output
    assert API_KEY not in run.stdout
    data = json.loads(run.stdout)
    assert data["keyring"] is None  # the suite's fail backend: none usable
    rows = {r["name"]: r for r in data["secrets"]}
    assert set(rows) == {n.value for n in SecretName}
    assert rows["bybit_api_key"] == {
        "name": "bybit_api_key",
        "source": "env",
        "where": "environment (LIGHTSPEED_BYBIT_API_KEY)",
        "value": f"**** ({len(API_KEY)} chars)",
    }
    assert rows["bybit_api_secret"]["source"] == "none"
    assert rows["bybit_api_secret"]["value"] is None


def test_to_json_keeps_decimals_exact_and_times_iso() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    text = to_json({"a": Decimal("0.10"), "t": datetime(2026, 1, 2, tzinfo=UTC), "p": Path("/x")})
    assert json.loads(text) == {"a": "0.10", "t": "2026-01-02T00:00:00+00:00", "p": "/x"}
