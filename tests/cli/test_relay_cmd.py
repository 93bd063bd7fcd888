"""`lightspeed relay status` reads the status file a running relay writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cli_helpers import Cli

from lightspeed_cli.relay.status import STATUS_FILE, LeaderStatus, RelayStatus


def test_status_shows_leaders_clients_reads_and_lag(cli: Cli, tmp_path: Path) -> None:
    status = RelayStatus(
        written_at=datetime.now(UTC),
        clients=3,
        reads_per_second=2.5,
        leaders=[
            LeaderStatus(
                leader="copytrade:1111111111", clients=3, reads=40, published=2, lag_seconds=0.4
            )
        ],
    )
    (tmp_path / STATUS_FILE).write_text(status.model_dump_json())
    run = cli("relay", "status", "--dir", str(tmp_path))
    assert run.exit_code == 0, run.output
    assert "copytrade:1111111111" in run.stdout and "2.5 reads/s" in run.stdout
    run = cli("relay", "status", "--dir", str(tmp_path), "--json")
    assert json.loads(run.stdout)["leaders"][0]["clients"] == 3


def test_status_without_a_running_relay_says_so(cli: Cli, tmp_path: Path) -> None:
    run = cli("relay", "status", "--dir", str(tmp_path))
    assert run.exit_code == 1
    assert "no relay status" in run.output


def test_serve_refuses_a_missing_license_database(cli: Cli, tmp_path: Path) -> None:
    key = "A" * 43 + "="
    run = cli(
        "relay",
        "serve",
        "--dir",
        str(tmp_path),
        "--db",
        str(tmp_path / "none.sqlite3"),
        "--license-public-key",
        key,
    )
    assert run.exit_code != 0


def test_serve_refuses_unbounded_numbers(cli: Cli, tmp_path: Path) -> None:
    """`--read-interval inf` would never read; a huge limit is no limit (issue 21's rule)."""
    for flag, value in (
        ("--read-interval", "inf"),
        ("--read-interval", "nan"),
        ("--max-leaders", "99999999999999999999"),
        ("--max-connections", "1e9"),
    ):
        run = cli("relay", "serve", "--dir", str(tmp_path), flag, value)
        assert run.exit_code == 2, (flag, value, run.output)
        assert "Traceback" not in run.output
