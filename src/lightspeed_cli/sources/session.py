"""The user's Binance web session: what the v2 private leaderboard path requires since Nov 2023.

Stored as a secret (`lightspeed keys set binance-session`) holding a JSON object
`{"p20t": "<cookie value>", "csrftoken": "<header value>"}` copied from the user's own browser.
The values are secrets: they go into request headers and nowhere else (no repr, no log line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

SESSION_FORMAT = '{"p20t": "<p20t cookie>", "csrftoken": "<csrftoken header>"}'


@dataclass(frozen=True, slots=True)
class BinanceSession:
    p20t: str = field(repr=False)
    csrftoken: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """What the browser sends: the `p20t` cookie and the `csrftoken` header."""
        return {"csrftoken": self.csrftoken, "Cookie": f"p20t={self.p20t}"}


def parse_session(secret: str) -> BinanceSession:
    """Validate the stored secret; the error message never echoes the secret itself."""
    try:
        data = json.loads(secret)
    except ValueError:
        raise ValueError(f"the Binance web session is not JSON: {SESSION_FORMAT}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the Binance web session must be a JSON object: {SESSION_FORMAT}")
    values = {}
    for key in ("p20t", "csrftoken"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the Binance web session has no `{key}`; expected {SESSION_FORMAT}")
        if any(c in value for c in "\r\n;"):
            raise ValueError(f"the Binance web session's `{key}` contains ';' or a line break")
        values[key] = value.strip()
    return BinanceSession(**values)
