"""The redacting log filter: a registered secret never reaches a log line or a traceback."""

from __future__ import annotations

import io
import logging

from lightspeed_cli.config import logsetup


def test_a_registered_secret_is_masked_in_messages_and_tracebacks() -> None:
    token = "123456:SECRET-bot-token-in-a-url"
    logsetup.register_secret(token)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(logsetup.RedactingFilter())
    logger = logging.getLogger("test_logsetup")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("GET https://api.telegram.org/bot%s/getMe", token)
        try:
            raise ConnectionError(f"cannot reach https://api.telegram.org/bot{token}/getUpdates")
        except ConnectionError:
            logger.exception("polling failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert token not in text
    assert text.count(logsetup.MASK) == 2 and "ConnectionError" in text
