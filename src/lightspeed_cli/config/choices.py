"""The closed choices of the config (enums): each value is what the TOML file spells."""

from __future__ import annotations

from enum import StrEnum


class Network(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"


class AccountMode(StrEnum):
    ONE_WAY = "one-way"
    HEDGE = "hedge"


class MarginMode(StrEnum):
    CROSS = "cross"
    ISOLATED = "isolated"


class SizingMode(StrEnum):
    RATIO = "ratio"
    FIXED_MARGIN = "fixed_margin"
    EQUITY_PCT = "equity_pct"
    LEADER_EQUITY = "leader_equity"  # the leader's share of their account (copy-trade, hyperliquid)


class LeveragePolicy(StrEnum):
    CLAMP = "clamp"
    REFUSE = "refuse"


class PollingMode(StrEnum):
    BUDGET = "budget"  # every trader as often as the request budget allows (min_interval floor)
    FIXED = "fixed"  # every trader every interval_seconds


class LeaderboardApi(StrEnum):
    V2_PRIVATE = "v2-private"
    V1_PUBLIC = "v1-public"


class LeaderFeed(StrEnum):
    DIRECT = "direct"  # this machine reads Binance itself
    RELAY = "relay"  # the vendor's relay pushes signed books (falls back to direct when silent)
