"""Strings from outside (a leader's nickname or symbol) made safe to show (issue 22, item 9).

A control character rewrites the terminal or forges a log line, a bidi override shows a symbol
or a number reversed, an invisible one makes two names look alike. They are removed wherever
such a string can reach the user: at the source, in log lines, in webhooks.
"""

from __future__ import annotations

import re
import unicodedata

# Cc (controls), Cf (format: bidi overrides and isolates, zero-width), Zl / Zp separators
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})
_MASS_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"


def printable(text: str, *, keep: str = "", limit: int | None = None) -> str:
    """`text` without control, format (bidi, zero-width) or line-separator characters, but
    those in `keep` (say "\\n\\t" for our own multi-line messages); cut to `limit` chars."""
    if text.isascii() and text.isprintable():  # the common case, without a per-char look-up
        cleaned = text
    else:
        cleaned = "".join(c for c in text if c in keep or unicodedata.category(c) not in _HIDDEN)
    return cleaned if limit is None else cleaned[:limit]


def without_mass_mentions(text: str) -> str:
    """`@everyone` / `@here` broken with a zero-width space: Discord pings no one for them."""
    return _MASS_MENTION.sub(lambda m: f"@{ZERO_WIDTH_SPACE}{m.group(1)}", text)
