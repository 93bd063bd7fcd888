"""`status` and `history` read the journal: filters, CSV, kill switch, no journal yet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightspeed_cli.cli import app
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.models import Fill, OrderIntent, Side, Signal, SignalKind, TraderPosition

A, B = "6000000000000000001", "6000000000000000002"


def _trade(journal: Journal, trader: str, kind: SignalKind, qty: str, price: str, n: int) -> None:
    side = Side.LONG
    reducing = kind is SignalKind.CLOSE
    position = (
        None
        if reducing
        else TraderPosition(
            symbol="BTCUSDT",
            side=side,
            size=Decimal(10),
            entry_price=Decimal(60000),
            mark_price=Decimal(60000),
            leverage=5,
        )
    )
    signal = Signal(
        trader=trader,
        kind=kind,
        symbol="BTCUSDT",
        side=side,
        previous_size=Decimal(10 if reducing else 0),
        new_size=Decimal(0 if reducing else 10),
        reduce_fraction=Decimal(1) if reducing else None,
        position=position,
        snapshot_time=datetime.now(UTC),
    )
    cid = f"ls-test-{n}"
    intent = OrderIntent(
        trader=trader,
        signal_kind=kind,
        binance_symbol="BTCUSDT",
        symbol="BTCUSDT",
        side=side,
        order_side="sell" if reducing else "buy",
        quantity=Decimal(qty),
        reduce_only=reducing,
        leverage=5,
        reference_price=Decimal(60000),
        client_order_id=cid,
    )
    journal.record_intent(intent, signal, leader_change_at=signal.snapshot_time)
    fill = Fill(
        client_order_id=cid,
        order_id=f"o{n}",
        symbol="BTCUSDT",
        order_side=intent.order_side,
        quantity=Decimal(qty),
        price=Decimal(price),
        status="filled",
    )
    journal.record_fill(
        journal.order(cid),
        fill,
        signal=signal,  # type: ignore[arg-type]
        slippage_bps=Decimal("1.5"),
        detection_latency_ms=250.0,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    path = tmp_path / "config.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{data}"\n[safety]\ndaily_loss_limit_usdt = 100\n'
        f'[[traders]]\nid = "{A}"\nsource = "copytrade"\nlabel = "alpha"\n'
    )
    with Journal.in_dir(data) as journal:
        _trade(journal, A, SignalKind.OPEN, "1", "60000", 1)
        _trade(journal, A, SignalKind.CLOSE, "1", "59850", 2)  # -150 USDT: kill switch on
        _trade(journal, B, SignalKind.OPEN, "0.5", "60000", 3)
    return path


def run(config: Path, *args: str):
    return CliRunner().invoke(app, ["--config", str(config), *args], env={"COLUMNS": "200"})


def test_history_table_filters_by_trader_and_since(config: Path) -> None:
    everything = run(config, "history")
    assert everything.exit_code == 0, everything.output
    assert everything.output.count("executed") == 3
    only_b = run(config, "history", "--trader", B)
    assert only_b.output.count("executed") == 1 and A not in only_b.output
    future = run(config, "history", "--since", "2999-01-01")
    assert "executed" not in future.output
    recent = run(config, "history", "--since", "1h")
    assert recent.output.count("executed") == 3


def test_history_csv_to_stdout_and_file(config: Path, tmp_path: Path) -> None:
    out = run(config, "history", "--csv", "-")
    lines = out.stdout.strip().splitlines()
    assert lines[0].split(",")[:3] == ["created_at", "trader", "kind"]
    assert len(lines) == 4
    target = tmp_path / "h.csv"
    saved = run(config, "history", "--csv", str(target))
    assert saved.exit_code == 0 and target.read_text().count("\n") == 4


def test_bad_since_is_a_usage_error(config: Path) -> None:
    result = run(config, "history", "--since", "yesterday-ish")
    assert result.exit_code == 2
    assert "use 30m, 2h, 7d or an ISO date" in result.output


def test_status_shows_pnl_kill_switch_positions_and_fidelity(config: Path) -> None:
    result = run(config, "status")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "-150." in out and "ON" in out and "no new opens until 00:00 UTC" in out
    assert B in out  # B's open position is listed
    assert "median 1.5 bps" in out and "median 250 ms" in out


def test_no_journal_yet_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp_path / "empty"}"\n')
    for command in ("status", "history"):
        result = run(path, command)
        assert result.exit_code == 1 and "no journal yet" in result.output


def test_history_csv_to_a_missing_dir_or_a_directory_is_one_line(
    config: Path, tmp_path: Path
) -> None:
    for target in (tmp_path / "missing" / "dir" / "h.csv", tmp_path):
        result = run(config, "history", "--csv", str(target))
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)  # a clean exit, not a traceback
        assert f"--csv {target}: cannot write" in result.output


def test_history_at_80_columns_is_one_block_per_signal(config: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(config), "history"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "open long BTCUSDT" in result.output and "alpha" in result.output  # label, not id
    assert result.output.count("executed: 1 @ 60000") == 1
    assert "slippage 1.5 bps, latency 250 ms" in result.output


def test_history_json_has_the_csv_keys(config: Path) -> None:
    from lightspeed_cli.views.history import HISTORY_COLUMNS

    records = json.loads(run(config, "history", "--json").stdout)
    assert len(records) == 3
    assert all(list(r) == list(HISTORY_COLUMNS) for r in records)
    assert records[0]["trader"] == A and records[0]["decision"] == "executed"


def test_status_json(config: Path) -> None:
    result = run(config, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "license",
        "day",
        "realized_pnl_usdt",
        "kill_switch",
        "fills",
        "slippage_bps",
        "detection_latency_ms",
        "traders",
        "positions",
        "events",
        "opens",
        "trading",
    }
    assert data["opens"] == {"paused": False, "state": "opens allowed"}
    assert Decimal(data["realized_pnl_usdt"]) == Decimal(-150)
    assert data["kill_switch"]["on"] is True
    assert data["license"]["can_open"] is False
    assert data["slippage_bps"]["median"] == 1.5
    assert [p["trader"] for p in data["positions"]] == [B]
    assert {"id": A, "label": "alpha"}.items() <= data["traders"][0].items()


def test_status_drops_a_removed_trader_unless_it_still_holds_a_position(
    config: Path, tmp_path: Path
) -> None:
    with Journal.in_dir(tmp_path / "data") as journal:
        for trader in (A, B, "6000000000000000009"):
            journal.record_poll(trader, "ok", "", datetime.now(UTC))
    traders = {t["id"]: t for t in json.loads(run(config, "status", "--json").stdout)["traders"]}
    assert traders[A]["status"] == "ok"
    assert traders[B]["status"] == "removed"  # not in the config, but its position is open
    assert "6000000000000000009" not in traders  # removed and holding nothing: gone
    assert "6000000000000000009" not in run(config, "status").output


def test_history_json_and_csv_give_every_row_the_table_the_newest_200(config: Path) -> None:
    """Issue 21 item 7: README says every signal; no silent cap at 200."""
    data = config.parent / "data"
    with Journal.in_dir(data) as journal:
        for n in range(10, 260):
            _trade(journal, A, SignalKind.OPEN, "0.001", "60000", n)
    rows = json.loads(run(config, "history", "--json").stdout)
    assert len(rows) == 253
    csv_text = run(config, "history", "--csv", "-").stdout
    assert len(csv_text.strip().splitlines()) == 254  # the header and every row
    assert len(json.loads(run(config, "history", "--json", "--limit", "5").stdout)) == 5
