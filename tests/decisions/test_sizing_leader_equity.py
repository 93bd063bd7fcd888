"""`sizing.mode = "leader_equity"`: the same share of the account as the leader, at its
boundaries; and the config refusing it for a leaderboard trader."""

from __future__ import annotations

from decimal import Decimal

import pytest
from decision_builders import mapping, signal

from lightspeed_cli.config.choices import SizingMode
from lightspeed_cli.config.sections import SizingSettings
from lightspeed_cli.config.settings import ConfigError, settings_from_dict
from lightspeed_cli.decisions.sizing import SizedQty, leader_equity_ratio, size_order
from lightspeed_cli.models import Refusal, SignalKind

D = Decimal
K = SignalKind
LEADER_EQUITY = SizingSettings(mode=SizingMode.LEADER_EQUITY, value=D(1))


def size(kind: K, prev: str, new: str, *, equity: str, leader: str | None, value: str = "1"):
    return size_order(
        signal(kind, prev, new, mark="50000"),
        sizing=LEADER_EQUITY.model_copy(update={"value": D(value)}),
        mapping=mapping(),
        equity_usdt=D(equity),
        held_qty=D("0.01") if kind is not K.OPEN else D(0),
        leverage=10,
        leader_balance_usdt=D(leader) if leader is not None else None,
    )


def test_follower_copies_the_leaders_share_of_the_account() -> None:
    # leader: 0.5 BTC on a 20,000 USDT account; follower: 2,000 USDT -> 0.05 BTC
    r = size(K.OPEN, "0", "0.5", equity="2000", leader="20000")
    assert isinstance(r, SizedQty) and r.quantity == D("0.05")
    doubled = size(K.OPEN, "0", "0.5", equity="2000", leader="20000", value="2")
    assert isinstance(doubled, SizedQty) and doubled.quantity == D("0.1")


def test_an_increase_is_sized_by_its_change_alone() -> None:
    r = size(K.INCREASE, "0.5", "0.7", equity="2000", leader="20000")
    assert isinstance(r, SizedQty) and r.quantity == D("0.02")


def test_rounding_down_to_the_step_and_the_min_qty_boundary() -> None:
    # 0.0105 BTC x 2000/20000 = 0.00105 -> one step (0.001): the minimum, accepted
    at_min = size(K.OPEN, "0", "0.0105", equity="2000", leader="20000")
    assert isinstance(at_min, SizedQty) and at_min.quantity == D("0.001")
    # 0.0099 x 0.1 = 0.00099: below one step, refused
    below = size(K.OPEN, "0", "0.0099", equity="2000", leader="20000")
    assert isinstance(below, Refusal) and below.check == "min_qty"


@pytest.mark.parametrize(
    ("equity", "leader", "check"),
    [
        ("2000", None, "leader_balance_usdt"),
        ("2000", "0", "leader_balance_usdt"),
        ("2000", "-1", "leader_balance_usdt"),
        ("0", "20000", "equity_usdt"),
    ],
)
def test_unknown_or_empty_balances_refuse(equity: str, leader: str | None, check: str) -> None:
    r = size(K.OPEN, "0", "0.5", equity=equity, leader=leader)
    assert isinstance(r, Refusal) and r.check == check


def test_the_smallest_positive_balances_still_size() -> None:
    assert leader_equity_ratio(D("0.01"), D("0.01"), D(1)) == 1


def test_reduces_and_closes_ignore_the_balances() -> None:
    """A close never waits for the leader's balance: what we hold goes."""
    r = size(K.CLOSE, "0.5", "0", equity="0", leader=None)
    assert isinstance(r, SizedQty) and r.quantity == D("0.01")


def _config(source: str, trader_id: str, **sizing: str) -> dict:
    return {
        "sizing": {"mode": "ratio", "value": "0.1"},
        "traders": [{"id": trader_id, "source": source, "sizing": sizing or None}],
    }


def test_the_config_refuses_leader_equity_for_a_leaderboard_trader() -> None:
    with pytest.raises(ConfigError, match="leader_equity needs the leader's account balance"):
        settings_from_dict(_config("leaderboard", "A" * 32, mode="leader_equity"), "config.toml")
    global_mode = {"sizing": {"mode": "leader_equity", "value": "1"}}
    with pytest.raises(ConfigError, match="a leaderboard trader has none"):
        settings_from_dict(
            {**global_mode, "traders": [{"id": "A" * 32, "source": "leaderboard"}]}, "config.toml"
        )
    ok = settings_from_dict(_config("copytrade", "3987123456789012345", mode="leader_equity"), "x")
    assert ok.traders[0].effective_sizing(ok.sizing).mode is SizingMode.LEADER_EQUITY
    # a leaderboard trader with its own ratio under a global leader_equity is fine
    mixed = {
        **global_mode,
        "traders": [{"id": "A" * 32, "source": "leaderboard", "sizing": {"mode": "ratio"}}],
    }
    assert settings_from_dict(mixed, "x").traders[0].sizing is not None
