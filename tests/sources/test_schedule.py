"""When traders are read: the pure decisions of sources/schedule.py, and its loop."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightspeed_cli.config.choices import PollingMode
from lightspeed_cli.config.sections import PollingSettings
from lightspeed_cli.sources.binance import POLL_TOLERANCE
from lightspeed_cli.sources.schedule import (
    CUT_COOLDOWN,
    RECOVER_SECONDS,
    ExitBudget,
    Pacer,
    PollSchedule,
    background_rate,
    configured_poll_rate,
    poll_interval,
    poll_rate,
    source_rate,
)

# --- the interval -------------------------------------------------------------------------------


def test_interval_is_traders_over_the_budget() -> None:
    assert poll_interval(5, 20, 0.1) == pytest.approx(0.25)
    assert poll_interval(50, 20, 0.1) == pytest.approx(2.5)


def test_interval_never_below_the_floor() -> None:
    assert poll_interval(1, 20, 0.1) == 0.1
    assert poll_interval(0, 20, 0.1) == 0.1
    assert poll_interval(5, 0, 0.1) == 0.1


def test_proxies_multiply_the_configured_budget() -> None:
    polling = PollingSettings(requests_per_second=20, proxies=["http://a:1", "http://b:1"])
    rate = source_rate(object(), polling)
    assert rate() == 40
    schedule = PollSchedule(polling, list(range(8)), rate)
    assert schedule.interval() == pytest.approx(0.2)


def test_a_background_lane_keeps_a_twentieth_of_each_exits_budget() -> None:
    assert (background_rate(20), poll_rate(20, True), poll_rate(20, False)) == (1, 19, 20)
    polling = PollingSettings(requests_per_second=20, proxies=["http://a:1", "http://b:1"])
    assert configured_poll_rate(polling, background=True) == 38
    assert configured_poll_rate(polling, background=False) == 40
    # 5 copy-trade traders at the default budget: each read every 5 / 19 s
    assert poll_interval(5, poll_rate(20, True), 0.1) == pytest.approx(5 / 19)


def _busiest(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=200),
    offset=st.floats(min_value=0, max_value=1),
    lateness=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30),
)
def test_the_polls_never_exceed_the_budget_and_both_lanes_at_most_by_two(
    rate: float, offset: float, lateness: list[float]
) -> None:
    """The polls leave on their lane's grid (1 / its share apart), each up to the bucket's
    tolerance late (ratelimit.py); the background lane strictly 1 / its share apart, at any
    phase. A one-second window never holds more polls than the budget, and of both together
    at most ceil(rate) + 2 (21 at the default 20/s)."""
    polls, background = poll_rate(rate, True), background_rate(rate)
    assert polls + background == pytest.approx(rate) and background <= rate / 10
    gap = 1 + 1e-9  # a hair over 1 / share: float error in this model never adds one
    count = int(3 * polls) + 2
    tolerance = min(POLL_TOLERANCE, 0.5 / polls)
    late = [tolerance * lateness[n % len(lateness)] for n in range(count)]
    poll_times = [n * gap / polls + late[n] for n in range(count)]
    times = poll_times + [offset + n * gap / background for n in range(int(3 * background) + 2)]
    assert _busiest(poll_times) <= math.ceil(rate)
    assert _busiest(times) <= math.ceil(rate) + 2


def test_fixed_mode_keeps_the_configured_interval() -> None:
    polling = PollingSettings(mode=PollingMode.FIXED, interval_seconds=2.0)
    schedule = PollSchedule(polling, list(range(4)), lambda: 1000.0)
    assert schedule.interval() == 2.0
    assert schedule.step() == pytest.approx(0.5)


# --- the slots: never over the budget, evenly spread ---------------------------------------------


def _play(count: int, step: float, lags: list[float], slots: int) -> list[tuple[int, float]]:
    """The slots a pacer hands out while the loop wakes `lag` late each time (a busy loop,
    or a stall when the lag is long)."""
    pacer = Pacer(count)
    now, out = 0.0, []
    for n in range(slots):
        index, at = pacer.next_slot(now, step)
        now = max(now, at) + lags[n % len(lags)]
        pacer.take(at)
        out.append((index, at))
    return out


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=200),
    traders=st.integers(min_value=1, max_value=60),
    lags=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=20),
)
def test_slots_never_exceed_the_budget_in_any_one_second_window(
    rate: float, traders: int, lags: list[float]
) -> None:
    step = PollSchedule(PollingSettings(), list(range(traders)), lambda: rate).step()
    times = [at for _, at in _play(traders, step, lags, 300)]
    assert all(b - a >= 1 / rate for a, b in zip(times, times[1:], strict=False))
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0)
        assert in_window <= math.ceil(rate)  # a budget of 1.5/s allows 2 in some second


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=200),
    traders=st.integers(min_value=1, max_value=60),
    lag=st.floats(min_value=0, max_value=0.002),
)
def test_slots_are_round_robin_and_each_trader_is_read_every_interval(
    rate: float, traders: int, lag: float
) -> None:
    schedule = PollSchedule(
        PollingSettings(min_interval_seconds=0.02), list(range(traders)), lambda: rate
    )
    step, interval = schedule.step(), schedule.interval()
    slots = _play(traders, step, [lag], traders * 5)
    assert [i for i, _ in slots] == [n % traders for n in range(len(slots))]
    if lag < step:  # the loop keeps up: every trader exactly one interval apart
        for trader in range(traders):
            times = [at for i, at in slots if i == trader]
            gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
            assert gaps == pytest.approx([interval] * len(gaps), rel=1e-6)
        # phases staggered: traders are read one step apart, never together
        first = [at for _, at in slots[:traders]]
        assert [b - a for a, b in zip(first, first[1:], strict=False)] == pytest.approx(
            [step] * (traders - 1), rel=1e-6
        )


def test_after_a_stall_slots_resume_from_now_without_a_burst() -> None:
    pacer = Pacer(3)
    _, at = pacer.next_slot(0.0, 0.1)
    pacer.take(at)
    _, at = pacer.next_slot(5.0, 0.1)  # the loop was stuck for 5 s
    assert at == 5.0
    pacer.take(at)
    assert pacer.next_slot(5.0, 0.1)[1] == pytest.approx(5.1)


# --- AIMD ----------------------------------------------------------------------------------------


def test_a_429_halves_the_budget_and_it_comes_back_slowly_after_the_hold() -> None:
    budget = ExitBudget(20)
    assert budget.at(0) == 20
    assert budget.cut(100.0, hold_seconds=2, reason="HTTP 429") == 10
    assert budget.at(101.5) == 10  # still in Retry-After: no recovery
    assert budget.at(102 + RECOVER_SECONDS / 4) == pytest.approx(15)
    assert budget.at(102 + RECOVER_SECONDS) == 20
    assert budget.at(10_000) == 20
    assert budget.cuts == 1 and budget.reason == "HTTP 429"


def test_answers_to_requests_already_in_flight_cut_once() -> None:
    budget = ExitBudget(20)
    budget.cut(100.0, 0, "HTTP 429")
    budget.cut(100.0 + CUT_COOLDOWN / 2, 0, "HTTP 429")
    assert budget.rate == pytest.approx(10, abs=0.1) and budget.cuts == 1
    budget.cut(100.0 + CUT_COOLDOWN, 0, "HTTP 429")
    assert budget.cuts == 2 and budget.rate < 10


def test_repeated_bans_stop_at_the_floor() -> None:
    budget = ExitBudget(16)
    for n in range(20):
        budget.cut(100.0 + n * 2 * CUT_COOLDOWN, 0, "HTTP 418")
    assert budget.rate == budget.floor == 1


@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0, max_value=50), st.booleans()), min_size=1, max_size=40
    )
)
def test_the_budget_stays_between_floor_and_ceiling(events: list[tuple[float, bool]]) -> None:
    budget, now = ExitBudget(20), 0.0
    for gap, throttled in events:
        now += gap
        rate = budget.cut(now, 1.0, "429") if throttled else budget.at(now)
        assert budget.floor <= rate <= budget.ceiling


# --- the loop ------------------------------------------------------------------------------------


async def test_every_trader_is_polled_in_turn_and_a_busy_one_is_never_read_twice_at_once() -> None:
    polling = PollingSettings(min_interval_seconds=0.02, requests_per_second=200)
    schedule = PollSchedule(polling, ["slow", "a", "b", "c"], lambda: 200.0)
    stop, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def poll(trader: str) -> None:
        calls.append(trader)
        if trader == "slow":
            await release.wait()  # an order going out, say
        elif calls.count("a") >= 5:
            stop.set()

    runner = asyncio.create_task(schedule.run(poll, stop))
    await asyncio.wait_for(stop.wait(), timeout=10)
    release.set()
    await asyncio.wait_for(runner, timeout=10)
    counts = Counter(calls)
    assert counts["slow"] == 1  # never read twice at once
    assert counts["a"] == 5 and counts["b"] >= 4 and counts["c"] >= 4
    assert calls[:4] == ["slow", "a", "b", "c"]


async def test_a_trader_busy_at_its_slot_is_read_again_as_soon_as_it_is_done() -> None:
    polling = PollingSettings(min_interval_seconds=0.02, requests_per_second=200)
    schedule = PollSchedule(polling, ["slow", "a"], lambda: 200.0)
    stop, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def poll(trader: str) -> None:
        calls.append(trader)
        if trader == "slow" and calls.count("slow") == 1:
            await release.wait()
        elif trader == "slow":
            stop.set()
        elif calls.count("a") == 3:  # "slow" missed at least one slot meanwhile
            release.set()

    await asyncio.wait_for(schedule.run(poll, stop), timeout=10)
    assert calls.count("slow") == 2
    assert calls.index("slow", 1) == calls.index("a", calls.index("a") + 2) + 1


async def test_stop_waits_for_the_polls_in_flight() -> None:
    schedule = PollSchedule(PollingSettings(), ["x"], lambda: 20.0)
    stop, finished = asyncio.Event(), []

    async def poll(trader: str) -> None:
        stop.set()
        await asyncio.sleep(0.05)
        finished.append(trader)

    await asyncio.wait_for(schedule.run(poll, stop), timeout=10)
    assert finished == ["x"]
