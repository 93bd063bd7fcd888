"""Where the bot trades, as every view says it: network, paper or live, account; no key."""

from __future__ import annotations

import pytest

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.views.target import target_data, target_text


def settings(**bybit: str) -> Settings:
    return Settings.model_validate({"bybit": bybit})


def styles_of(text, word: str) -> set[str]:
    plain = text.plain
    start = plain.index(word)
    return {str(span.style) for span in text.spans if span.start <= start and span.end > start}


def test_mainnet_live_is_red() -> None:
    text = target_text(settings(), paper=False)
    assert text.plain.startswith("Bybit MAINNET, LIVE (real orders), account one-way, cross")
    assert "bold red" in styles_of(text, "MAINNET")
    assert "bold red" in styles_of(text, "LIVE")


@pytest.mark.parametrize("network", ["testnet", "demo"])
def test_testnet_and_demo_are_not_red(network: str) -> None:
    text = target_text(settings(network=network), paper=False)
    assert text.plain.startswith(f"Bybit {network.upper()}, LIVE")
    assert "bold red" not in styles_of(text, network.upper())


def test_paper_says_no_orders_are_sent() -> None:
    text = target_text(settings(network="testnet"), paper=True)
    assert "PAPER (simulated fills at its prices, no orders sent)" in text.plain
    assert target_data(settings(), paper=True)["mode"] == "paper"


def test_the_account_names_modes_and_an_overridden_host_never_a_key() -> None:
    data = target_data(
        settings(account_mode="hedge", margin_mode="isolated", base_url="https://u:pw@h:8443/x"),
        paper=False,
    )
    assert data == {
        "network": "mainnet",
        "mode": "live",
        "account": "hedge, isolated margin, endpoint h:8443",
    }
