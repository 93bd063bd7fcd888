"""What the user must hear: said at once, said again while it lasts, said when it clears.

One place decides which events reach the webhook (notify.py) as alerts, so a bot that can no
longer mirror closes is never silent, and a standing problem never floods the channel.

The whole API, for any module (engine, license, reconcile, telegram):

    from lightspeed_cli.notify import alerts
    alerts.raise_(alerts.Kind.BLIND, "trader 1234", "not read for 75 s: HTTP 418", "check ...")
    alerts.clear(alerts.Kind.BLIND, "trader 1234")  # "resolved" message, if it had been raised

`text` says what is wrong, `action` what the user should do. The runner installs the process's
`Alerts` (`alerts.install`); with none installed an alert is only logged, so library code and
tests may call these freely.

Rate limits, per (kind, subject) key:
- the first `raise_` is sent at once; further `raise_` calls while it stands are silent, except
  one reminder ("still") per `notify.repeat_minutes`;
- `clear` sends one "resolved" message if the alert had been sent, and nothing otherwise;
- over all keys at most `BURST_PER_MINUTE` messages a minute go out; the rest are held back
  (logged, and counted in one summary message when the minute is over). A held alert goes out at
  the next `raise_` once there is room again.

Every message is logged too (ERROR when raised, INFO when resolved). Generic JSON webhooks also
get the fields `kind`, `subject`, `state` (raised / still / resolved), `action` and `since`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightspeed_cli.config.sections import NotifySettings
    from lightspeed_cli.notify.webhook import Notifier

log = logging.getLogger(__name__)

BURST_PER_MINUTE = 10
WINDOW_SECONDS = 60.0
DEFAULT_REPEAT_SECONDS = 30 * 60.0


class Kind(StrEnum):
    """What kind of trouble; with the subject, the key an alert is rate-limited by."""

    BLIND = "blind"  # a trader not read for too long: its closes would not be mirrored
    JOURNAL = "journal"  # the journal database is damaged or the disk fails
    STOPPED = "stopped"  # trading stopped (bad key, permission, damaged journal)
    LICENSE = "license"  # the license does not allow opens (closes still mirror)
    ORDER = "order"  # Bybit rejected an order, or its fate is unknown
    DRIFT = "drift"  # Bybit and the journal disagree
    ERROR = "error"  # an unexpected error in the loop
    LEADER = "leader"  # a lead portfolio closed: no new opens for that trader (leaders.py)
    TELEGRAM = "telegram"  # Telegram control is off: the bot token was refused (revoked)


class State(StrEnum):
    RAISED = "raised"
    STILL = "still"
    RESOLVED = "resolved"


@dataclass
class Alert:
    kind: Kind
    subject: str
    text: str
    action: str
    since: datetime
    last_sent: float | None = None  # monotonic; None = not sent yet (held by the flood guard)


def message(alert: Alert, state: State) -> str:
    """The text a human reads: what, about what, and what to do."""
    head = {
        State.RAISED: "ALERT",
        State.STILL: "STILL",
        State.RESOLVED: "RESOLVED",
    }[state]
    text = f"LightSpeed {head} [{alert.kind.value}] {alert.subject}: {alert.text}"
    if state is State.STILL:
        text += f" (since {alert.since:%Y-%m-%d %H:%M} UTC)"
    if state is not State.RESOLVED and alert.action:
        text += f" What to do: {alert.action}"
    return text


class Alerts:
    """The rate-limited alert book of one process (see the module docstring)."""

    def __init__(
        self,
        notifier: Notifier | None = None,
        *,
        repeat_seconds: float = DEFAULT_REPEAT_SECONDS,
        burst: int = BURST_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.notifier = notifier
        self.repeat_seconds = repeat_seconds
        self.burst = burst
        self._clock = clock
        self._wall = wall
        self._active: dict[tuple[Kind, str], Alert] = {}
        self._window_start = clock()
        self._window_sent = 0
        self._held = 0
        self.sent: list[str] = []  # every message handed to the webhook, newest last

    @classmethod
    def from_settings(cls, settings: NotifySettings, notifier: Notifier | None) -> Alerts:
        return cls(notifier, repeat_seconds=settings.repeat_minutes * 60)

    def active(self) -> list[Alert]:
        """The alerts standing now, oldest first."""
        return sorted(self._active.values(), key=lambda a: a.since)

    def is_active(self, kind: Kind, subject: str) -> bool:
        return (kind, subject) in self._active

    def raise_(self, kind: Kind, subject: str, text: str, action: str) -> bool:
        """Report a problem; True if a message went to the webhook (or would, with none)."""
        now = self._clock()
        alert = self._active.get((kind, subject))
        if alert is None:
            alert = Alert(kind, subject, text, action, self._wall())
            self._active[(kind, subject)] = alert
        else:
            alert.text, alert.action = text, action
        due = alert.last_sent is None or now - alert.last_sent >= self.repeat_seconds
        if not due:
            return False
        state = State.RAISED if alert.last_sent is None else State.STILL
        if not self._send(alert, state, now):
            return False
        alert.last_sent = now
        return True

    def restate(self, kind: Kind, subject: str, text: str, action: str) -> bool:
        """The problem changed (new figures, say): said now, not at the next reminder."""
        alert = self._active.get((kind, subject))
        if alert is not None:
            alert.last_sent = None
        return self.raise_(kind, subject, text, action)

    def clear(self, kind: Kind, subject: str, text: str = "") -> bool:
        """The problem is over; True if a "resolved" message was sent."""
        alert = self._active.pop((kind, subject), None)
        if alert is None or alert.last_sent is None:
            return False  # never raised, or never said: nothing to take back
        if text:
            alert.text = text
        return self._send(alert, State.RESOLVED, self._clock())

    def _send(self, alert: Alert, state: State, now: float) -> bool:
        self._roll_window(now)
        text = message(alert, state)
        if self._window_sent >= self.burst:
            self._held += 1
            log.warning("alert held back (more than %d a minute): %s", self.burst, text)
            return False
        self._window_sent += 1
        self._deliver(
            text,
            {
                "kind": alert.kind.value,
                "subject": alert.subject,
                "state": state.value,
                "action": alert.action,
                "since": alert.since.isoformat(),
            },
        )
        if state is State.RESOLVED:
            log.info("%s", text)
        else:
            log.error("%s", text)
        return True

    def _roll_window(self, now: float) -> None:
        if now - self._window_start < WINDOW_SECONDS:
            return
        self._window_start, self._window_sent = now, 0
        if self._held:
            held, self._held = self._held, 0
            self._window_sent = 1
            self._deliver(
                f"LightSpeed: {held} more alert message(s) were held back in the last minute"
                " (flood guard). What to do: see `lightspeed status` and the log.",
                {"kind": "flood", "subject": "", "state": State.RAISED.value, "action": ""},
            )

    def _deliver(self, text: str, fields: dict[str, Any]) -> None:
        self.sent.append(text)
        del self.sent[:-100]
        if self.notifier is not None:
            self.notifier.notify(text, fields)


# ---- the process's instance ---------------------------------------------------------------

_installed: Alerts | None = None


def install(instance: Alerts | None) -> Alerts | None:
    """Make `instance` the one `raise_` and `clear` use; returns the previous one."""
    global _installed
    previous, _installed = _installed, instance
    return previous


def installed() -> Alerts | None:
    return _installed


def raise_(kind: Kind, subject: str, text: str, action: str) -> bool:
    """Report a problem through the installed Alerts (only logged if there is none)."""
    if _installed is None:
        log.error(
            "%s", message(Alert(kind, subject, text, action, datetime.now(UTC)), State.RAISED)
        )
        return False
    return _installed.raise_(kind, subject, text, action)


def clear(kind: Kind, subject: str, text: str = "") -> bool:
    """The problem is over: a "resolved" message if it had been raised."""
    return _installed.clear(kind, subject, text) if _installed is not None else False


async def say_now(
    settings: NotifySettings, kind: Kind, subject: str, text: str, action: str
) -> None:
    """One alert from outside the running engine (a start-up failure): sent and flushed before
    returning, so a process about to exit still reaches the webhook."""
    from lightspeed_cli.notify.webhook import Notifier

    notifier = Notifier(settings)
    notifier.start()
    try:
        Alerts(notifier).raise_(kind, subject, text, action)
    finally:
        await notifier.aclose()
