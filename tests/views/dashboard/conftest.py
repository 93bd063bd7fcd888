"""Fixtures of the dashboard tests: the hand journal, a simulated one, the dashboard process;
the browser tests skip when Debian's chromium is not installed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_rig import Dashboard, hand_dir_at, start_dashboard, stop_dashboard


@pytest.fixture
def hand_dir(tmp_path: Path) -> Path:
    return hand_dir_at(tmp_path)


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal the fakes produced: the default scenario, simulated for 12 s (once)."""
    from lightspeed_cli.sim.simulate import run_simulation

    where = tmp_path_factory.mktemp("sim")
    result = asyncio.run(run_simulation(12, data_dir=where))
    assert result.exit_code == 0
    return where


@pytest.fixture
def hand_board(hand_dir: Path) -> Iterator[Dashboard]:
    board = start_dashboard(hand_dir, "--control")
    yield board
    stop_dashboard(board)


@pytest.fixture
def sim_board(sim_dir: Path) -> Iterator[Dashboard]:
    board = start_dashboard(sim_dir)
    yield board
    stop_dashboard(board)
