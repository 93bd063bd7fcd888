"""Whether the running bot may open positions now, said loudly each time that changes.

Any license problem (no lease, a forged or another machine's lease, revoked, expired, offline
past the grace) puts the bot in closing-only mode: closes and reductions still mirror, opens
and increases are refused with the license's reason. The engine asks `refusal()` before each
open; `watch()` re-checks on a short period so a lapse while running (heartbeat refused, grace
over) is announced at once, as an error event, a log line and a webhook message, not at the
next signal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.license.state import LicenseState

WATCH_SECONDS = 5.0
CLOSING_ONLY = "CLOSING ONLY"

Announce = Callable[[str, str], None]  # (level, message): the engine's loud event


def license_summary(state: LicenseState) -> str:
    """One line for status, the live view and doctor: valid, or closing-only and why."""
    text = "valid" if state.can_open else f"{CLOSING_ONLY}: {state.reason}"
    if state.warning:
        text += f" ({state.warning})"
    return text


def license_text(state: LicenseState) -> Text:
    """`license_summary`, green when opening is allowed, bold red in closing-only mode."""
    style = ("yellow" if state.warning else "green") if state.can_open else "bold red"
    return Text(license_summary(state), style=style)


def closing_only_message(state: LicenseState) -> str:
    return f"license: {CLOSING_ONLY} mode: {state.reason}"


class LicenseGate:
    """The license verdict as the engine needs it: None (may open) or the reason it may not."""

    def __init__(self, client: LicenseClient | None, announce: Announce) -> None:
        self.client = client
        self._announce = announce
        self._open: bool | None = None

    def refusal(self) -> str | None:
        """None when opening is allowed; else the license's reason. A change either way (and
        a first verdict of closing-only) is announced once."""
        if self.client is None:
            return None
        state = self.client.state()
        if state.can_open != self._open:
            if state.can_open and self._open is not None:
                self._announce("info", "license valid again: opening resumes")
            elif not state.can_open:
                self._announce("error", closing_only_message(state))
            self._open = state.can_open
        return None if state.can_open else state.reason

    async def watch(self, stop: asyncio.Event, every: float = WATCH_SECONDS) -> None:
        """Re-check until `stop`, so a lapse is announced when it happens."""
        if self.client is None:
            return
        while not stop.is_set():
            self.refusal()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
