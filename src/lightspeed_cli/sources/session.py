"""The user's Binance web session: what the v2 private leaderboard path requires since Nov 2023.

Stored as a secret (`lightspeed keys set binance-session`, format owned by secrets.py) holding the
`p20t` cookie and the `csrftoken` header copied from the user's own logged-in browser. The values
go into request headers and nowhere else (no repr, no log line, no error message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightspeed_cli.config.secrets import decode_binance_session


@dataclass(frozen=True, slots=True)
class BinanceSession:
    p20t: str = field(repr=False)
    csrftoken: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """What the browser sends: the `p20t` cookie and the `csrftoken` header."""
        return {"csrftoken": self.csrftoken, "Cookie": f"p20t={self.p20t}"}


def parse_session(secret: str) -> BinanceSession:
    """The stored secret as headers; ValueError (never echoing the value) if it is unusable."""
    p20t, csrftoken = decode_binance_session(secret)
    for name, value in (("p20t", p20t), ("csrftoken", csrftoken)):
        if any(c in value for c in "\r\n;"):
            raise ValueError(f"binance_session: the {name} contains ';' or a line break")
    return BinanceSession(p20t.strip(), csrftoken.strip())
