"""The dashboard tests' rig: journals to show, and `lightspeed dashboard` as a real process.

`hand_dir`: a journal written through Journal's public methods with a scenario whose edge kept
is computed by hand (HAND below). `sim_dir`: a journal the fakes produced (`run_simulation`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from lightspeed_cli.journal.store import Journal, SignalDecision
from lightspeed_cli.models import (
    Decision,
    Fill,
    OrderIntent,
    Refusal,
    Side,
    Signal,
    SignalKind,
    TraderPosition,
)

LIGHTSPEED = [sys.executable, "-m", "lightspeed_cli"]
TRADER = "4000000000000000777"
SHOTS = Path(os.environ.get("LIGHTSPEED_SCREENSHOTS", "/tmp/lightspeed-dashboard-screenshots"))

# (kind, previous, new, leader price, outcome, ordered, filled, fill price, fee), ratio 0.1:
# ideal 1 x 10 + 0.5 x 5 (BTC) + 100 x 0.5 (XRP) + 10 x 2 (SOL) = 82.5
# follower 1 x 8 (BTC) + 9 x 1.8 (SOL) - fees 0.3 = 23.9: edge kept 23.9 / 82.5 = 29.0 %
HAND = [
    ("BTCUSDT", "open", "0", "10", "100", "x", "1", "1", "101", "0.1"),
    ("BTCUSDT", "increase", "10", "15", "105", "refused", None, None, None, None),  # -2.5
    ("BTCUSDT", "close", "15", "0", "110", "x", "1", "1", "109", "0.1"),
    ("XRPUSDT", "open", "0", "1000", "1", "x", "100", "100", "1", "0"),
    ("XRPUSDT", "close", "1000", "0", "1.5", "failed", "100", None, None, None),  # -50
    ("SOLUSDT", "open", "0", "100", "10", "x", "9.9", "9", "10.1", "0.05"),  # rounding -0.2
    ("SOLUSDT", "close", "100", "0", "12", "x", "9", "9", "11.9", "0.05"),  # partial -1.8
]
HAND_EXPECTED = {
    "edge-kept": "29.0%",
    "ideal-pnl": "+82.50 USDT",
    "follower-pnl": "+23.90 USDT",
    "refused": "-2.50",
    "missed": "-50.00",
    "rounding": "-0.20",
    "partial fills": "-1.80",
    "slippage": "-3.80",
    "fees": "-0.30",
}


def _write_hand_journal(path: Path) -> None:
    now = datetime.now(UTC)
    with Journal(path) as journal:
        for n, (sym, kind, prev, new, px, outcome, ordered, qty, fill, fee) in enumerate(HAND):
            kind_ = SignalKind(kind)
            position = (
                TraderPosition(
                    symbol=sym,
                    side=Side.LONG,
                    size=D(new),
                    entry_price=D(px),
                    mark_price=D(px),
                    leverage=5,
                )
                if D(new) > 0
                else None
            )
            signal = Signal(
                trader=TRADER,
                kind=kind_,
                symbol=sym,
                side=Side.LONG,
                previous_size=D(prev),
                new_size=D(new),
                position=position,
                snapshot_time=now - timedelta(minutes=len(HAND) - n),
            )
            if outcome == "refused":
                refusal = Refusal(check="max_position_notional", reason="too big")
                journal.record_refusal(Decision(signal=signal, refusal=refusal), advance=True)
                continue
            intent = OrderIntent(
                trader=TRADER,
                signal_kind=kind_,
                binance_symbol=sym,
                symbol=sym,
                side=Side.LONG,
                order_side="sell" if kind_.is_risk_reducing else "buy",
                quantity=D(ordered),
                reduce_only=kind_.is_risk_reducing,
                leverage=5,
                reference_price=D(px),
                client_order_id=f"hand-{n}",
            )
            journal.record_intent(intent, signal, leader_change_at=signal.snapshot_time)
            if outcome == "failed":
                journal.mark_order_failed(
                    intent.client_order_id,
                    "rejected",
                    "Bybit said no",
                    signal_decision=SignalDecision.FAILED,
                )
                continue
            row = journal.order(intent.client_order_id)
            assert row is not None
            fill_ = Fill(
                client_order_id=intent.client_order_id,
                order_id=f"x{n}",
                symbol=sym,
                order_side=intent.order_side,
                quantity=D(qty),
                price=D(fill),
                fee=D(fee),
                status="filled",
            )
            slippage = (D(fill) - D(px)) / D(px) * 10_000 * (-1 if kind_.is_risk_reducing else 1)
            journal.record_fill(
                row, fill_, signal=signal, slippage_bps=slippage, detection_latency_ms=150.0 + n
            )
        journal.record_poll(TRADER, "ok", "", now, now)
        journal.record_event("warning", "a hand-written warning", now)


def _config(path: Path, data_dir: Path) -> None:
    path.write_text(
        "[sizing]\nmode = 'ratio'\nvalue = 0.1\n\n"
        f"[storage]\ndata_dir = '{data_dir}'\n\n"
        f"[[traders]]\nid = '{TRADER}'\nlabel = 'hand'\n",
        encoding="utf-8",
    )


@dataclass
class Dashboard:
    url: str
    read_token: str
    control_token: str | None
    proc: subprocess.Popen[str]
    data_dir: Path

    def at(self, path: str, token: str | None = None) -> str:
        return self.url.rstrip("/") + path + (f"?token={token}" if token else "")


def start_dashboard(where: Path, *extra: str) -> Dashboard:
    proc = subprocess.Popen(
        [
            *LIGHTSPEED,
            "--config",
            str(where / "config.toml"),
            "dashboard",
            "--port",
            "0",
            "--show-tokens",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        wanted = 2 + ("--control" in extra)
        if len(lines) >= wanted:
            break
    text = "".join(lines)
    url = re.search(r"Dashboard on (http://\S+/)", text)
    read = re.search(r"read-only: \S+\?token=(\S+)", text)
    control = re.search(r"control \(pause, resume, close-all\): \S+\?token=(\S+)", text)
    if not (url and read):
        proc.kill()
        raise AssertionError(f"dashboard did not start:\n{text}{proc.stdout.read()}")
    return Dashboard(url[1], read[1], control[1] if control else None, proc, where / "data")


def stop_dashboard(board: Dashboard) -> None:
    board.proc.terminate()
    try:
        board.proc.wait(10)
    except subprocess.TimeoutExpired:
        board.proc.kill()
        board.proc.wait()
    assert board.proc.stdout is not None
    board.proc.stdout.close()


def hand_dir_at(where: Path) -> Path:
    """config.toml + data/journal.sqlite3 with the HAND scenario."""
    _config(where / "config.toml", where / "data")
    _write_hand_journal(where / "data" / "journal.sqlite3")
    return where
