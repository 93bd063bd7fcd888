"""Ids shared by the Hyperliquid tests."""

WALLET = "0x" + "ab" * 20
WALLET_B = "0x" + "cd" * 20
