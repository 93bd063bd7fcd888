"""Why a poll produced no snapshot.

Every remote problem becomes one of these, caught at the edge of a source's `fetch` and turned
into a FetchResult without a snapshot (DESIGN rule 1: no data is never "flat"). `kind` is a short
stable label used to de-duplicate log lines; `reason` is the sentence the user reads.
"""

from __future__ import annotations

import re

SESSION_NEEDED = (
    "the leaderboard needs a Binance web session since Nov 2023: "
    "run `lightspeed keys set binance-session`"
)


class SourceError(Exception):
    """A poll failed; `retryable` says whether another attempt may succeed soon."""

    retryable = False

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class TransientError(SourceError):
    """Timeouts, dropped connections, 5xx: worth another attempt after a back-off."""

    retryable = True


class ThrottledError(TransientError):
    """429 or 418: the exit that got it is blocked for `retry_after` seconds; try another."""

    def __init__(self, status: int, retry_after: float, exit_name: str) -> None:
        what = "rate limited" if status == 429 else "IP banned"
        super().__init__(
            f"http-{status}",
            f"Binance {what} {exit_name} (HTTP {status}, Retry-After {retry_after:g} s)",
        )
        self.status = status
        self.retry_after = retry_after


class SessionRefused(SourceError):
    """Binance refused the web session (missing or expired): the fix is the user's."""

    def __init__(self, detail: str) -> None:
        super().__init__("session", f"{SESSION_NEEDED} ({detail})")


class MalformedAnswer(SourceError):
    """The body is not the shape we know: never guess, never partial."""

    def __init__(self, detail: str, source: str = "Binance") -> None:
        super().__init__("malformed", f"malformed answer from {source}: {detail}")


# Binance's "please log in" answers: HTTP 200 with an error code; the wording is the stable
# part (the codes are undocumented), so match the message.
_LOGIN_REQUIRED = re.compile(r"\blog ?in\b|\bsign ?in\b|\bsession\b|unauthori[sz]ed", re.I)


class RejectedAnswer(SourceError):
    """`success: false`, or an error code, with Binance's own code and message."""

    def __init__(self, code: object, message: object, *, success: bool = False) -> None:
        what = "with an error code" if success else "success:false"
        self.detail = f"code {code!s}: {message or 'no message'}"
        super().__init__(f"rejected-{code}", f"Binance answered {what} ({self.detail})")
        self.login_required = isinstance(message, str) and bool(_LOGIN_REQUIRED.search(message))
