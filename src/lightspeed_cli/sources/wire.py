"""Binance "bapi" bodies → the trader's positions, strictly (shapes: shared/api/binance.md).

Every field is optional on the wire and any number may be a string (an empty one counts as
absent), but a position row without a symbol or an amount, or with a number that does not parse,
rejects the whole answer: a partial book would read as "closed" for the rows we dropped. An
explicit `null` list means the trader hides positions (HIDDEN); only a well-formed empty list
means flat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from lightspeed_cli.models import PositionKey, Side, TraderPosition
from lightspeed_cli.sources.errors import MalformedAnswer, RejectedAnswer

HIDDEN_LEADERBOARD = "positions not shared: the trader hides them on the leaderboard"
HIDDEN_COPYTRADE = "positions not shared: the lead portfolio is private or hides its positions"


def _blank_is_missing(value: object) -> object:
    """An empty string is a number Binance left out, like null (a row still needs its amount:
    a missing amount rejects the whole answer)."""
    return None if isinstance(value, str) and not value.strip() else value


_Number = Annotated[Decimal | None, BeforeValidator(_blank_is_missing)]
_Millis = Annotated[int | None, BeforeValidator(_blank_is_missing)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Envelope(_Wire):
    success: bool
    code: str | int | None = None
    message: str | None = None


class PositionRow(_Wire):
    """One position row, in the leaderboard's field names (copy-trade rows alias theirs)."""

    symbol: str | None = None
    amount: _Number = None  # signed: positive long, negative short; 0 = closed
    entryPrice: _Number = None
    markPrice: _Number = None
    pnl: _Number = None
    leverage: _Number = None
    updateTimeStamp: _Millis = None  # ms
    positionSide: Literal["BOTH", "LONG", "SHORT"] | None = None  # hedge rows name their side


class LeaderboardData(_Wire):
    otherPositionRetList: list[PositionRow] | None = None
    updateTimeStamp: _Millis = None  # ms


class LeaderboardAnswer(_Envelope):
    data: LeaderboardData | None = None


class CopytradeRow(PositionRow):
    amount: _Number = Field(default=None, alias="positionAmount")
    pnl: _Number = Field(default=None, alias="unrealizedProfit")


class CopytradeAnswer(_Envelope):
    data: list[CopytradeRow] | None = None


@dataclass(frozen=True, slots=True)
class Book:
    """A parsed answer: the open positions, or `positions=None` when the trader hides them."""

    positions: tuple[TraderPosition, ...] | None
    source_time: datetime | None = None
    hidden_reason: str = ""

    @property
    def hidden(self) -> bool:
        return self.positions is None


def parse_leaderboard(body: bytes | str) -> Book:
    answer = _decode(body, LeaderboardAnswer)
    if "data" not in answer.model_fields_set:
        raise MalformedAnswer("no `data` field")
    data = answer.data
    if data is None:
        return Book(None, hidden_reason=HIDDEN_LEADERBOARD)
    if "otherPositionRetList" not in data.model_fields_set:
        raise MalformedAnswer("no `data.otherPositionRetList` field")
    if data.otherPositionRetList is None:
        return Book(None, hidden_reason=HIDDEN_LEADERBOARD)
    positions = _positions(data.otherPositionRetList)
    return Book(positions, source_time=_ms_to_datetime(data.updateTimeStamp, "updateTimeStamp"))


def parse_copytrade(body: bytes | str) -> Book:
    answer = _decode(body, CopytradeAnswer)
    if "data" not in answer.model_fields_set:
        raise MalformedAnswer("no `data` field")
    if answer.data is None:
        return Book(None, hidden_reason=HIDDEN_COPYTRADE)
    return Book(_positions(answer.data))


OK_CODE = "000000"  # Binance's success code; any all-zero code (0, "0") means the same
_HEDGE_SIDES: dict[str, Side | None] = {"BOTH": None, "LONG": Side.LONG, "SHORT": Side.SHORT}
_A = TypeVar("_A", bound=_Envelope)


def _decode(body: bytes | str, model: type[_A]) -> _A:
    """Validate the whole body; a `success: false` answer wins over any shape problem in it."""
    try:
        answer = model.model_validate_json(body)
    except ValidationError as exc:
        try:
            envelope = _Envelope.model_validate_json(body)
        except ValidationError:
            raise MalformedAnswer(describe(exc)) from None
        if envelope.success:
            raise MalformedAnswer(describe(exc)) from None
        answer = envelope  # type: ignore[assignment]
    if not answer.success or str(answer.code if answer.code is not None else OK_CODE).strip("0"):
        # success:true with an error code contradicts itself: never read it as a book
        raise RejectedAnswer(answer.code, answer.message, success=answer.success)
    return answer


def _positions(rows: Iterable[PositionRow]) -> tuple[TraderPosition, ...]:
    """Open positions in wire order; two rows for one (symbol, side) is a shape we do not know."""
    seen: dict[PositionKey, TraderPosition] = {}
    for index, row in enumerate(rows):
        position = _position(index, row)
        if position is None:
            continue
        if position.key in seen:
            symbol, side = position.key
            raise MalformedAnswer(f"two rows for {symbol} {side.value}")
        seen[position.key] = position
    return tuple(seen.values())


def _position(index: int, row: PositionRow) -> TraderPosition | None:
    """One wire row → a position; None for a zero-amount (closed) row."""
    symbol, amount, leverage = row.symbol, row.amount, row.leverage
    if not symbol or not symbol.strip():
        raise MalformedAnswer(f"position row {index}: no symbol")
    if amount is None:
        raise MalformedAnswer(f"position row {index} ({symbol}): no amount")
    if amount == 0:
        return None
    where = f"position row {index} ({symbol})"
    if leverage is not None and leverage != leverage.to_integral_value():
        raise MalformedAnswer(f"{where}: leverage {leverage} is not a whole number")
    try:
        return TraderPosition(
            symbol=symbol.strip(),
            # Hedge rows name their side; one-way rows carry it in the amount's sign.
            side=_HEDGE_SIDES[row.positionSide or "BOTH"]
            or (Side.LONG if amount > 0 else Side.SHORT),
            size=abs(amount),
            entry_price=row.entryPrice or 0,
            mark_price=row.markPrice or 0,
            leverage=int(leverage) if leverage is not None else 1,
            pnl=row.pnl or 0,
            update_time=_ms_to_datetime(row.updateTimeStamp, f"{where}: updateTimeStamp"),
        )
    except ValidationError as exc:
        raise MalformedAnswer(f"{where}: {describe(exc)}") from None


def _ms_to_datetime(ms: int | None, what: str) -> datetime | None:
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedAnswer(f"{what}: {ms} is not a time in milliseconds") from None


def describe(exc: ValidationError, limit: int = 3) -> str:
    """`path: problem (got value)` for the first few errors, without pydantic's URL noise."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        got = err.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        parts.append(f"{path.lstrip('.') or 'body'}: {err['msg']} (got {shown[:60]})")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
