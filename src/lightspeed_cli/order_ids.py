"""Deterministic Bybit orderLinkIds, so one leader change can never become two orders."""

from __future__ import annotations

import hashlib

from lightspeed_cli.models import Side

PREFIX = "ls"


def client_order_id(
    *, instance: str, trader: str, symbol: str, side: Side, version: int, attempt: int
) -> str:
    """Same inputs, same id: after a crash the replayed change reuses it and Bybit dedups.

    `version` counts finished changes of this (trader, symbol, side) in the journal and
    `attempt` counts confirmed-unplaced tries of the current one; `instance` is the journal's
    random salt so a fresh journal never collides with an old account's ids.
    """
    material = f"{instance}|{trader}|{symbol}|{side.value}|{version}|{attempt}".encode()
    digest = hashlib.sha256(material).hexdigest()[:30]
    return f"{PREFIX}-{digest}"[:36]
