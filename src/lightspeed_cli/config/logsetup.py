"""Logging for `lightspeed run`: plain or JSON lines, with known secret values masked.

Secrets are never passed to the logger on purpose; the redacting filter is the second lock, for
the day a library puts a header or a URL with a token into an exception message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from lightspeed_cli.config.text import printable

MASK = "***"
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this value wherever it would appear in a log record (ignores short values)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def redact(text: str) -> str:
    for value in _secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets, and strips control and bidi characters a leader's string may carry
    (a forged log line, a reversed symbol: config/text.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = printable(message, keep="\n\t")
        if _secrets or shown != message:
            record.msg = redact(shown)
            record.args = None
            if record.exc_info and not record.exc_text:  # a traceback can quote a URL too
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure(level: str = "INFO", *, json_lines: bool = False, rich_console: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler: logging.Handler
    if rich_console:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        if json_lines:
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp", "ccxt", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
