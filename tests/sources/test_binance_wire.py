"""Parsing Binance bodies: strict, never partial, hidden is not flat (pure, no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from binance_helpers import fixture_body

from lightspeed_cli.models import Side
from lightspeed_cli.sources.errors import MalformedAnswer, RejectedAnswer
from lightspeed_cli.sources.wire import parse_copytrade, parse_leaderboard


def _keys(book):
    return [(p.symbol, p.side, p.size) for p in book.positions]


@pytest.mark.parametrize(
    "name", ["leaderboard_positions.json", "leaderboard_positions_strings.json"]
)
def test_leaderboard_signed_amounts_numbers_or_strings(name: str) -> None:
    book = parse_leaderboard(fixture_body(name))
    assert _keys(book) == [
        ("ETHUSDT", Side.LONG, Decimal("10")),
        ("1000PEPEUSDT", Side.SHORT, Decimal("100000")),
    ]
    eth, pepe = book.positions
    assert eth.entry_price == Decimal("1850.12") and eth.mark_price == Decimal("1861.5")
    assert eth.leverage == 10 and eth.pnl == Decimal("113.8")
    assert pepe.entry_price == Decimal("0.0012345") and pepe.leverage == 5
    assert eth.update_time == datetime(2023, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert book.source_time == datetime(2023, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_leaderboard_empty_list_is_flat_and_null_list_is_hidden() -> None:
    flat = parse_leaderboard(fixture_body("leaderboard_flat.json"))
    assert flat.positions == () and not flat.hidden
    hidden = parse_leaderboard(fixture_body("leaderboard_hidden.json"))
    assert hidden.hidden and hidden.positions is None and "not shared" in hidden.hidden_reason


def test_copytrade_zero_rows_are_filtered_and_sign_gives_side() -> None:
    book = parse_copytrade(fixture_body("copytrade_positions.json"))
    assert _keys(book) == [
        ("BTCUSDT", Side.LONG, Decimal("0.250")),
        ("SOLUSDT", Side.SHORT, Decimal("31")),
    ]
    btc = book.positions[0]
    assert btc.mark_price == Decimal("60170.0") and btc.pnl == Decimal("12.1")
    assert book.source_time is None


def test_copytrade_hedge_rows_keep_both_sides_of_one_symbol() -> None:
    book = parse_copytrade(fixture_body("copytrade_hedge.json"))
    assert _keys(book) == [
        ("ETHUSDT", Side.LONG, Decimal("1.500")),
        ("ETHUSDT", Side.SHORT, Decimal("0.400")),
    ]


def test_copytrade_only_zero_rows_is_flat_and_null_data_is_hidden() -> None:
    flat = parse_copytrade(fixture_body("copytrade_only_zero_rows.json"))
    assert flat.positions == () and not flat.hidden
    assert parse_copytrade(fixture_body("copytrade_hidden.json")).hidden


@pytest.mark.parametrize(
    ("parse", "name"),
    [
        (parse_copytrade, "copytrade_rejected.json"),
        (parse_leaderboard, "leaderboard_not_logged_in.json"),
    ],
)
def test_success_false_is_rejected_with_code_and_message(parse, name: str) -> None:
    with pytest.raises(RejectedAnswer) as err:
        parse(fixture_body(name))
    body = json.loads(fixture_body(name))
    assert body["code"] in err.value.reason and body["message"] in err.value.reason


@pytest.mark.parametrize(
    ("parse", "name", "detail"),
    [
        (parse_leaderboard, "leaderboard_row_without_amount.json", "row 1 (BTCUSDT): no amount"),
        (parse_copytrade, "copytrade_unparsable_number.json", "positionAmount"),
    ],
)
def test_one_bad_row_rejects_the_whole_answer(parse, name: str, detail: str) -> None:
    with pytest.raises(MalformedAnswer) as err:
        parse(fixture_body(name))
    assert detail in err.value.reason


def _leaderboard(rows: object, **data: object) -> str:
    body = {"code": "000000", "success": True, "data": {"otherPositionRetList": rows, **data}}
    return json.dumps(body)


ROW = {
    "symbol": "BTCUSDT",
    "amount": "0.5",
    "entryPrice": "60000",
    "markPrice": "60100",
    "pnl": "50",
    "leverage": 20,
    "updateTimeStamp": 1700000000000,
}


@pytest.mark.parametrize("blank", [None, "", "  "], ids=["absent", "empty", "spaces"])
@pytest.mark.parametrize("field", sorted(set(ROW) - {"symbol", "amount"}))
def test_optional_fields_may_be_missing_without_losing_the_row(field: str, blank) -> None:
    row = {k: v for k, v in ROW.items() if k != field}
    if blank is not None:
        row[field] = blank
    (position,) = parse_leaderboard(_leaderboard([row], updateTimeStamp=blank)).positions
    assert (position.symbol, position.side, position.size) == ("BTCUSDT", Side.LONG, Decimal("0.5"))


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"symbol": None}, "no symbol"),
        ({"symbol": "  "}, "no symbol"),
        ({"amount": None}, "no amount"),
        ({"amount": ""}, "no amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": True}, "amount"),
        ({"entryPrice": "1,5"}, "entryPrice"),
        ({"markPrice": "-1"}, "mark_price"),
        ({"leverage": "20.5"}, "leverage 20.5 is not a whole number"),
        ({"leverage": 500}, "leverage"),
        ({"updateTimeStamp": 10**20}, "updateTimeStamp"),
        ({"updateTimeStamp": "soon"}, "updateTimeStamp"),
    ],
)
def test_a_bad_field_rejects_the_answer(change: dict[str, object], detail: str) -> None:
    row = {**ROW, **change}
    with pytest.raises(MalformedAnswer) as err:
        parse_leaderboard(_leaderboard([{**ROW, "symbol": "ETHUSDT"}, row]))
    assert detail in err.value.reason


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>403 Forbidden</html>",
        b'{"code":"000000","success":true,"data":{"otherPos',
        b"[]",
        b'{"code":"000000","data":{"otherPositionRetList":[]}}',  # no success field
        b'{"code":"000000","success":true}',  # no data field
        b'{"code":"000000","success":true,"data":{"updateTimeStamp":1}}',  # no list field
        b'{"code":"000000","success":true,"data":{"otherPositionRetList":{}}}',
        b'{"code":"000000","success":true,"data":[]}',
    ],
)
def test_malformed_leaderboard_bodies(body: bytes) -> None:
    with pytest.raises(MalformedAnswer):
        parse_leaderboard(body)


def test_two_rows_for_one_position_is_not_guessed() -> None:
    with pytest.raises(MalformedAnswer, match="two rows for BTCUSDT long"):
        parse_leaderboard(_leaderboard([ROW, {**ROW, "amount": "0.7"}]))


def test_hedge_side_wins_over_the_sign_and_unknown_sides_are_rejected() -> None:
    def body(side: str, amount: str) -> str:
        row = {"symbol": "ETHUSDT", "positionAmount": amount, "positionSide": side}
        return json.dumps({"success": True, "data": [row]})

    (p,) = parse_copytrade(body("SHORT", "0.4")).positions
    assert (p.side, p.size) == (Side.SHORT, Decimal("0.4"))
    with pytest.raises(MalformedAnswer, match="positionSide"):
        parse_copytrade(body("BOTHWAYS", "1"))


def test_success_false_wins_over_an_odd_data_shape() -> None:
    body = b'{"code":"100001","message":"busy","success":false,"data":"n/a"}'
    with pytest.raises(RejectedAnswer, match="code 100001: busy"):
        parse_leaderboard(body)


@pytest.mark.parametrize("parse", [parse_leaderboard, parse_copytrade])
def test_success_true_with_an_error_code_is_rejected_not_flat(parse) -> None:
    data = {"otherPositionRetList": []} if parse is parse_leaderboard else []
    body = json.dumps({"code": "100001005", "message": "x", "success": True, "data": data})
    with pytest.raises(RejectedAnswer, match="with an error code"):
        parse(body)
    for code in ("000000", 0, "0", None):  # every number may be a string, or absent
        ok = json.dumps({"code": code, "success": True, "data": data})
        assert parse(ok).positions == ()
    for code in (1, "-1", "000000 ", "0.0"):
        bad = json.dumps({"code": code, "success": True, "data": data})
        with pytest.raises(RejectedAnswer, match="with an error code"):
            parse(bad)


@pytest.mark.parametrize(
    ("message", "login"),
    [
        ("Please log in first", True),
        ("please login", True),
        ("Session expired", True),
        ("Unauthorized", True),
        ("system busy", False),
        ("blogin", False),
        (None, False),
    ],
)
def test_login_required_is_read_from_the_message(message: str | None, login: bool) -> None:
    body = json.dumps({"code": "100002001", "message": message, "success": False, "data": None})
    with pytest.raises(RejectedAnswer) as caught:
        parse_leaderboard(body)
    assert caught.value.login_required is login


# -- issue 22, item 1: what a glitch looks like is malformed, never a book ------------------


@pytest.mark.parametrize(
    "amount",
    ["1_0", "١٠", "1e400", "1E-400", "NaN", "Infinity", "-Infinity", "0x10", "1e3", "+-1"],
)
def test_an_amount_decimal_reads_but_binance_never_sends_is_malformed(amount: str) -> None:
    with pytest.raises(MalformedAnswer) as err:
        parse_leaderboard(_leaderboard([{**ROW, "amount": amount}]))
    assert "amount" in err.value.reason


@pytest.mark.parametrize("number", ["1e400", "1e-400", "-1e400", "1e16", "NaN", "Infinity"])
def test_a_json_number_beyond_any_market_is_malformed_not_zero(number: str) -> None:
    """A float would read 1e-400 as 0 (a closed row: sell everything) and 1e400 as inf."""
    body = _leaderboard([{**ROW, "amount": "AMOUNT"}]).replace('"AMOUNT"', number)
    with pytest.raises(MalformedAnswer):
        parse_leaderboard(body)


def test_json_numbers_are_read_exactly() -> None:
    body = _leaderboard([{**ROW, "amount": "AMOUNT"}]).replace('"AMOUNT"', "0.1000000000000000001")
    (position,) = parse_leaderboard(body).positions
    assert position.size == Decimal("0.1000000000000000001")


@pytest.mark.parametrize("amount", ["0.000000000001", "1000000000000000", "-0.5", ".5", "5."])
def test_plain_decimals_within_any_market_are_read(amount: str) -> None:
    (position,) = parse_leaderboard(_leaderboard([{**ROW, "amount": amount}])).positions
    assert position.size == abs(Decimal(amount))


@pytest.mark.parametrize("amount", ["0.0000000000001", "1000000000000001"])
def test_amounts_just_beyond_any_market_are_malformed(amount: str) -> None:
    with pytest.raises(MalformedAnswer):
        parse_leaderboard(_leaderboard([{**ROW, "amount": amount}]))


@pytest.mark.parametrize(
    "symbol", ["btcusdt", "BTCUSDT ", " BTCUSDT", "BTC-USDT", "ВTCUSDT", "BTC\u202eUSDT", "BTC\nX"]
)
def test_a_symbol_outside_upper_case_letters_and_digits_is_malformed(symbol: str) -> None:
    with pytest.raises(MalformedAnswer) as err:
        parse_copytrade(
            json.dumps(
                {
                    "code": "000000",
                    "success": True,
                    "data": [{"symbol": symbol, "positionAmount": "1", "positionSide": "BOTH"}],
                }
            )
        )
    assert "symbol" in err.value.reason


def test_an_answer_with_more_rows_than_any_book_is_malformed() -> None:
    rows = [{**ROW, "symbol": f"S{i}USDT"} for i in range(5_000)]
    with pytest.raises(MalformedAnswer) as err:
        parse_leaderboard(_leaderboard(rows))
    assert "5000 rows" in err.value.reason
