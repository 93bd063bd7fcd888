"""The engine's event sink: what the live view shows, the log says, the webhook sends and the
journal keeps. Every part beside the engine reports through one of these, never the engine."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from lightspeed_cli.config.settings import Settings
from lightspeed_cli.journal.store import Journal
from lightspeed_cli.notify.alerts import Alerts, Kind
from lightspeed_cli.sources.schedule import ScheduleState

if TYPE_CHECKING:
    from lightspeed_cli.notify.webhook import Notifier

log = logging.getLogger("lightspeed_cli.engine.loop")  # the logger the engine always used

Alert = tuple[Kind, str, str]  # (kind, subject, what to do)
EventSink = Callable[[str, str], None]  # (level, message): journaled, logged, notified


@dataclass
class EngineEvent:
    at: datetime
    level: str
    message: str


@dataclass
class TraderView:
    trader: str
    label: str
    last_poll_at: datetime | None = None
    last_status: str = "-"
    last_reason: str = ""
    last_ok_at: datetime | None = None  # the last good read: past notify.blind_after_seconds
    # without one, the trader is blind (blind.py)

    @property
    def name(self) -> str:
        return self.trader if self.label in ("", self.trader) else f"{self.label} ({self.trader})"


@dataclass
class EngineView:
    """What the live view and the status line show; updated in place by the engine."""

    traders: dict[str, TraderView] = field(default_factory=dict)
    events: list[EngineEvent] = field(default_factory=list)
    orders_sent: int = 0
    refusals: int = 0
    polls: int = 0
    schedule: ScheduleState | None = None

    def add_event(self, event: EngineEvent, keep: int = 50) -> None:
        self.events.append(event)
        del self.events[:-keep]


class Events:
    """Show, log, alert or notify, and journal an event."""

    def __init__(
        self,
        view: EngineView,
        *,
        journal: Journal,
        alerts: Alerts,
        notifier: Notifier | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.view = view
        self.journal = journal
        self.alerts = alerts
        self.notifier = notifier
        self.clock = clock

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        journal: Journal,
        alerts: Alerts,
        notifier: Notifier | None,
        clock: Callable[[], datetime],
    ) -> Events:
        """The sink with a fresh view of the enabled traders."""
        traders = {t.id: TraderView(t.id, t.label or t.id) for t in settings.traders if t.enabled}
        view = EngineView(traders=traders)
        return cls(view, journal=journal, alerts=alerts, notifier=notifier, clock=clock)

    def event(
        self, level: str, message: str, *, notify: bool = False, alert: Alert | None = None
    ) -> None:
        """`notify`: a plain webhook message (a trade); `alert`: (kind, subject, what to do),
        rate-limited by alerts.py. The webhook goes first: a journal that cannot be written
        must not swallow the alert."""
        at = self.clock()
        self.view.add_event(EngineEvent(at, level, message))
        getattr(log, level if level != "info" else "info")(message)
        if alert is not None:
            kind, subject, action = alert
            self.alerts.raise_(kind, subject, message, action)
        elif notify and self.notifier is not None:
            self.notifier.notify(message)
        self.journal.record_event(level, message, at)

    def report(self, level: str, message: str) -> None:
        """An event from beside the engine (control, stops): journaled, logged and notified."""
        self.event(level, message, notify=True)

    def error(self, message: str, alert: Alert | None = None) -> None:
        """An error event that cannot itself raise out of a polling loop (a full disk, say)."""
        try:
            self.event("error", message, alert=alert)
        except Exception:
            log.exception("could not record: %s", message)
