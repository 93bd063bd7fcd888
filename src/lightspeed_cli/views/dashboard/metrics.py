"""/metrics: the journal's facts in Prometheus' text format, computed at scrape time.

Counts come from the journal, so they survive restarts and hold without a running bot: a
counter here is "so far in this journal". Polls are the traders' last poll and good read (the
journal keeps no count of them), blind traders a gauge, orders by outcome, detection latency
and slippage as histograms, alerts as the warning and error events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

LATENCY_BUCKETS_MS = (50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)
SLIPPAGE_BUCKETS_BPS = (-20, -10, -5, -1, 0, 1, 5, 10, 20, 50)
EVENT_LIMIT = 100_000


def _histogram(name: str, doc: str, values: Sequence[float], bounds: Iterable[float]) -> Metric:
    buckets = [(str(float(b)), sum(1 for v in values if v <= b)) for b in bounds]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(values))


def _ts(moment: str | None) -> float | None:
    return datetime.fromisoformat(moment).timestamp() if moment else None


class JournalCollector:
    """One scrape's metrics from the facts `facts()` reads (a fresh journal read each time)."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts

    def collect(self) -> Iterator[Metric]:
        f = self.facts
        last_poll = GaugeMetricFamily(
            "lightspeed_trader_last_poll_timestamp_seconds",
            "Last poll of the trader",
            labels=["trader"],
        )
        last_ok = GaugeMetricFamily(
            "lightspeed_trader_last_good_read_timestamp_seconds",
            "Last good read of the trader",
            labels=["trader"],
        )
        blind = GaugeMetricFamily(
            "lightspeed_trader_blind", "1 while the bot is blind to the trader", labels=["trader"]
        )
        for t in f["traders"]:
            for family, key in ((last_poll, "last_poll_at"), (last_ok, "last_ok_at")):
                value = _ts(t[key])
                if value is not None:
                    family.add_metric([t["id"]], value)
            blind.add_metric([t["id"]], 1.0 if t["blind"] else 0.0)
        yield from (last_poll, last_ok, blind)
        yield GaugeMetricFamily(
            "lightspeed_blind_traders",
            "Traders the bot is blind to",
            value=sum(1 for t in f["traders"] if t["blind"]),
        )
        orders = CounterMetricFamily(
            "lightspeed_orders",
            "Leader changes by outcome (executed, refused, skipped, failed)",
            labels=["outcome"],
        )
        for outcome, n in sorted(f["outcomes"].items()):
            orders.add_metric([outcome], n)
        yield orders
        yield _histogram(
            "lightspeed_detection_latency_ms",
            "Leader's change to our order sent",
            f["latency_ms"],
            LATENCY_BUCKETS_MS,
        )
        yield _histogram(
            "lightspeed_slippage_bps",
            "Copy slippage (positive: worse)",
            f["slippage_bps"],
            SLIPPAGE_BUCKETS_BPS,
        )
        alerts = CounterMetricFamily(
            "lightspeed_alerts", "Warning and error events in the journal", labels=["level"]
        )
        for level, n in sorted(f["alerts"].items()):
            alerts.add_metric([level], n)
        yield alerts
        yield GaugeMetricFamily(
            "lightspeed_kill_switch",
            "1 while the daily loss limit is hit",
            value=1.0 if f["kill_switch"] else 0.0,
        )
        yield GaugeMetricFamily(
            "lightspeed_realized_pnl_today_usdt",
            "Today's realized PnL",
            value=float(f["pnl_today"]),
        )
        yield GaugeMetricFamily(
            "lightspeed_open_positions", "Open mirrored positions", value=f["positions"]
        )


def metric_facts(
    overview: dict[str, Any], history: list[dict[str, Any]], events: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "traders": overview["traders"],
        "outcomes": Counter(r["decision"] for r in history),
        "latency_ms": [
            float(r["detection_latency_ms"])
            for r in history
            if r.get("detection_latency_ms") is not None
        ],
        "slippage_bps": [
            float(r["slippage_bps"]) for r in history if r.get("slippage_bps") is not None
        ],
        "alerts": Counter(e["level"] for e in events if e["level"] in ("warning", "error")),
        "kill_switch": overview["kill_switch"]["on"],
        "pnl_today": overview["realized_pnl_usdt"],
        "positions": len(overview["positions"]),
    }


def render(facts: dict[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JournalCollector(facts))  # type: ignore[arg-type]
    return generate_latest(registry)
