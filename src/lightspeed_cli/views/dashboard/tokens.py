"""The dashboard's tokens: random, kept 0600 in the data dir, printed only when made.

The read token shows the pages; the control token (made only when asked for) also steers the
bot. A token is a secret (DESIGN rule 5): never logged, and never in a URL once the browser has
traded it for a cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lightspeed_cli.config.datadir import create_private

READ_TOKEN_FILE = "dashboard.token"
CONTROL_TOKEN_FILE = "dashboard.control.token"


class Role(StrEnum):
    READ = "read"
    CONTROL = "control"


@dataclass(frozen=True)
class Tokens:
    read: str
    control: str | None  # None: no control from the dashboard at all

    def role(self, presented: str | None) -> Role | None:
        """Which role the presented token grants; None for none or a wrong one."""
        if not presented:
            return None
        if self.control and hmac.compare_digest(presented, self.control):
            return Role.CONTROL
        if hmac.compare_digest(presented, self.read):
            return Role.READ
        return None


def _load_or_make(path: Path, renew: bool) -> tuple[str, bool]:
    """(token, made now). A missing, empty or renewed file gets a fresh token, written 0600."""
    if not renew and path.exists():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text, False
    token = secrets.token_urlsafe(32)
    path.unlink(missing_ok=True)
    create_private(path)
    path.write_text(token + "\n", encoding="utf-8")
    return token, True


@dataclass(frozen=True)
class LoadedTokens:
    tokens: Tokens
    new: list[Role]  # made now: the caller prints these, once


def load_tokens(data_dir: Path, *, control: bool, renew: bool = False) -> LoadedTokens:
    """The read token always; the control token only with `control` (else its file is left as
    it is, unused). `renew` replaces them (an old link stops working)."""
    read, made = _load_or_make(data_dir / READ_TOKEN_FILE, renew)
    new = [Role.READ] if made else []
    control_token = None
    if control:
        control_token, made = _load_or_make(data_dir / CONTROL_TOKEN_FILE, renew)
        new += [Role.CONTROL] if made else []
    return LoadedTokens(Tokens(read, control_token), new)
