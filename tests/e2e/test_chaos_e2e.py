"""A small chaos run in the suite: the real bot SIGKILLed at random around leader changes while
the fake Bybit misbehaves like the real one (benchmarks/chaos_run.py runs >= 200 kills)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightspeed_cli.sim.chaos import run_chaos


@pytest.mark.timeout(420)  # a handful of restarts; each is seconds, more on a loaded machine
def test_a_few_random_kills_leave_nothing_doubled_missed_or_drifting(tmp_path: Path) -> None:
    report = run_chaos(tmp_path, kills=5, seed=7, settle_seconds=60)
    assert report.kills == 5 and report.leader_changes >= 5
    assert report.missing_from_journal == 0, report.details
    assert report.doubled == 0, report.details
    assert report.missed_closes == 0, report.details
    assert report.drift_left == 0, report.details
