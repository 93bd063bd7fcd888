"""One odd lead-portfolio answer must not close everything: a mass close is read twice.

Binance sometimes answers a lead portfolio with `success: true` and an empty book (`data: []`,
only zero-amount rows, `code: null`) while the trader still holds everything; the next answer
is normal again. Acting on it closes every mirrored position and reopens them a poll later: four
orders, fees and spread twice. So an answer that would close two or more positions at once is
confirmed by an immediate second read (through another exit when there are proxies) before
anything is sent; one position closing alone is acted on at once, as before.

Pure: the engine reads, these functions decide.
"""

from __future__ import annotations

from lightspeed_cli.models import PositionKey, Snapshot

MASS_CLOSE = 2  # this many positions closing in one answer need a second read


def closed_keys(previous: Snapshot, current: Snapshot) -> set[PositionKey]:
    """The leader's positions (symbol, side) that `current` no longer holds."""
    held = current.by_key()
    return {p.key for p in previous.positions if p.key not in held}


def needs_confirmation(previous: Snapshot | None, current: Snapshot) -> bool:
    """True when `current` would close MASS_CLOSE or more positions at once."""
    if previous is None or len(previous.positions) < MASS_CLOSE:
        return False
    return len(closed_keys(previous, current)) >= MASS_CLOSE


def confirmed(previous: Snapshot, first: Snapshot, second: Snapshot | None) -> Snapshot | None:
    """The book to act on after the second read, or None to act on nothing this poll (the
    second read failed: no data is not flat, and the next poll asks again).

    The second read is the fresher book, except that a position it closes counts as closed only
    if the first read closed it too (two reads agree), or if it is the only one closing: a close
    seen once in a mass close is held at its previous size until a later poll confirms it."""
    if second is None:
        return None
    agreed = closed_keys(previous, first) & closed_keys(previous, second)
    unconfirmed = closed_keys(previous, second) - agreed
    if len(unconfirmed) < MASS_CLOSE and not agreed:
        return second  # at most one close, seen once: acted on at once like any single close
    kept = tuple(p for p in previous.positions if p.key in unconfirmed)
    if not kept:
        return second
    return second.model_copy(update={"positions": (*second.positions, *kept)})
