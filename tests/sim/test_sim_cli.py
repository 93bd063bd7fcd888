"""`lightspeed simulate` as a user runs it, and its refusals of bad options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lightspeed_cli.cli import simulate_cmd as simulate
from lightspeed_cli.views.plotting import INSTALL_HINT


def lightspeed() -> str:
    """The console script next to this interpreter (the one `pip install` put on PATH)."""
    script = Path(sys.executable).with_name("lightspeed")
    return str(script) if script.exists() else "lightspeed"


def test_lightspeed_simulate_runs_by_itself_and_exits_0(tmp_path: Path) -> None:
    """The README's first command (its default 20 s: a shorter run leaves the last steps
    unplayed when the machine is busy): a fresh process, no config, no keys."""
    proc = subprocess.run(
        [lightspeed(), "simulate", "--seconds", "20", "--report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "EXACT" in proc.stdout
    assert "Not mirrored, and why" in proc.stdout and "symbol_mapping" in proc.stdout
    report = json.loads((tmp_path / "lightspeed-report.json").read_text())
    refused = [c for c in report["changes"] if c["outcome"] == "refused"]
    assert [c["symbol"] for c in refused] == ["WIFUSDT"]
    assert "no Bybit market for WIFUSDT" in refused[0]["reason"]
    assert (report["missed"], report["extra"]) == (0, 0)
    assert report["bybit_orders"] == report["mirrored"] == 22
    assert not (tmp_path / "lightspeed").exists()  # nothing else left behind in the cwd


def test_simulate_source_hyperliquid_is_exact_over_pushed_fills(tmp_path: Path) -> None:
    """The same scenario machinery and verdict, the leaders Hyperliquid wallets: every change
    a pushed fill (a flip one fill), kPEPE mapped to 1000PEPEUSDT, WIF refused."""
    proc = subprocess.run(
        [lightspeed(), "simulate", "--source", "hyperliquid", "--seconds", "20", "--report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "EXACT" in proc.stdout
    report = json.loads((tmp_path / "lightspeed-report.json").read_text())
    assert (report["missed"], report["extra"]) == (0, 0)
    refused = {c["symbol"] for c in report["changes"] if c["outcome"] == "refused"}
    assert refused == {"WIFUSDT"}
    mirrored = {c["symbol"] for c in report["changes"] if c["outcome"] == "mirrored"}
    assert "1000PEPEUSDT" in mirrored
    assert report["bybit_orders"] == report["mirrored"]


def test_an_unknown_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate.simulate_command(
        seconds=20, report=False, report_json=None, plot=None, source="okx"
    )
    assert code == 2
    assert "--source okx" in capsys.readouterr().err


def test_too_few_seconds_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = simulate.simulate_command(seconds=3, report=False, report_json=None, plot=None)
    assert code == 2
    assert "too short" in capsys.readouterr().err


def test_plot_without_matplotlib_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code = simulate.simulate_command(
        seconds=20, report=False, report_json=None, plot=tmp_path / "x.png"
    )
    assert code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert " ".join(INSTALL_HINT.split()) in err
    assert "pipx inject lightspeed-cli matplotlib" in err  # pipx already has the package
    assert "pipx install --force '.[plot]'" in err
    assert not (tmp_path / "x.png").exists()


def test_ctrl_c_stops_with_130_and_says_stopped(tmp_path: Path) -> None:
    """Off a terminal it says what it is doing; Ctrl-C is a stop, not a NOT EXACT verdict."""
    import signal

    proc = subprocess.Popen(
        [lightspeed(), "simulate", "--seconds", "60"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # blocks until the bot has run a while: no timing assumed
            seen.append(line)
            if line.startswith("simulate: ") and " of 60 s, " in line:
                break
        assert any("starting the fake Binance and Bybit" in s for s in seen), seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-2000:] + err[-2000:]
    assert "stopped" in out and "NOT EXACT" not in out and "--seconds" not in out
    assert "Traceback" not in err
