"""Where the engine's part of the overhead goes: time per step between t0 and `broker.execute`.

A separate run (the wrappers cost a few µs each, so it is not the headline figure): the journal
calls the engine makes on the way, the pure decision, the diff and the client id are wrapped
with timers (outermost call only, so `book_snapshot` → `book` counts once); the Bybit reads are
split into their round trip and ccxt's work around it; what is left is the engine's own glue.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import lightspeed_cli.decisions.decide
import lightspeed_cli.engine.follow
import lightspeed_cli.engine.mirror
from lightspeed_cli.journal.store import Journal

if TYPE_CHECKING:
    from engine_overhead import SignalTiming

JOURNAL_READS = (
    "book_snapshot", "book", "order", "mirrored_position", "mirrored_positions", "realized_pnl",
)  # fmt: skip
Event = tuple[str, float, float]
Target = tuple[Any, str, str]  # (module or class, attribute, label)
SIGNAL_STEPS: tuple[Target, ...] = (
    *((Journal, name, "journal reads (SQL + pydantic)") for name in JOURNAL_READS),
    (Journal, "record_intent", "journal: intent committed (synchronous=FULL)"),
    (lightspeed_cli.decisions.decide, "decide", "decide() (sizing + safety, pure)"),
    (lightspeed_cli.engine.follow, "diff", "diff() (pure)"),
    (lightspeed_cli.engine.mirror, "client_order_id", "client_order_id()"),
)


@contextlib.contextmanager
def timed_steps(
    targets: tuple[Target, ...] = SIGNAL_STEPS,
    record: Callable[[str, float, float], None] | None = None,
) -> Iterator[list[Event]]:
    """Patch sync callables with timers for the duration. Each outermost call goes to `record`
    (label, start, end), by default appended to the list this yields."""
    events: list[Event] = []
    depth = [0]
    if record is None:

        def record(label: str, start: float, end: float) -> None:
            events.append((label, start, end))

    def wrap(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    record(label, start, time.perf_counter())

        return timed

    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
    try:
        for owner, name, label in targets:
            setattr(owner, name, wrap(getattr(owner, name), label))
        yield events
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def breakdown(timings: list[SignalTiming], events: list[Event]) -> list[tuple[str, float, float]]:
    """(step, mean ms, p50 ms) per signal, steps between t0 and execute, largest first."""
    per: dict[str, list[float]] = defaultdict(list)
    cursor = 0
    events = sorted(events, key=lambda e: e[1])
    for t in timings:
        sums: dict[str, float] = defaultdict(float)
        while cursor < len(events) and events[cursor][1] < t.t0:
            cursor += 1
        n = cursor
        while n < len(events) and events[n][2] <= t.t_exec:
            label, start, end = events[n]
            sums[label] += (end - start) * 1000
            n += 1
        sums["Bybit reads: round trips (ticker, wallet balance)"] = t.rt_engine_ms
        sums["Bybit reads: ccxt work around them"] = t.read_client_ms
        sums["rest of the engine (glue, events, logging, loop)"] = t.engine_ms - sum(sums.values())
        for label, ms in sums.items():
            per[label].append(ms)
    rows = [(label, statistics.mean(v), statistics.median(v)) for label, v in per.items()]
    return sorted(rows, key=lambda r: -r[1])


def render(rows: list[tuple[str, float, float]]) -> str:
    out = ["| step between t0 and `broker.execute` | mean ms | p50 ms |", "| --- | ---: | ---: |"]
    out += [f"| {label} | {mean:.2f} | {p50:.2f} |" for label, mean, p50 in rows]
    return "\n".join(out) + "\n"
