"""One in-process simulation of the short scenario, shared by the tests that inspect its results."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lightspeed_cli.sim.scenario import short_scenario
from lightspeed_cli.sim.simulate import SimulationResult, run_simulation

SIM_SECONDS = 10.0  # the short scenario's 5 steps, with room for a slow start on a loaded box


@pytest.fixture(scope="session")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulationResult]:
    """The real engine against both fakes, run once (the function-scoped isolation of
    tests/conftest.py does not reach a session fixture, so it is repeated here)."""
    root = tmp_path_factory.mktemp("sim")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("LIGHTSPEED_") or name == "CREDENTIALS_DIRECTORY":
                mp.delenv(name)
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        mp.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
        mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        result = asyncio.run(
            run_simulation(SIM_SECONDS, scenario=short_scenario(), data_dir=Path(root))
        )
    yield result
