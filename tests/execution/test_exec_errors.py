"""Bybit retCodes / ccxt exceptions -> outcomes (pure)."""

from __future__ import annotations

import json

import ccxt
import pytest

from lightspeed_cli.execution.base import ExecutionOutcome as O
from lightspeed_cli.execution.errors import classify_exception, classify_ret_code, sanitize


@pytest.mark.parametrize(
    ("code", "msg", "outcome"),
    [
        (110004, "Insufficient wallet balance", O.INSUFFICIENT_FUNDS),
        (110006, "cannot afford estimated position_margin", O.INSUFFICIENT_FUNDS),
        (110007, "ab not enough for new order", O.INSUFFICIENT_FUNDS),
        (110012, "Available balance not enough", O.INSUFFICIENT_FUNDS),
        (110044, "Insufficient available margin", O.INSUFFICIENT_FUNDS),
        (110045, "Insufficient wallet balance", O.INSUFFICIENT_FUNDS),
        (110094, "Order does not meet minimum order value 5USDT", O.REJECTED),
        (10001, "The number of contracts exceeds minimum limit allowed", O.REJECTED),
        (110017, "Reduce-only rule not satisfied", O.ALREADY_FLAT),
        (10006, "Too many visits!", O.RATE_LIMITED),
        (10018, "Out of frequency limit", O.RATE_LIMITED),
        (10003, "API key is invalid.", O.FATAL),
        (10004, "error sign!", O.FATAL),
        (10005, "Permission denied", O.FATAL),
        (10007, "User authentication failed.", O.FATAL),
        (10010, "Unmatched IP", O.FATAL),
        (10001, "position idx not match position mode", O.FATAL),
        (10016, "System error. Please try again later.", O.UNAVAILABLE),
        (99999, "something new", O.UNKNOWN),
    ],
)
def test_ret_code_outcomes(code: int, msg: str, outcome: O) -> None:
    info = classify_ret_code(code, msg)
    assert info.outcome is outcome
    assert str(code) in info.message and msg in info.message


def test_flags() -> None:
    assert classify_ret_code(10006, "").retry
    assert classify_ret_code(110072, "OrderLinkedID is duplicate").duplicate
    assert classify_ret_code(110043, "Set leverage not modified").not_modified
    assert classify_ret_code(10016, "System error").ambiguous
    assert classify_ret_code(10002, "invalid request, please check your timestamp").clock
    assert not classify_ret_code(110007, "").ambiguous


def _ccxt(cls: type[Exception], code: int, msg: str) -> Exception:
    body = {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 1}
    return cls("bybit " + json.dumps(body))


def test_ccxt_exceptions_are_read_by_their_body() -> None:
    # 110043 arrives as BadRequest, not NoChange: the code decides, not the class.
    assert classify_exception(_ccxt(ccxt.BadRequest, 110043, "not modified")).not_modified
    assert classify_exception(_ccxt(ccxt.InvalidOrder, 110072, "dup")).duplicate
    info = classify_exception(_ccxt(ccxt.ExchangeError, 10016, "Server is under maintenance"))
    assert info.outcome is O.UNAVAILABLE


@pytest.mark.parametrize(
    ("exc", "outcome", "ambiguous"),
    [
        (ccxt.RequestTimeout("bybit POST http://x/v5/order/create"), O.UNAVAILABLE, True),
        (ccxt.ExchangeNotAvailable("bybit POST http://x 502 Bad Gateway"), O.UNAVAILABLE, True),
        (ccxt.OnMaintenance("bybit maintenance"), O.UNAVAILABLE, True),
        (ccxt.RateLimitExceeded("bybit 403"), O.RATE_LIMITED, False),
        (ccxt.AuthenticationError("bybit"), O.FATAL, False),
        (ccxt.InsufficientFunds("bybit"), O.INSUFFICIENT_FUNDS, False),
        (ValueError("boom"), O.UNKNOWN, False),
    ],
)
def test_ccxt_classes_without_a_body(exc: Exception, outcome: O, ambiguous: bool) -> None:
    info = classify_exception(exc)
    assert info.outcome is outcome
    assert info.ambiguous is ambiguous


def test_secrets_and_signed_string_are_scrubbed() -> None:
    exc = _ccxt(ccxt.AuthenticationError, 10004, "error sign! origin_string[1700KEY123KEY5000{}]")
    info = classify_exception(exc, secrets=("KEY123KEY", "SECRETSECRET"))
    assert "KEY123KEY" not in info.message
    assert info.outcome is O.FATAL
    assert sanitize("key=SECRETSECRET", ["SECRETSECRET"]) == "key=***"
