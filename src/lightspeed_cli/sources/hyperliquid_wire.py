"""Hyperliquid's answers and frames -> our types (shared/api/hyperliquid.md sections 2, 3 and 6).

Parsing is lenient about what we do not use (older answers lack `time`, `cumFunding`...) and
strict about what we do: a position without a readable `coin`, `szi` or `leverage`, or a fill
without `coin`, `px`, `sz`, `side`, `time` or `startPosition`, makes the whole answer malformed
(never a partial book). Coins that are not first-dex perps (spot `@107` / `PURR/USDC`, outcome
`#n`, builder-dex `flx:CRCL`) are kept aside with the reason they are not copied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lightspeed_cli.decisions.symbols import hyperliquid_refusal, hyperliquid_symbol
from lightspeed_cli.models import Side, TraderPosition
from lightspeed_cli.sources.errors import MalformedAnswer

SOURCE = "Hyperliquid"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _finite(value: Decimal | None) -> Decimal | None:
    if value is not None and not value.is_finite():
        raise ValueError("not a finite number")
    return value


class _Leverage(_Wire):
    type: str = "cross"
    value: int = Field(ge=1)


class _Position(_Wire):
    coin: str = Field(min_length=1)
    szi: Decimal
    entryPx: Decimal | None = None
    leverage: _Leverage
    positionValue: Decimal | None = None
    unrealizedPnl: Decimal | None = None

    _check = field_validator("szi", "entryPx", "positionValue", "unrealizedPnl")(_finite)


class _AssetPosition(_Wire):
    position: _Position


class _Summary(_Wire):
    accountValue: Decimal

    _check = field_validator("accountValue")(_finite)


class _State(_Wire):
    assetPositions: list[_AssetPosition]
    marginSummary: _Summary | None = None
    time: int | None = None


class _Fill(_Wire):
    coin: str = Field(min_length=1)
    px: Decimal = Field(ge=0)
    sz: Decimal = Field(gt=0)
    side: Literal["B", "A"]
    time: int = Field(ge=0)
    startPosition: Decimal
    dir: str = "unknown"
    tid: int = 0
    hash: str = ""

    _check = field_validator("px", "sz", "startPosition")(_finite)


@dataclass(frozen=True, slots=True)
class HlFill:
    """One of the leader's fills: the leader's own price and time, and the position it left."""

    coin: str
    px: Decimal
    sz: Decimal
    side: Literal["B", "A"]
    time_ms: int
    start_position: Decimal  # signed size before the fill
    dir: str
    tid: int

    @property
    def new_position(self) -> Decimal:
        """Signed size after the fill; a flip ("Long > Short") is one fill across zero."""
        return self.start_position + self.sz if self.side == "B" else self.start_position - self.sz

    @property
    def key(self) -> tuple[Any, ...]:
        """Dedupe key: `tid`, or what tells fills apart when it is 0 (dust conversions)."""
        if self.tid:
            return (self.tid,)
        return (self.coin, self.time_ms, self.start_position, self.sz, self.side)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.time_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class HlBook:
    """A wallet's first-dex perp book from clearinghouseState, coins we refuse kept aside."""

    positions: tuple[TraderPosition, ...]
    account_value: Decimal | None
    time_ms: int | None
    refused: tuple[tuple[str, str], ...] = ()  # (coin, reason)

    @property
    def at(self) -> datetime | None:
        return None if self.time_ms is None else datetime.fromtimestamp(self.time_ms / 1000, UTC)


def _load(body: bytes | str | Any) -> Any:
    if isinstance(body, bytes | str):
        try:
            return json.loads(body)
        except ValueError as exc:
            raise MalformedAnswer(f"not JSON ({exc})", SOURCE) from None
    return body


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def position(
    coin: str, szi: Decimal, entry: Decimal, leverage: int, mark: Decimal | None = None
) -> TraderPosition:
    """A signed Hyperliquid size as our position (the coin named as a contract: symbols.py)."""
    return TraderPosition(
        symbol=hyperliquid_symbol(coin),
        side=Side.LONG if szi > 0 else Side.SHORT,
        size=abs(szi),
        entry_price=entry,
        mark_price=entry if mark is None else mark,
        leverage=min(max(leverage, 1), 200),
    )


def parse_clearinghouse(body: bytes | str | Any) -> HlBook:
    """A clearinghouseState answer as a book. Raises MalformedAnswer for anything else (a
    `null`, an error object, a position we cannot read): never an empty book."""
    data = _load(body)
    if not isinstance(data, dict):
        raise MalformedAnswer(f"expected an object, got {type(data).__name__}", SOURCE)
    try:
        state = _State.model_validate(data)
    except ValidationError as exc:
        raise MalformedAnswer(_problem(exc), SOURCE) from None
    positions: list[TraderPosition] = []
    refused: list[tuple[str, str]] = []
    for row in state.assetPositions:
        p = row.position
        if p.szi == 0:
            continue
        reason = hyperliquid_refusal(p.coin)
        if reason is not None:
            refused.append((p.coin, reason))
            continue
        mark = abs(p.positionValue / p.szi) if p.positionValue is not None else None
        entry = p.entryPx if p.entryPx is not None else (mark or Decimal(0))
        positions.append(position(p.coin, p.szi, entry, p.leverage.value, mark))
    account = state.marginSummary.accountValue if state.marginSummary else None
    return HlBook(tuple(positions), account, state.time, tuple(refused))


def parse_fill(raw: Any) -> HlFill:
    """One fill object; raises MalformedAnswer if it lacks what a copy needs."""
    try:
        f = _Fill.model_validate(raw)
    except ValidationError as exc:
        raise MalformedAnswer(f"fill {_problem(exc)}", SOURCE) from None
    return HlFill(f.coin, f.px, f.sz, f.side, f.time, f.startPosition, f.dir, f.tid)


def parse_fills(body: bytes | str | Any) -> list[HlFill]:
    """A userFills / userFillsByTime answer (a list of fills)."""
    data = _load(body)
    if not isinstance(data, list):
        raise MalformedAnswer(f"expected a list of fills, got {type(data).__name__}", SOURCE)
    return [parse_fill(raw) for raw in data]


@dataclass(frozen=True, slots=True)
class FillsFrame:
    """A `userFills` socket frame: the subscribe snapshot (history) or live fills."""

    user: str  # lower case
    is_snapshot: bool
    fills: tuple[HlFill, ...]


def parse_frame(text: str) -> FillsFrame | str | None:
    """A socket text frame: a FillsFrame, the channel name of any other JSON frame (`pong`,
    `subscriptionResponse`, `error`...), or None for the plain-text greeting. Raises
    MalformedAnswer for a userFills frame we cannot read."""
    try:
        message = json.loads(text)
    except ValueError:
        return None  # "Websocket connection established.": not JSON, skipped like the SDK
    if not isinstance(message, dict):
        raise MalformedAnswer("socket frame is not an object", SOURCE)
    channel = message.get("channel")
    if channel != "userFills":
        return str(channel)
    data = message.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise MalformedAnswer("userFills frame without data.user", SOURCE)
    raw = data.get("fills")
    if not isinstance(raw, list):
        raise MalformedAnswer("userFills frame without a fills list", SOURCE)
    fills = tuple(parse_fill(f) for f in raw)
    return FillsFrame(data["user"].lower(), data.get("isSnapshot") is True, fills)
