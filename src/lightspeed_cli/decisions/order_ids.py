"""Deterministic Bybit orderLinkIds, so one leader change can never become two orders.

An id reads `ls-TTTTTT-HHHH…`: `TTTTTT` names the trader (a hash of its id, no salt) and the
rest is a salted hash of the change. The trader part survives a lost journal: the bot still
tells its own orders on Bybit from the user's and knows which trader each one mirrored.
"""

from __future__ import annotations

import hashlib
import re

from lightspeed_cli.models import Side

PREFIX = "ls"
_TAG = 6
_ID = re.compile(rf"^{PREFIX}-(?P<tag>[0-9a-f]{{{_TAG}}})-[0-9a-f]{{26}}$")
_LEGACY = re.compile(rf"^{PREFIX}-[0-9a-f]{{30}}$")  # before the trader tag: the bot's, no trader


def trader_tag(trader: str) -> str:
    """The trader part of every id this trader's changes get (stable across journals)."""
    return hashlib.sha256(f"trader|{trader}".encode()).hexdigest()[:_TAG]


def _make(trader: str, material: str) -> str:
    digest = hashlib.sha256(material.encode()).hexdigest()[:26]
    return f"{PREFIX}-{trader_tag(trader)}-{digest}"


def client_order_id(
    *, instance: str, trader: str, symbol: str, side: Side, version: int, attempt: int
) -> str:
    """Same inputs, same id: after a crash the replayed change reuses it and Bybit dedups.

    `version` counts finished changes of this (trader, symbol, side) in the journal and
    `attempt` counts confirmed-unplaced tries of the current one; `instance` is the journal's
    random salt so a fresh journal never collides with an old account's ids.
    """
    return _make(trader, f"{instance}|{trader}|{symbol}|{side.value}|{version}|{attempt}")


def repair_order_id(*, instance: str, trader: str, symbol: str, side: Side, number: int) -> str:
    """The id of the `number`-th reduce-only repair of (trader, Bybit symbol, side)."""
    return _make(trader, f"{instance}|repair|{trader}|{symbol}|{side.value}|{number}")


def is_bot_order(link_id: str) -> bool:
    """An orderLinkId this bot makes (any journal, any version of the id format)."""
    return bool(_ID.match(link_id) or _LEGACY.match(link_id))


def tag_of(link_id: str) -> str | None:
    """The trader tag of one of the bot's ids, None for anything else (or a legacy id)."""
    match = _ID.match(link_id)
    return match["tag"] if match else None
