"""BybitBroker against the fake Bybit: error mapping, lost answers, exactly-once orders."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest
from exec_helpers import BrokerFactory, IntentFactory

from lightspeed_cli.execution.base import BrokerStartError
from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.bybit import BybitBroker
from lightspeed_cli.models import Side
from lightspeed_cli.sim.bybit import FakeBybit, Fault

CREATE = "/v5/order/create"


# ---- refusals Bybit itself makes (no injection) --------------------------------------------


async def test_insufficient_balance(fake: FakeBybit, broker: BybitBroker, intent: IntentFactory):
    fake.set_balance("100")
    r = await broker.execute(intent("f1", qty="0.1"))  # 6,000 USDT at 10x needs 600
    assert r.outcome is O.INSUFFICIENT_FUNDS
    assert "110007" in r.error
    assert fake.orders == [] and fake.rejections[0][1] == 110007


async def test_notional_below_minimum(fake: FakeBybit, broker: BybitBroker, intent: IntentFactory):
    r = await broker.execute(intent("f2", symbol="DOGEUSDT", qty="10"))  # 1.5 USDT < 5
    assert r.outcome is O.REJECTED and "110094" in r.error


async def test_qty_below_minimum_is_refused_before_sending(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    r = await broker.execute(intent("f3", qty="0.0009"))
    assert r.outcome is O.REJECTED and "rounds to 0" in r.error
    r = await broker.execute(intent("f3b", symbol="1000PEPEUSDT", qty="50"))
    assert r.outcome is O.REJECTED
    assert fake.calls(CREATE) == 0


async def test_qty_below_a_minimum_raised_after_start(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_lot_size("BTCUSDT", minOrderQty="0.005")  # our cached markets are stale now
    r = await broker.execute(intent("f4", qty="0.002"))
    assert r.outcome is O.REJECTED
    assert "10001" in r.error and "minimum limit" in r.error


async def test_reduce_with_nothing_to_reduce_is_already_flat(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    r = await broker.execute(intent("f5", reduce=True))
    assert r.outcome is O.ALREADY_FLAT
    assert fake.calls("/v5/position/set-leverage") == 0


async def test_hedge_reduce_with_nothing_to_reduce_is_already_flat(
    hedge_fake: FakeBybit, hedge_broker: BybitBroker, intent: IntentFactory
) -> None:
    await hedge_broker.execute(intent("f6a", side=Side.LONG))
    r = await hedge_broker.execute(intent("f6", side=Side.SHORT, reduce=True))
    assert r.outcome is O.ALREADY_FLAT


async def test_local_refusals(fake: FakeBybit, broker: BybitBroker, intent: IntentFactory) -> None:
    r = await broker.execute(intent("f7", symbol="NOPEUSDT"))
    assert r.outcome is O.REJECTED and "not a tradable" in r.error
    bad = intent("f8").model_copy(update={"order_side": "sell"})  # "open long" with a sell
    r = await broker.execute(bad)
    assert r.outcome is O.REJECTED and "inconsistent intent" in r.error
    assert fake.calls(CREATE) == 0


# ---- injected retCodes -------------------------------------------------------------------


@pytest.mark.parametrize("code", [110004, 110006, 110012, 110044, 110045])
async def test_insufficient_codes(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, code: int
) -> None:
    fake.inject(CREATE, Fault.error(code, "Insufficient available balance"))
    assert (await broker.execute(intent(f"i{code}"))).outcome is O.INSUFFICIENT_FUNDS
    assert fake.orders == []


@pytest.mark.parametrize("code", [10003, 10004, 10005, 10007, 10010])
async def test_auth_and_permission_codes_are_fatal(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, code: int
) -> None:
    fake.inject(CREATE, Fault.error(code, "Permission denied, please check your API key"))
    r = await broker.execute(intent(f"a{code}"))
    assert r.outcome is O.FATAL and "trading stopped" in r.error
    assert fake.calls(CREATE) == 1  # never retried


@pytest.mark.parametrize("code", [10006, 10018])
async def test_rate_limit_backs_off_then_succeeds(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, code: int
) -> None:
    fake.inject(CREATE, Fault.error(code, "Too many visits!"), times=2)
    r = await broker.execute(intent(f"rl{code}"))
    assert r.outcome is O.FILLED
    assert fake.calls(CREATE) == 3 and len(fake.orders) == 1


async def test_rate_limit_that_lasts_is_rate_limited(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.rate_limit(), times=10)
    r = await broker.execute(intent("rl"))
    assert r.outcome is O.RATE_LIMITED and "10006" in r.error
    assert fake.calls(CREATE) == 3 and fake.orders == []


async def test_unclassified_code_is_unknown_with_the_message(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.error(170999, "Something Bybit invented"))
    r = await broker.execute(intent("u1"))
    assert r.outcome is O.UNKNOWN and "170999" in r.error and "Something Bybit invented" in r.error


# ---- the exchange is down ------------------------------------------------------------------


@pytest.mark.parametrize("fault", [Fault.maintenance(), Fault.server_error(502)])
async def test_exchange_down_is_unavailable_and_never_called_not_placed(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory, fault: Fault
) -> None:
    """A 5xx page is no proof: a gateway may answer so after Bybit took the order. It used to
    be "not placed" here; real Bybit may still list it later (bybit_ccxt.md section 5), so
    only the engine, once the request window has closed, may call it dead."""
    fake.inject(CREATE, fault, times=10)
    r = await broker.execute(intent("x1"))
    assert r.outcome is O.UNAVAILABLE and "until its request window closes" in r.error
    assert not r.not_placed and not r.acknowledged
    assert fake.orders == []
    assert fake.calls("/v5/order/realtime") >= 3  # looked up before every resend
    assert fake.calls("/v5/order/history") >= 3  # in both lists


async def test_refusals_alone_are_not_placed(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.rate_limit(), times=10)
    r = await broker.execute(intent("x4"))
    assert r.outcome is O.RATE_LIMITED and r.not_placed
    fake.clear_faults()
    fake.inject(CREATE, Fault.dropped())  # no answer: it may have reached Bybit...
    fake.inject(CREATE, Fault.error(110007, "ab not enough for new order"))
    r = await broker.execute(intent("x5"))
    assert r.outcome is O.UNKNOWN and not r.not_placed  # ...so the refusal proves nothing


async def test_one_5xx_then_success_places_exactly_one(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.server_error(502))
    assert (await broker.execute(intent("x2"))).outcome is O.FILLED
    assert len(fake.orders) == 1


async def test_system_error_is_looked_up_then_resent(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.error(10016, "System error. Please try again later."))
    assert (await broker.execute(intent("x3"))).outcome is O.FILLED
    assert len(fake.orders) == 1


# ---- lost answers: exactly one order -------------------------------------------------------


async def test_lost_response_is_looked_up_not_resent(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.lost_response())
    r = await broker.execute(intent("lost1"))
    assert r.outcome is O.FILLED and r.fill and r.fill.quantity == D("0.01")
    assert fake.calls(CREATE) == 1
    assert [o.order_link_id for o in fake.orders] == ["lost1"]


async def test_response_slower_than_the_timeout_is_looked_up(
    fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    broker = make_broker(fake, timeout_ms=1000)  # loose enough for a loaded CI runner's lookups
    await broker.start()
    fake.inject(CREATE, Fault.delayed(3.0))
    r = await broker.execute(intent("slow1"))
    assert r.outcome is O.FILLED
    assert [o.order_link_id for o in fake.orders] == ["slow1"]


async def test_request_lost_before_bybit_saw_it_is_resent_once(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.dropped())
    assert (await broker.execute(intent("drop1"))).outcome is O.FILLED
    assert fake.calls(CREATE) == 2 and len(fake.orders) == 1


async def test_lost_response_and_failed_lookup_is_unknown(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.lost_response())
    fake.inject("/v5/order/realtime", Fault.server_error(502), times=10)
    r = await broker.execute(intent("lost2"))
    assert r.outcome is O.UNKNOWN and "may exist" in r.error
    assert fake.calls(CREATE) == 1 and len(fake.orders) == 1  # never resent blindly


async def test_lost_response_on_every_try_still_one_order(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject(CREATE, Fault.lost_response(), times=5)
    assert (await broker.execute(intent("lost3"))).outcome is O.FILLED
    assert len(fake.orders) == 1


# ---- duplicate client ids ------------------------------------------------------------------


async def test_duplicate_client_id_returns_the_existing_order(
    fake: FakeBybit, make_broker: BrokerFactory, intent: IntentFactory
) -> None:
    first = make_broker(fake)
    await first.start()
    original = await first.execute(intent("dup1"))
    again = await first.execute(intent("dup1"))  # same process: answered from memory
    assert again.fill == original.fill and fake.calls(CREATE) == 1
    restarted = make_broker(fake)  # after a crash: Bybit refuses the id, we read the order
    await restarted.start()
    replay = await restarted.execute(intent("dup1"))
    assert replay.outcome is O.FILLED and replay.fill and original.fill
    assert replay.fill.order_id == original.fill.order_id
    assert fake.calls(CREATE) == 2 and len(fake.orders) == 1
    assert fake.rejections == [("dup1", 110072, "OrderLinkedID is duplicate")]


async def test_rejected_client_id_can_be_sent_again(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.set_balance("10")
    assert (await broker.execute(intent("again1"))).outcome is O.INSUFFICIENT_FUNDS
    fake.set_balance("10000")
    assert (await broker.execute(intent("again1"))).outcome is O.FILLED


# ---- keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [("wrong-key-123456", None, "10003"), (None, "wrong-secret-123456", "10004")],
)
async def test_bad_keys_refuse_to_start_without_leaking_them(
    fake: FakeBybit,
    make_broker: BrokerFactory,
    caplog: pytest.LogCaptureFixture,
    key: str | None,
    secret: str | None,
    code: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = make_broker(fake, api_key=key, api_secret=secret)
    with pytest.raises(BrokerStartError) as exc:
        await broker.start()
    assert exc.value.outcome is O.FATAL and code in exc.value.message
    used_key, used_secret = key or fake.api_key, secret or fake.api_secret
    for text in (exc.value.message, caplog.text):
        assert used_key not in text and used_secret not in text


async def test_settings_call_failure_is_not_sent_never_unknown(
    fake: FakeBybit, broker: BybitBroker, intent: IntentFactory
) -> None:
    fake.inject("/v5/position/set-leverage", Fault.error(110013, "cannot set leverage"))
    r = await broker.execute(intent("lev1"))
    assert r.outcome is O.REJECTED and r.error.startswith("not sent")
    assert fake.calls(CREATE) == 0


# ---- keys from secrets.py ------------------------------------------------------------------


async def test_from_settings_reads_keys_from_the_environment(
    fake: FakeBybit, monkeypatch: pytest.MonkeyPatch, intent: IntentFactory
) -> None:
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_KEY", fake.api_key)
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_SECRET", fake.api_secret)
    broker = BybitBroker.from_settings(fake.settings())
    try:
        await broker.start()
        assert (await broker.execute(intent("env1"))).outcome is O.FILLED
    finally:
        await broker.aclose()


def test_from_settings_without_keys_says_what_to_do(fake: FakeBybit) -> None:
    with pytest.raises(BrokerStartError, match="lightspeed keys set"):
        BybitBroker.from_settings(fake.settings())
