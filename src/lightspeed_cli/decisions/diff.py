"""Previous snapshot + new snapshot -> signals. Pure: no I/O, no clock.

Positions are matched by (symbol, side), so a hedge-mode trader's long and short on one symbol
are independent. A one-way trader who went long -> short (the old side vanished, the new one
appeared) yields one FLIP, which `expand_flip` turns into CLOSE + OPEN for sizing and safety.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from lightspeed_cli.models import PositionKey, Side, Signal, SignalKind, Snapshot, TraderPosition

DEFAULT_SIZE_EPSILON = Decimal("0.001")

# Free margin first: closes and reduces, then flips (a close followed by an open), then growth.
_KIND_RANK = {
    SignalKind.CLOSE: 0,
    SignalKind.REDUCE: 0,
    SignalKind.FLIP: 1,
    SignalKind.INCREASE: 2,
    SignalKind.OPEN: 2,
}


def diff(
    previous: Snapshot | None,
    current: Snapshot,
    *,
    follow_existing: bool = False,
    size_epsilon: Decimal = DEFAULT_SIZE_EPSILON,
) -> list[Signal]:
    """Signals that take the trader's book from `previous` to `current`.

    `previous` None is the first snapshot after start: it opens nothing unless
    `follow_existing` (then one OPEN per position). A size change smaller than `size_epsilon`
    relative to the previous size is no signal. Order: closes/reduces, flips, opens/increases;
    then by symbol and side, so the same inputs always give the same list.
    """
    if size_epsilon < 0:
        raise ValueError("size_epsilon must be >= 0")
    if previous is not None and previous.trader != current.trader:
        raise ValueError(f"cannot diff trader {previous.trader!r} against {current.trader!r}")
    if previous is None:
        signals = [_open(current, p) for p in current.positions] if follow_existing else []
        return _sorted(signals)

    before = previous.by_key()
    after = current.by_key()
    signals: list[Signal] = []
    flipped: set[str] = set()
    for symbol, (old, new) in _flips(before, after).items():
        flipped.add(symbol)
        signals.append(_signal(current, SignalKind.FLIP, old=old, new=new))
    for key in before.keys() | after.keys():
        if key[0] in flipped:
            continue
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            signals.append(_open(current, new))
        elif old is not None and new is None:
            signals.append(_signal(current, SignalKind.CLOSE, old=old, new=None))
        elif old is not None and new is not None and _changed(old.size, new.size, size_epsilon):
            kind = SignalKind.INCREASE if new.size > old.size else SignalKind.REDUCE
            signals.append(_signal(current, kind, old=old, new=new))
    return _sorted(signals)


def expand_flip(signal: Signal) -> list[Signal]:
    """FLIP -> [CLOSE of the old side, OPEN of the new side]; any other signal -> [signal]."""
    if signal.kind is not SignalKind.FLIP:
        return [signal]
    if signal.position is None or signal.previous_position is None:
        raise ValueError("a FLIP signal must carry both the old and the new position")
    common = signal.model_dump(
        include={"trader", "symbol", "snapshot_time", "source_time"}, round_trip=True
    )
    close = Signal(
        **common,
        kind=SignalKind.CLOSE,
        side=signal.side.opposite,
        previous_size=signal.previous_size,
        new_size=Decimal(0),
        reduce_fraction=Decimal(1),
        previous_position=signal.previous_position,
    )
    open_ = Signal(
        **common,
        kind=SignalKind.OPEN,
        side=signal.side,
        previous_size=Decimal(0),
        new_size=signal.new_size,
        position=signal.position,
    )
    return [close, open_]


def apply(previous: Snapshot | None, signals: list[Signal]) -> dict[PositionKey, Decimal]:
    """Position sizes after applying `signals` to `previous` (the inverse of `diff`).

    Strict: a signal whose `previous_size` disagrees with the book it is applied to raises
    ValueError, so a property test catches a diff that describes the wrong starting point.
    """
    sizes: dict[PositionKey, Decimal] = (
        {k: p.size for k, p in previous.by_key().items()} if previous else {}
    )
    for s in signals:
        for step in expand_flip(s):
            key = (step.symbol, step.side)
            held = sizes.get(key, Decimal(0))
            if held != step.previous_size:
                raise ValueError(
                    f"{step.kind} {key}: signal starts from {step.previous_size}, book has {held}"
                )
            if step.new_size == 0:
                sizes.pop(key, None)
            else:
                sizes[key] = step.new_size
    return sizes


def _flips(
    before: dict[PositionKey, TraderPosition], after: dict[PositionKey, TraderPosition]
) -> dict[str, tuple[TraderPosition, TraderPosition]]:
    """Symbols whose only side went from one to the other between the two snapshots."""
    sides_before: dict[str, set[Side]] = defaultdict(set)
    sides_after: dict[str, set[Side]] = defaultdict(set)
    for symbol, side in before:
        sides_before[symbol].add(side)
    for symbol, side in after:
        sides_after[symbol].add(side)
    flips = {}
    for symbol, old_sides in sides_before.items():
        new_sides = sides_after.get(symbol, set())
        if len(old_sides) == 1 and len(new_sides) == 1 and old_sides != new_sides:
            (old_side,) = old_sides
            flips[symbol] = (before[(symbol, old_side)], after[(symbol, old_side.opposite)])
    return flips


def _changed(old: Decimal, new: Decimal, epsilon: Decimal) -> bool:
    """True when the size moved by at least `epsilon` of the old size (old > 0 always)."""
    return new != old and abs(new - old) >= epsilon * old


def _open(current: Snapshot, position: TraderPosition) -> Signal:
    return _signal(current, SignalKind.OPEN, old=None, new=position)


def _signal(
    current: Snapshot,
    kind: SignalKind,
    *,
    old: TraderPosition | None,
    new: TraderPosition | None,
) -> Signal:
    ref = new if new is not None else old
    assert ref is not None
    previous_size = old.size if old is not None else Decimal(0)
    new_size = new.size if new is not None else Decimal(0)
    fraction: Decimal | None = None
    if kind is SignalKind.CLOSE:
        fraction = Decimal(1)
    elif kind is SignalKind.REDUCE:
        fraction = (previous_size - new_size) / previous_size
    return Signal(
        trader=current.trader,
        kind=kind,
        symbol=ref.symbol,
        side=ref.side,
        previous_size=previous_size,
        new_size=new_size,
        reduce_fraction=fraction,
        position=new,
        previous_position=old,
        snapshot_time=current.fetched_at,
        source_time=current.source_time,
    )


def _sorted(signals: list[Signal]) -> list[Signal]:
    return sorted(signals, key=lambda s: (_KIND_RANK[s.kind], s.symbol, s.side.value))
