"""Leverage and margin mode set on Bybit ahead of time, so an open makes no request for them.

An open on Bybit needs the symbol's leverage (and, once, the account's margin mode) set first:
done on the first order it costs one or two round trips between a leader's change and our
order. Instead they are set in the background for every symbol the followed traders hold or
have held: at start for the journal's books, then for each position a snapshot shows. The
broker caches what it set, so an order on a prepared symbol goes out with no request before it.

The leverage is the one the open would use (`sizing.leverage`, else the trader's own, clamped
by `safety.max_leverage`). A symbol the follower already holds is left alone: changing its
leverage would change a live position's margin without any order; its next open sets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import Settings
from lightspeed_cli.decisions.safety import resolve_leverage
from lightspeed_cli.decisions.symbols import SymbolMap
from lightspeed_cli.execution.base import Broker
from lightspeed_cli.models import SignalKind, SymbolMapping, TraderPosition

log = logging.getLogger(__name__)


def opening_leverage(
    settings: Settings, trader: TraderSettings, position: TraderPosition, mapping: SymbolMapping
) -> int:
    """The leverage an open copying `position` would use (decide.py's rule)."""
    requested = trader.effective_sizing(settings.sizing).leverage or position.leverage
    return resolve_leverage(SignalKind.OPEN, requested, settings.safety, mapping)


def wanted(
    settings: Settings,
    symbols: SymbolMap,
    trader: TraderSettings,
    positions: Iterable[TraderPosition],
    done: set[tuple[str, int]],
    held: set[str],
) -> list[tuple[str, int]]:
    """(Bybit symbol, leverage) pairs still to set for these positions: not done yet, not
    held by the follower, and mapped to a Bybit market."""
    out = []
    for position in positions:
        mapping = symbols.resolve(position.symbol)
        if not isinstance(mapping, SymbolMapping) or mapping.market.symbol in held:
            continue
        pair = (mapping.market.symbol, opening_leverage(settings, trader, position, mapping))
        if pair not in done and pair not in out:
            out.append(pair)
    return out


class AheadOfTime:
    """Sets what opens need in background tasks; a failure only means the order sets it."""

    def __init__(self, broker: Broker, settings: Settings) -> None:
        self.broker = broker
        self.settings = settings
        self.done: set[tuple[str, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def positions_seen(
        self,
        symbols: SymbolMap,
        trader: TraderSettings,
        positions: Iterable[TraderPosition],
        held: set[str],
    ) -> None:
        """Prepare, in the background, the symbols of these positions not prepared yet."""
        pairs = wanted(self.settings, symbols, trader, positions, self.done, held)
        if pairs:
            self.done.update(pairs)  # claimed now: one task per pair, never two
            task = asyncio.create_task(self._prepare(pairs), name="prepare-opens")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _prepare(self, pairs: list[tuple[str, int]]) -> None:
        if not pairs:
            try:
                await self.broker.prepare()
            except Exception as exc:  # the first open sets it (and says why not)
                log.info("margin mode not set ahead of time: %s", exc)
            return
        for symbol, leverage in pairs:
            try:
                await self.broker.prepare(symbol, leverage)
            except Exception as exc:
                self.done.discard((symbol, leverage))  # the order will set it (and say why not)
                log.info("%s: leverage %s not set ahead of time: %s", symbol, leverage, exc)

    def margin_mode(self) -> None:
        """The account-wide margin mode, once, in the background."""
        task = asyncio.create_task(self._prepare([]), name="prepare-margin-mode")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
