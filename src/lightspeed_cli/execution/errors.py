"""Bybit retCodes and ccxt exceptions -> what the bot should do about them.

Pure, and ccxt is only touched through exception class names, so this module imports nothing
heavy. Two questions matter for an order: did it possibly happen (`ambiguous`: look it up by
client id before resending), and may it simply be sent again (`retry`: rate limit, clock).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lightspeed_cli.execution.base import ExecutionOutcome

INSUFFICIENT = frozenset({110004, 110006, 110007, 110012, 110044, 110045, 170131})
QTY_OR_NOTIONAL = frozenset({110094})
REDUCE_ONLY_UNSATISFIED = 110017
RATE_LIMIT = frozenset({10006, 10018})
AUTH = frozenset({10003, 10004, 10005, 10007, 10010, 33004})
DUPLICATE = frozenset({110072, 12141})
CLOCK = 10002
SERVER_BUSY = frozenset({10016, 5004, 10000})  # "system error" / "server timeout": fate unknown
NOT_MODIFIED = frozenset({110043, 110025, 110026})
ORDER_NOT_FOUND = 110001
POSITION_IDX_MISMATCH = "position idx not match position mode"

_OUTCOME_BY_CLASS = (  # ccxt class name -> outcome, most specific first
    ("InsufficientFunds", ExecutionOutcome.INSUFFICIENT_FUNDS),
    ("PermissionDenied", ExecutionOutcome.FATAL),
    ("AuthenticationError", ExecutionOutcome.FATAL),
    ("AccountSuspended", ExecutionOutcome.FATAL),
    ("RateLimitExceeded", ExecutionOutcome.RATE_LIMITED),
    ("DDoSProtection", ExecutionOutcome.RATE_LIMITED),
    ("OnMaintenance", ExecutionOutcome.UNAVAILABLE),
    ("ExchangeNotAvailable", ExecutionOutcome.UNAVAILABLE),
    ("RequestTimeout", ExecutionOutcome.UNAVAILABLE),
    ("NetworkError", ExecutionOutcome.UNAVAILABLE),
    ("BadSymbol", ExecutionOutcome.REJECTED),
)
_ORIGIN = re.compile(r"origin_string\[[^\]]*\]")


@dataclass(frozen=True)
class ErrorInfo:
    outcome: ExecutionOutcome
    message: str
    ret_code: int | None = None
    retry: bool = False  # safe to send again as is (after a pause or a clock resync)
    ambiguous: bool = False  # the request may have been executed: look it up before resending
    duplicate: bool = False  # Bybit already has an order with this client id
    not_modified: bool = False  # a settings call found the setting already in place
    clock: bool = False  # timestamp outside recv_window: resync the clock, then retry


def sanitize(text: str, secrets: Iterable[str] = ()) -> str:
    """Drop Bybit's echo of the signed string and any known secret from a message."""
    text = _ORIGIN.sub("origin_string[…]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def parse_bybit_body(message: str) -> tuple[int | None, str]:
    """ccxt's message is "bybit <raw body>": pull retCode and retMsg out of the JSON part."""
    start = message.find("{")
    if start < 0:
        return None, ""
    try:
        body = json.loads(message[start:])
    except ValueError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("retCode", body.get("ret_code"))
    msg = body.get("retMsg", body.get("ret_msg", ""))
    try:
        return (int(code) if code is not None else None), str(msg)
    except (TypeError, ValueError):
        return None, str(msg)


def classify_ret_code(code: int, msg: str) -> ErrorInfo:
    """A Bybit retCode (from the wire, or from the paper ledger) -> what to do."""
    label = f"Bybit {code}: {msg}"
    if code in INSUFFICIENT:
        return ErrorInfo(ExecutionOutcome.INSUFFICIENT_FUNDS, f"insufficient funds ({label})", code)
    if code == REDUCE_ONLY_UNSATISFIED:
        return ErrorInfo(
            ExecutionOutcome.ALREADY_FLAT, f"nothing to reduce on Bybit ({label})", code
        )
    if code in RATE_LIMIT:
        return ErrorInfo(ExecutionOutcome.RATE_LIMITED, f"rate limited ({label})", code, retry=True)
    if code in AUTH:
        return ErrorInfo(
            ExecutionOutcome.FATAL, f"invalid key / permission: trading stopped ({label})", code
        )
    if code in DUPLICATE:
        return ErrorInfo(ExecutionOutcome.UNKNOWN, label, code, duplicate=True)
    if code == CLOCK:
        return ErrorInfo(
            ExecutionOutcome.UNAVAILABLE,
            f"clock out of sync ({label})",
            code,
            retry=True,
            clock=True,
        )
    if code in NOT_MODIFIED:
        return ErrorInfo(ExecutionOutcome.REJECTED, label, code, not_modified=True)
    if code in SERVER_BUSY:
        outcome = ExecutionOutcome.UNAVAILABLE
        return ErrorInfo(outcome, f"exchange unavailable ({label})", code, ambiguous=True)
    if code == 10001 and POSITION_IDX_MISMATCH in msg.lower():
        return ErrorInfo(
            ExecutionOutcome.FATAL,
            f"the Bybit account's position mode changed: trading stopped ({label})",
            code,
        )
    if code in QTY_OR_NOTIONAL or code == 10001:
        return ErrorInfo(ExecutionOutcome.REJECTED, f"order refused ({label})", code)
    if code == ORDER_NOT_FOUND:
        return ErrorInfo(ExecutionOutcome.REJECTED, label, code)
    return ErrorInfo(ExecutionOutcome.UNKNOWN, label, code)


def _class_names(exc: BaseException) -> list[str]:
    return [k.__name__ for k in type(exc).__mro__]


def classify_exception(exc: BaseException, secrets: Iterable[str] = ()) -> ErrorInfo:
    """Any exception from a ccxt call -> what to do; the message carries no secret."""
    raw = sanitize(str(exc), secrets)
    code, msg = parse_bybit_body(raw)
    if code is not None and code != 0:
        info = classify_ret_code(code, sanitize(msg, secrets))
        if "maintenance" in msg.lower():
            return ErrorInfo(ExecutionOutcome.UNAVAILABLE, f"exchange maintenance ({msg})", code)
        return info
    names = _class_names(exc)
    if "InvalidNonce" in names:
        return ErrorInfo(ExecutionOutcome.UNAVAILABLE, raw, retry=True, clock=True)
    kind = next((outcome for name, outcome in _OUTCOME_BY_CLASS if name in names), None)
    text = raw or type(exc).__name__
    if kind is ExecutionOutcome.RATE_LIMITED:
        return ErrorInfo(kind, f"rate limited ({text})", retry=True)
    if kind is ExecutionOutcome.UNAVAILABLE:
        # The request may have reached Bybit before the connection failed.
        return ErrorInfo(kind, f"exchange unavailable ({text})", ambiguous=True)
    if kind is not None:
        return ErrorInfo(kind, text)
    return ErrorInfo(ExecutionOutcome.UNKNOWN, f"{type(exc).__name__}: {text}")
