"""Names the engine tests share (fixtures live in conftest.py)."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

TRADER_A = "4000000000000000001"
TRADER_B = "4000000000000000002"


async def until(what: str, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Wait (without blocking the loop) until `predicate()` is truthy; fail naming what."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
