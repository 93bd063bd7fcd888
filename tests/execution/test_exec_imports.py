"""Importing the execution layer stays cheap, and both brokers satisfy the Broker protocol."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

from lightspeed_cli.config.sections import BybitSettings
from lightspeed_cli.execution.base import Broker
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.execution.paper import PaperBroker


def test_no_ccxt_at_import() -> None:
    code = (
        "import sys\n"
        "import lightspeed_cli.execution.bybit, lightspeed_cli.execution.paper\n"
        "import lightspeed_cli.sim.bybit\n"
        "assert 'ccxt' not in sys.modules, 'ccxt imported at module level'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_both_brokers_are_brokers() -> None:
    settings = BybitSettings()
    assert isinstance(BybitBroker(settings, api_key="k" * 8, api_secret="s" * 8), Broker)
    paper = PaperBroker(settings, starting_equity_usdt=Decimal(100), state_path=None)
    assert isinstance(paper, Broker)
