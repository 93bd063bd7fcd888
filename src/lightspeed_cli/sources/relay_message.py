"""The relay's signed messages and the client's gate over them (DESIGN rule 6).

A message is an Ed25519 envelope (`lsr1.<base64url(canonical JSON)>.<base64url(signature)>`,
the shape of a lease: license/token.py) signed with the relay's own key. A book message carries
the leader's whole book, so a client that missed some needs only the latest; a heartbeat says
the relay is alive. `MessageGate` is what the client trusts: the pinned key's signature, then
for a book a (relay epoch, sequence) strictly above the last one accepted for that leader, and
a read no older than `max_age_seconds`; anything else is refused with a `code` saying why.

The relay server builds and signs messages with the same models (relay/), so both ends speak
one vocabulary: positions are models.py's TraderPosition.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lightspeed_cli.license.token import TokenError, open_envelope, sign_envelope
from lightspeed_cli.models import Snapshot, SourceKind, TraderPosition

MESSAGE_PREFIX = "lsr1"
MAX_MESSAGE_LEN = 256 * 1024  # a book of a few hundred positions, base64'd


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeaderRef(_Strict):
    """A leader as the relay reads it: which Binance endpoint, which id."""

    source: SourceKind
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")

    @property
    def key(self) -> str:
        return f"{self.source.value}:{self.id}"


class BookMessage(_Strict):
    """The relay vouches: at `read_at` the leader's book was exactly `positions`."""

    kind: Literal["book"] = "book"
    leader: LeaderRef
    epoch: int = Field(ge=0)  # the relay's start (ms): a restarted relay counts on from above
    seq: int = Field(ge=1)  # per leader, strictly increasing within an epoch
    positions: tuple[TraderPosition, ...] = ()
    read_at: datetime
    source_time: datetime | None = None
    sent_at: datetime
    # True when this book closes MASS_CLOSE or more positions and a second read agreed
    mass_close_confirmed: bool = False

    def snapshot(self) -> Snapshot:
        return Snapshot(
            trader=self.leader.id,
            positions=self.positions,
            fetched_at=self.read_at,
            source_time=self.source_time,
        )


class Heartbeat(_Strict):
    kind: Literal["heartbeat"] = "heartbeat"
    epoch: int = Field(ge=0)
    sent_at: datetime


RelayMessage = BookMessage | Heartbeat


class RelayMessageError(ValueError):
    """A message the client must not trust; `code`: forged, malformed, replayed, reordered,
    stale."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _canonical(message: BaseModel) -> bytes:
    return json.dumps(
        message.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def sign_message(message: RelayMessage, key: Ed25519PrivateKey) -> str:
    return sign_envelope(MESSAGE_PREFIX, _canonical(message), key)


def open_message(token: str, public_key: Ed25519PublicKey) -> RelayMessage:
    """The message a genuine envelope carries (signature only: no sequence or freshness)."""
    try:
        body = open_envelope(
            MESSAGE_PREFIX, token, public_key, what="relay message", max_len=MAX_MESSAGE_LEN
        )
    except TokenError as exc:
        code = "forged" if exc.code == "bad_signature" else "malformed"
        raise RelayMessageError(code, str(exc)) from None
    try:
        kind = json.loads(body).get("kind")
        model = BookMessage if kind == "book" else Heartbeat
        return model.model_validate_json(body)
    except (ValidationError, ValueError, AttributeError):
        raise RelayMessageError(
            "malformed", "relay message is not a valid book or heartbeat"
        ) from None


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageGate:
    """The client's checks, in order: signature, sequence (books), freshness.

    State is per leader and survives reconnects: a message from before a reconnect replayed
    after it is still refused."""

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        max_age_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._key = public_key
        self._max_age = max_age_seconds
        self._clock = clock
        self._last: dict[str, tuple[int, int]] = {}  # leader key -> (epoch, seq) accepted

    def admit(self, token: str) -> RelayMessage:
        message = open_message(token, self._key)
        if isinstance(message, BookMessage):
            self._check_order(message)
            stamp = message.read_at
        else:
            stamp = message.sent_at
        age = (self._clock() - stamp).total_seconds()
        if age > self._max_age:
            raise RelayMessageError(
                "stale", f"relay message is {age:.1f} s old (more than {self._max_age:g} s)"
            )
        if isinstance(message, BookMessage):
            self._last[message.leader.key] = (message.epoch, message.seq)
        return message

    def _check_order(self, message: BookMessage) -> None:
        last = self._last.get(message.leader.key)
        here = (message.epoch, message.seq)
        if last is None or here > last:
            return
        code = "replayed" if here == last else "reordered"
        raise RelayMessageError(
            code,
            f"relay book for {message.leader.key} has sequence {here}, not after {last} ({code})",
        )
