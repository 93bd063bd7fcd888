"""Where the bot trades: network (mainnet / testnet / demo), paper or live, and the account.

Said at `run`'s start, in the live view and in `status`, so nobody trades real money while
believing it is testnet. Mainnet is red. No key, not even masked: the account is named by its
Bybit modes and, when the endpoint is overridden, the host it talks to.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.text import Text

from lightspeed_cli.config.choices import Network
from lightspeed_cli.config.settings import Settings


def target_data(settings: Settings, paper: bool) -> dict[str, Any]:
    """`{"network", "mode", "account"}` (status --json)."""
    bybit = settings.bybit
    account = f"{bybit.account_mode.value}, {bybit.margin_mode.value} margin"
    if bybit.base_url:  # host and port only: a URL may carry credentials
        parts = urlsplit(bybit.base_url)
        account += f", endpoint {parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return {
        "network": bybit.network.value,
        "mode": "paper" if paper else "live",
        "account": account,
    }


def target_text(settings: Settings, paper: bool) -> Text:
    """`Bybit MAINNET, LIVE (real orders), account one-way, cross margin`: mainnet in red."""
    data = target_data(settings, paper)
    network = settings.bybit.network
    text = Text("Bybit ")
    style = "bold red" if network is Network.MAINNET else "bold yellow"
    text.append(network.value.upper(), style=style)
    if paper:
        text.append(", PAPER (simulated fills at its prices, no orders sent)")
    else:
        text.append(", ")
        text.append("LIVE (real orders)", style="bold red" if network is Network.MAINNET else "")
    text.append(f", account {data['account']}")
    return text
