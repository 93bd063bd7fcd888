"""Binance "bapi" bodies → the trader's positions, strictly (shapes: shared/api/binance.md).

Every field is optional on the wire and any number may be a string (an empty one counts as
absent), but a position row without a symbol or an amount, or with a number that does not parse,
rejects the whole answer: a partial book would read as "closed" for the rows we dropped. An
explicit `null` list means the trader hides positions (HIDDEN); only a well-formed empty list
means flat.

Strict on what a glitch looks like (issue 22): a symbol is `[A-Z0-9]+`; a number is a JSON
number or a plain decimal string in ASCII digits (`Decimal` alone would also read "1_0",
Arabic-Indic digits, "1e400", "NaN", "Infinity"); JSON numbers are read exactly (a float
would turn `1e-400` into 0, a "closed" row); a number beyond any market, or a non-zero amount
below any market's step, rejects the answer. So does a list longer than MAX_ROWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from lightspeed_cli.models import PositionKey, Side, TraderPosition
from lightspeed_cli.sources.errors import MalformedAnswer, RejectedAnswer

HIDDEN_LEADERBOARD = "positions not shared: the trader hides them on the leaderboard"
HIDDEN_COPYTRADE = "positions not shared: the lead portfolio is private or hides its positions"


def _blank_is_missing(value: object) -> object:
    """An empty string is a number Binance left out, like null (a row still needs its amount:
    a missing amount rejects the whole answer)."""
    return None if isinstance(value, str) and not value.strip() else value


MAX_NUMBER = Decimal("1e15")  # beyond any market's size, price or PnL
MIN_AMOUNT = Decimal("1e-12")  # below any market's quantity step (and not zero)
MAX_ROWS = 1_000  # rows in one answer: Binance lists a few hundred symbols at most
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SYMBOL = re.compile(r"[A-Z0-9]+")


def _strict_number(value: object) -> object:
    """A JSON number (exact: read as Decimal, see `load_json`) or a plain decimal string;
    anything else Decimal would take (bools, "1_0", "٣", "1e400", "NaN") is refused."""
    value = _blank_is_missing(value)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("a number, not a boolean")
    if isinstance(value, str):
        text = value.strip()
        if not _PLAIN_DECIMAL.fullmatch(text):
            raise ValueError("not a plain decimal number")
        value = Decimal(text)
    elif isinstance(value, int | float):
        value = Decimal(str(value))
    if not isinstance(value, Decimal):
        raise ValueError("not a number")
    if not value.is_finite() or abs(value) > MAX_NUMBER:
        raise ValueError(f"{value} is beyond any market")
    return value


def _amount_in_range(value: Decimal | None) -> Decimal | None:
    if value is not None and value != 0 and abs(value) < MIN_AMOUNT:
        raise ValueError(f"{value} is below any market's quantity step")
    return value


def _symbol(value: object) -> object:
    """A blank symbol is missing (the row says "no symbol"); any other must be `[A-Z0-9]+`
    (a lower-case, padded or homoglyph name is not the symbol we follow)."""
    value = _blank_is_missing(value)
    if isinstance(value, str) and not _SYMBOL.fullmatch(value):
        raise ValueError("a symbol is upper-case letters and digits")
    return value


_Number = Annotated[Decimal | None, BeforeValidator(_strict_number)]
_Amount = Annotated[_Number, AfterValidator(_amount_in_range)]
_Millis = Annotated[int | None, BeforeValidator(_blank_is_missing)]
_Symbol = Annotated[str | None, BeforeValidator(_symbol)]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def load_json(body: bytes | str) -> Any:
    """JSON with exact numbers: floats as Decimal (no underflow to 0, no overflow to inf),
    `NaN` / `Infinity` refused. Raises ValueError."""
    return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)


def _rows_capped(rows: object) -> object:
    if isinstance(rows, list) and len(rows) > MAX_ROWS:
        raise ValueError(f"{len(rows)} rows, more than {MAX_ROWS} in one answer")
    return rows


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Envelope(_Wire):
    success: bool
    code: str | int | None = None
    message: str | None = None


class PositionRow(_Wire):
    """One position row, in the leaderboard's field names (copy-trade rows alias theirs)."""

    symbol: _Symbol = None
    amount: _Amount = None  # signed: positive long, negative short; 0 = closed
    entryPrice: _Number = None
    markPrice: _Number = None
    pnl: _Number = None
    leverage: _Number = None
    updateTimeStamp: _Millis = None  # ms
    positionSide: Literal["BOTH", "LONG", "SHORT"] | None = None  # hedge rows name their side


class LeaderboardData(_Wire):
    otherPositionRetList: Annotated[list[PositionRow] | None, BeforeValidator(_rows_capped)] = None
    updateTimeStamp: _Millis = None  # ms


class LeaderboardAnswer(_Envelope):
    data: LeaderboardData | None = None


class CopytradeRow(PositionRow):
    amount: _Amount = Field(default=None, alias="positionAmount")
    pnl: _Number = Field(default=None, alias="unrealizedProfit")


class CopytradeAnswer(_Envelope):
    data: Annotated[list[CopytradeRow] | None, BeforeValidator(_rows_capped)] = None


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
        loaded = load_json(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedAnswer(f"body: not JSON ({str(exc)[:80]})") from None
    try:
        answer = model.model_validate(loaded)
    except ValidationError as exc:
        try:
            envelope = _Envelope.model_validate(loaded)
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
            symbol=symbol,
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
