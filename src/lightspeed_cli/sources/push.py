"""The shape of a source that is told rather than asked (the relay; Hyperliquid's pushes).

    async for pushed in source.books():       # runs until cancelled; reconnects by itself
        engine_sees(pushed.trader, pushed.snapshot)
    if source.silent():                        # nothing trustworthy heard for too long:
        ...                                    # the caller falls back to polling

A `PushedBook` is a whole book, to be treated exactly as a polled one (same diff, safety
checks, journal, fate rules); `mass_close_confirmed` says the pusher already read a mass close
twice (decisions/massclose.py). Nothing is ever yielded for an error: silence is not flat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple, Protocol

from lightspeed_cli.models import Snapshot


class PushedBook(NamedTuple):
    trader: str
    snapshot: Snapshot
    mass_close_confirmed: bool = False


class PushSource(Protocol):
    def books(self) -> AsyncIterator[PushedBook]: ...

    def silent(self) -> bool:
        """True when nothing trustworthy was heard for longer than the source allows."""
        ...
