"""The license client: activate this machine, keep its lease fresh, say whether opening is allowed.

The license only ever gates *opening or increasing* positions. Closing and reducing always
mirror, whatever the license state, so nobody is left exposed because a license lapsed: the
engine consults `LicenseState.can_open` for opens/increases only.

Trust model: a lease is a server-signed statement (token.py) that key `key_id` is active on
machine `machine` until `expires_at`, good without contact until `lease_until`. The client
checks the signature (public key from the config, else pinned at activation), the machine
fingerprint and the expiry. Offline, it keeps opening for `offline_grace_hours` after the
lease was issued (never past `lease_until`), warning loudly; a local clock earlier than the
latest server time seen (beyond `clock_tolerance_seconds`) voids that grace. Expiry and grace
are judged at the latest time the client has ever seen (server answers and its own readings of
the clock, persisted), so winding the clock back never makes a lapsed lease valid again.

Any license problem, from "no lease at all" to "revoked", only stops opening: `run` still
starts and mirrors closes and reductions (closing-only mode), saying why loudly.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from lightspeed_cli.config.sections import PLACEHOLDER_SERVER_URL
from lightspeed_cli.license.fingerprint import machine_fingerprint
from lightspeed_cli.license.keys import KeyFormatError, key_id, mask_key, parse_key
from lightspeed_cli.license.protocol import (
    ACTIVATE_PATH,
    DEACTIVATE_PATH,
    REFUSAL_CODES,
    VALIDATE_PATH,
    ActivateRequest,
    DeactivateResponse,
    ErrorResponse,
    LeaseRequest,
    LeaseResponse,
)
from lightspeed_cli.license.state import (
    NO_LEASE,
    LeaseProblem,
    LicenseState,
    evaluate,
)
from lightspeed_cli.license.store import (
    STATE_FILE,
    LeaseStore,
    LocalState,
    Refusal,
    SecretsLeaseStore,
    delete_state,
    load_state,
    save_state,
)
from lightspeed_cli.license.timefmt import as_utc
from lightspeed_cli.license.token import (
    LeasePayload,
    TokenError,
    public_key_from_b64,
    public_key_to_b64,
    verify_lease,
)

if TYPE_CHECKING:
    import httpx

    from lightspeed_cli.config.sections import LicenseSettings

log = logging.getLogger(__name__)
_R = TypeVar("_R", bound=BaseModel)

HTTP_TIMEOUT_SECONDS = 10.0
PLACEHOLDER_MESSAGE = f"no license server configured (license.server_url is the placeholder\
 {PLACEHOLDER_SERVER_URL}): set your vendor's with `lightspeed config set license.server_url URL`"
FLOOR_SAVE_SECONDS = 60.0  # the clock reading the client remembers is written at most this often


class LicenseError(Exception):
    """A license problem worded for the user (never contains the key or the lease)."""


class ActivationResult(BaseModel):
    key_id: str
    key_hint: str
    seats: int
    seats_used: int
    expires_at: datetime
    lease_until: datetime
    grace_until: datetime
    stored_in: str
    previous: str | None = None  # what became of another key's seat this machine held


class _Unreachable(Exception):
    """Could not get a usable answer: the offline grace applies."""


class _ServerError(Exception):
    def __init__(self, err: ErrorResponse) -> None:
        super().__init__(err.message)
        self.code = err.code
        self.message = err.message
        self.server_time = err.server_time


class LicenseClient:
    """Activation, heartbeat and the local verdict for one machine.

    The verdict (`state`) gates opening and increasing positions only; closing and reducing are
    never blocked by the license.
    """

    def __init__(
        self,
        settings: LicenseSettings,
        data_dir: Path,
        *,
        http: httpx.AsyncClient | None = None,
        fingerprint: str | None = None,
        store: LeaseStore | None = None,
    ) -> None:
        self.settings = settings
        self.state_path = data_dir / STATE_FILE
        self._fingerprint = fingerprint
        self._http = http
        self.store: LeaseStore = store or SecretsLeaseStore(data_dir)
        self._local: LocalState | None = None
        self._token: str | None = None
        self._lease: LeasePayload | None = None
        self._problem: LeaseProblem | None = None
        self._floor_saved: datetime | None = None  # latest_local_time as last written

    # --- local state -----------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """This machine's fingerprint, computed on first use (LicenseError if unreadable)."""
        if self._fingerprint is None:
            try:
                self._fingerprint = machine_fingerprint()
            except ValueError as exc:
                raise LicenseError(f"cannot identify this machine: {exc}") from None
        return self._fingerprint

    @property
    def local(self) -> LocalState:
        self._load()
        assert self._local is not None
        return self._local

    def _load(self) -> None:
        """Read the state file and the stored lease once; later calls use the cache."""
        if self._local is not None:
            return
        self._local = load_state(self.state_path)
        self._floor_saved = self._local.latest_local_time
        self._use_token(self.store.load())

    def _use_token(self, token: str | None) -> None:
        self._token, self._lease, self._problem = token, None, None
        if token is None:
            return
        try:
            self._lease = self._verify(token)
        except LeaseProblem as problem:
            self._problem = problem

    def _public_key_text(self) -> str:
        return self.settings.public_key or (self._local.public_key if self._local else "")

    def _verify(self, token: str, public_key: str | None = None) -> LeasePayload:
        text = public_key if public_key is not None else self._public_key_text()
        if not text:
            raise LeaseProblem(
                "no_public_key",
                f"a lease was found but {self.state_path} pins no license server public key"
                " (and license.public_key is not set), so it cannot be checked: run"
                " `lightspeed license activate` again with this config",
            )
        try:
            payload = verify_lease(token, public_key_from_b64(text))
        except ValueError as exc:  # TokenError is a ValueError too
            code = exc.code if isinstance(exc, TokenError) else "bad_public_key"
            raise LeaseProblem(code, f"the license lease is not valid ({exc})") from None
        try:
            mine = self.fingerprint
        except LicenseError as exc:
            raise LeaseProblem("no_fingerprint", str(exc)) from None
        if payload.machine != mine:
            raise self._not_mine(payload.machine)
        return payload

    def _not_mine(self, machine: str) -> LeaseProblem:
        """Another user's lease on this machine (root reading the service's data dir) is not
        another machine's: activating again would replace the service's lease."""
        from lightspeed_cli.config.datadir import current_user, owner

        data_dir = self.state_path.parent
        who, me = owner(data_dir), current_user()
        try:
            theirs = machine_fingerprint(user=who)
        except ValueError:
            theirs = ""
        if who != me and machine == theirs:
            return LeaseProblem(
                "wrong_user",
                f"the license lease in {data_dir} belongs to another user, {who}, on this"
                f" machine (you are {me}); it is valid for {who} only: read it as that user"
                f" (`sudo -u {who} lightspeed ...`), do not activate again as {me}",
            )
        return LeaseProblem(
            "wrong_machine",
            "the license lease was issued to another machine (a lease cannot be"
            " copied): run `lightspeed license activate` on this one",
        )

    def _save(self) -> None:
        save_state(self.state_path, self.local)
        self._floor_saved = self.local.latest_local_time

    @property
    def no_lease_reason(self) -> str:
        """Says where the lease was looked for: a config pointing at another data dir is the
        usual cause (the service and the shell using different configs)."""
        return (
            f"{NO_LEASE} ({self.state_path.parent}): run `lightspeed license activate` with the"
            " same config (and data dir) as `lightspeed run`"
        )

    def state(self, now: datetime | None = None) -> LicenseState:
        """Verdict from the cached lease (read once): signature, machine, expiry, offline
        grace and clock. `can_open` is False past the grace, after a refusal, or on expiry;
        closes and reductions are never gated by it. The clock reading joins the time floor
        (written at most every FLOOR_SAVE_SECONDS), so a clock set back is never believed."""
        self._load()
        local = self.local
        moment = as_utc(now) if now else datetime.now(UTC)
        local.seen_local_time(moment)
        self._remember_floor()
        return evaluate(
            self._lease, self._problem, local, self.settings, moment, self.no_lease_reason
        )

    def _remember_floor(self) -> None:
        """Persist the latest clock reading now and then; best effort (read-only data dir)."""
        latest = self.local.latest_local_time
        saved = self._floor_saved
        if self._token is None or latest is None:
            return
        if saved is not None and (latest - saved).total_seconds() < FLOOR_SAVE_SECONDS:
            return
        try:
            self._save()
        except OSError as exc:
            log.debug("license state not saved: %s", exc)
            self._floor_saved = latest  # do not retry on every call

    # --- talking to the server -------------------------------------------------------------

    async def _post(self, path: str, body: BaseModel, model: type[_R]) -> _R:
        import httpx

        if self.settings.server_url == PLACEHOLDER_SERVER_URL:  # no vendor set: not a DNS error
            raise _Unreachable(PLACEHOLDER_MESSAGE)
        url = self.settings.server_url.rstrip("/") + path
        content = body.model_dump_json()
        headers = {"content-type": "application/json"}
        try:
            if self._http is not None:
                resp = await self._http.post(url, content=content, headers=headers)
            else:
                async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_SECONDS) as http:
                    resp = await http.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise _Unreachable(f"cannot reach {url}: {type(exc).__name__} {exc}".strip()) from None
        if resp.status_code == 200:
            try:
                return model.model_validate_json(resp.content)
            except ValidationError:
                raise _Unreachable(f"{url} sent an answer this version cannot read") from None
        try:
            err = ErrorResponse.model_validate_json(resp.content)
        except ValidationError:
            raise _Unreachable(f"{url} answered HTTP {resp.status_code}") from None
        raise _ServerError(err)

    def _accept(
        self,
        resp: LeaseResponse,
        *,
        pin: str | None = None,
        key_hint: str | None = None,
        expect_key_id: str | None = None,
    ) -> str:
        """Verify the new lease (with `pin` if given, which is then pinned), store it and record
        the contact. Returns where the lease was stored; raises LeaseProblem if it is bad."""
        payload = self._verify(resp.lease, pin)
        if expect_key_id is not None and payload.key_id != expect_key_id:
            raise LeaseProblem("bad_lease", "the license server sent a lease for another key")
        stored_in = self.store.save(resp.lease)
        self._token, self._lease, self._problem = resp.lease, payload, None
        local = self.local
        if pin is not None:
            local.public_key = pin
        if key_hint is not None:
            local.key_hint = key_hint
        local.server_url = self.settings.server_url
        local.key_id = payload.key_id
        local.seats, local.seats_used = resp.seats, resp.seats_used
        local.last_contact = resp.server_time
        local.latest_local_time = None  # the server's answer is the truth about time now
        local.seen_server_time(resp.server_time)
        local.seen_server_time(payload.issued)
        local.last_error = local.last_error_at = local.refusal = None
        self._save()
        return stored_in

    async def activate(self, key: str) -> ActivationResult:
        """Check the key's spelling locally, take a seat for this machine, store the lease."""
        try:
            canonical = parse_key(key)
        except KeyFormatError as exc:
            raise LicenseError(str(exc)) from None
        self._load()
        old_token, old_lease, old_hint = self._token, self._lease, self.local.key_hint
        try:
            resp = await self._post(
                ACTIVATE_PATH,
                ActivateRequest(key=canonical, machine=self.fingerprint),
                LeaseResponse,
            )
        except _ServerError as exc:
            raise LicenseError(f"{exc.message} [{exc.code}]") from None
        except _Unreachable as exc:
            raise LicenseError(f"license server: {exc}") from None
        hint = mask_key(canonical)
        try:
            stored_in = self._accept(
                resp, pin=self._pin(resp.public_key), key_hint=hint, expect_key_id=key_id(canonical)
            )
        except LeaseProblem as problem:
            raise LicenseError(f"the license server sent a bad lease: {problem.message}") from None
        previous = None
        replaced = old_lease is not None and old_lease.key_id != key_id(canonical)
        if old_token is not None and old_lease is not None and replaced:
            previous = await self._release(old_token, old_hint or old_lease.key_id)
        state = self.state()
        assert state.expires_at and state.lease_until and state.grace_until
        return ActivationResult(
            key_id=key_id(canonical),
            key_hint=hint,
            seats=resp.seats,
            seats_used=resp.seats_used,
            expires_at=state.expires_at,
            lease_until=state.lease_until,
            grace_until=state.grace_until,
            stored_in=stored_in,
            previous=previous,
        )

    async def _free_seat(self, token: str) -> DeactivateResponse:
        """Ask the server to free the seat `token` holds on this machine."""
        request = LeaseRequest(lease=token, machine=self.fingerprint)
        return await self._post(DEACTIVATE_PATH, request, DeactivateResponse)

    async def _release(self, token: str, hint: str) -> str:
        """Free the seat a replaced key held here, best effort: the new key is already active,
        so a failure is reported, never raised (the admin can still free that seat)."""
        try:
            await self._free_seat(token)
        except _ServerError as exc:
            if exc.code in REFUSAL_CODES:
                return f"the previous key {hint} holds no seat here any more [{exc.code}]"
            log.warning("could not free the previous key's seat: %s", exc.message)
            return f"the previous key {hint} still holds a seat: {exc.message} [{exc.code}]"
        except _Unreachable as exc:
            log.warning("could not free the previous key's seat: %s", exc)
            return f"the previous key {hint} still holds a seat: {exc}"
        return f"the previous key {hint} was deactivated on this machine; its seat is free"

    def _pin(self, offered: str) -> str:
        """The key to trust: the configured one (which the server must match), else the offer."""
        try:
            offered_norm = public_key_to_b64(public_key_from_b64(offered))
            if not self.settings.public_key:
                return offered_norm
            configured = public_key_to_b64(public_key_from_b64(self.settings.public_key))
        except ValueError as exc:
            raise LicenseError(str(exc)) from None
        if configured != offered_norm:
            raise LicenseError(
                "the license server's public key differs from license.public_key in your config:"
                " wrong server, or the config needs the new key"
            )
        return configured

    async def renew(self) -> LicenseState:
        """Heartbeat: trade the current lease for a fresh one.

        Unreachable server (or an unreadable answer): keep the cached lease, the offline grace
        runs. Explicit refusal (revoked, expired, seat released, ...): `can_open` turns False at
        once. Closing and reducing are never affected.
        """
        self._load()
        local = self.local
        if self._token is None or self._problem is not None:
            return self.state()
        try:
            resp = await self._post(
                VALIDATE_PATH,
                LeaseRequest(lease=self._token, machine=self.fingerprint),
                LeaseResponse,
            )
            self._accept(resp, expect_key_id=self._lease.key_id if self._lease else None)
        except _ServerError as exc:
            if exc.server_time is not None:
                local.seen_server_time(exc.server_time)
            if exc.code in REFUSAL_CODES:
                local.refusal = Refusal(
                    code=exc.code, message=exc.message, at=exc.server_time or datetime.now(UTC)
                )
                log.error("license refused by the server [%s]: %s", exc.code, exc.message)
            else:
                self._record_error(f"{exc.code}: {exc.message}")
            self._save()
        except (_Unreachable, LeaseProblem) as exc:
            self._record_error(str(exc))
            self._save()
        return self.state()

    def _record_error(self, message: str) -> None:
        local = self.local
        local.last_error, local.last_error_at = message, datetime.now(UTC)
        log.warning("license renewal failed: %s", message)

    async def startup_check(self) -> LicenseState:
        """Before trading: one renewal when a genuine lease for this machine is held.

        Never raises for a license problem: no lease, a forged or another machine's lease, a
        revoked, expired or stale one all return a state with `can_open` False, and the bot
        runs closing-only (closes and reductions still mirror) rather than leave positions the
        leader closes open on Bybit.
        """
        self._load()
        if self._token is None or self._problem is not None:
            return self.state()
        return await self.renew()

    async def run_renewals(self, stop: asyncio.Event) -> None:
        """Renew every `renew_interval_minutes` until `stop` is set, logging loudly when the
        license is on borrowed time or refused (opening stops; closes still mirror)."""
        interval = self.settings.renew_interval_minutes * 60
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except TimeoutError:
                pass
            try:
                state = await self.renew()
            except Exception:
                log.exception("license renewal failed unexpectedly")
                continue
            if not state.can_open:
                log.error("license: %s", state.reason)
            elif state.warning:
                log.warning("license: %s", state.warning)

    async def deactivate(self, *, local_only: bool = False) -> int | None:
        """Free this machine's seat on the server, then forget the lease here.

        Returns the key's seats still in use (None with `local_only`). If the server cannot be
        reached the lease is kept, so the seat is not silently lost.
        """
        self._load()
        if self._token is None:
            raise LicenseError("no license is active on this machine")
        seats_used: int | None = None
        if not local_only:
            try:
                seats_used = (await self._free_seat(self._token)).seats_used
            except _ServerError as exc:
                if exc.code not in REFUSAL_CODES:  # refused = the seat is already gone
                    raise LicenseError(f"{exc.message} [{exc.code}]") from None
            except _Unreachable as exc:
                raise LicenseError(
                    f"license server: {exc}; the seat is still taken. Retry later, or use"
                    " --local to forget the lease on this machine only"
                ) from None
        self.store.delete()
        delete_state(self.state_path)
        self._local = LocalState()
        self._use_token(None)
        return seats_used
