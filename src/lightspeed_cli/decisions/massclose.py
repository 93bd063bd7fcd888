"""One odd lead-portfolio answer must not trade: a suspect change is read twice.

Binance sometimes answers a lead portfolio with `success: true` and an empty book (`data: []`,
only zero-amount rows, `code: null`) while the trader still holds everything, or with one row
spiked (100 for 1, x1000 on two symbols, a tiny 1e-5), gone, renamed or sign-flipped; the next
answer is normal again. Acting on it closes (or sells down) what the trader still holds and
reopens it a poll later: orders, fees and spread twice, and a position sold for good when the
way back is refused. So an answer with a suspect change is confirmed by an immediate second
read (through another exit when there are proxies) before anything is sent. Suspect:
- a position closing (its row vanished; two or more at once is a mass close),
- a position opening in the same answer as a close (a sign flip, a rename: a close + reopen),
- a size more than ABSURD_FACTOR x, or less than 1 / ABSURD_FACTOR, of the last one.
Only what both reads agree on is acted on; the rest waits for a later poll.

Pure: the engine reads, these functions decide.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from lightspeed_cli.models import PositionKey, Snapshot

MASS_CLOSE = 2  # this many positions closing in one answer is a mass close (said so)
ABSURD_FACTOR = Decimal(10)  # a size moving beyond this factor in one read is confirmed first


class Suspect(StrEnum):
    CLOSED = "closed"
    OPENED = "opened with a close"  # a close + reopen in one answer: flip or rename
    GREW = f"grew more than {ABSURD_FACTOR}x"
    SHRANK = f"shrank below 1/{ABSURD_FACTOR}"


def closed_keys(previous: Snapshot, current: Snapshot) -> set[PositionKey]:
    """The leader's positions (symbol, side) that `current` no longer holds."""
    held = current.by_key()
    return {p.key for p in previous.positions if p.key not in held}


def absurd(old: Decimal, new: Decimal) -> Suspect | None:
    """GREW / SHRANK when `new` is beyond ABSURD_FACTOR of `old` (old > 0); exactly the factor
    is not."""
    if new > old * ABSURD_FACTOR:
        return Suspect.GREW
    if new * ABSURD_FACTOR < old:
        return Suspect.SHRANK
    return None


def suspects(previous: Snapshot | None, current: Snapshot) -> dict[PositionKey, Suspect]:
    """The changes from `previous` to `current` that one answer alone must not trade on."""
    if previous is None:
        return {}  # a first read closes nothing
    before = previous.by_key()
    found: dict[PositionKey, Suspect] = dict.fromkeys(
        closed_keys(previous, current), Suspect.CLOSED
    )
    a_close = bool(found)
    for key, position in current.by_key().items():
        old = before.get(key)
        if old is None:
            kind = Suspect.OPENED if a_close else None
        else:
            kind = absurd(old.size, position.size)
        if kind is not None:
            found[key] = kind
    return found


def needs_confirmation(previous: Snapshot | None, current: Snapshot) -> bool:
    """True when `current` holds a suspect change: read again before acting."""
    return bool(suspects(previous, current))


def confirmed(previous: Snapshot, first: Snapshot, second: Snapshot | None) -> Snapshot | None:
    """The book to act on after the second read, or None to act on nothing this poll (the
    second read failed: no data is not flat, and the next poll asks again).

    The second read is the fresher book, except that a suspect change in it counts only if the
    first read saw the same kind of change on the same position (two reads agree); one seen
    once is held at its previous state (an opening dropped) until a later poll confirms it."""
    if second is None:
        return None
    seen = suspects(previous, first)
    unagreed = {k for k, kind in suspects(previous, second).items() if seen.get(k) is not kind}
    if not unagreed:
        return second
    before = previous.by_key()
    kept = tuple(p for p in second.positions if p.key not in unagreed)
    held = tuple(before[k] for k in sorted(unagreed) if k in before)
    return second.model_copy(update={"positions": (*kept, *held)})


def agreed(previous: Snapshot, decided: Snapshot) -> dict[PositionKey, Suspect]:
    """The suspect changes the decided book still carries (empty: the answer was a glitch)."""
    return suspects(previous, decided)
