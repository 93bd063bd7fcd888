"""The license server under abuse, against the real uvicorn server and raw sockets.

Half-sent requests are dropped after the header / body timeout, a connection cap makes room by
closing the connection waiting longest for its headers, a client hanging up is one INFO line,
and a locked database neither stalls `/v1/health` nor turns into a 500 (503 + Retry-After).
Counts are bounded (at most 200 sockets); waits are conditions with generous limits.
"""

from __future__ import annotations

import logging
import select
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from license_helpers import ClientFactory, fingerprint_of

from lightspeed_cli.license.server import ServerConfig
from lightspeed_cli.license.testing import RunningLicenseServer, run_license_server

WAIT_SECONDS = 60  # generous: the machine may be loaded; no test asserts a duration
PARTIAL_HEADERS = b"POST /v1/activate HTTP/1.1\r\nHost: license\r\nContent-Type: applic"
PARTIAL_BODY = (
    b"POST /v1/activate HTTP/1.1\r\nHost: license\r\nContent-Type: application/json\r\n"
    b"Content-Length: 200\r\n\r\n" + b'{"key": "LS-'
)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@contextmanager
def _server(tmp_path: Path, **limits: float) -> Iterator[RunningLicenseServer]:
    with run_license_server(tmp_path / "server", ServerConfig(**limits)) as server:
        yield server


def _address(server: RunningLicenseServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


@contextmanager
def _sockets(server: RunningLicenseServer, count: int, payload: bytes) -> Iterator[list]:
    socks = [socket.create_connection(_address(server), timeout=WAIT_SECONDS) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(payload)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _closed_by_server(sock: socket.socket) -> bool:
    """The server has closed this connection (EOF or reset), without waiting."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True


def _health_ok(server: RunningLicenseServer) -> bool:
    with httpx.Client(timeout=WAIT_SECONDS) as http:  # a fresh connection each time
        return http.get(f"{server.url}/v1/health").json()["ok"] is True


def _assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing above INFO, no traceback, no 'bug' from any logger (uvicorn's included)."""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]
    assert all(r.exc_info is None for r in caplog.records)
    assert "bug" not in caplog.text and "Traceback" not in caplog.text


def _lines(caplog: pytest.LogCaptureFixture, *phrases: str) -> int:
    """INFO lines saying any of `phrases`."""
    return sum(
        r.levelno == logging.INFO and any(p in r.getMessage() for p in phrases)
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("payload", "limit", "logged"),
    [
        (PARTIAL_HEADERS, "header_timeout_seconds", "no complete request headers within 0.5 s"),
        (PARTIAL_BODY, "body_timeout_seconds", "before its body was complete"),
    ],
    ids=["headers", "body"],
)
def test_half_sent_requests_are_dropped_after_their_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, payload: bytes, limit: str, logged: str
) -> None:
    caplog.set_level(logging.INFO)
    with _server(tmp_path, **{limit: 0.5}) as server, _sockets(server, 20, payload) as socks:
        _wait_for(lambda: all(_closed_by_server(s) for s in socks), "the server to drop them")
        _wait_for(lambda: _lines(caplog, logged) == 20, "one line per dropped request")
        assert _health_ok(server)
    assert _lines(caplog, logged) == 20
    _assert_quiet(caplog)


def test_an_idle_keep_alive_connection_is_closed_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real client keeping its connection open between requests is not an abuser."""
    caplog.set_level(logging.INFO)
    request = b"GET /v1/health HTTP/1.1\r\nHost: license\r\n\r\n"
    with (
        _server(tmp_path, header_timeout_seconds=0.3) as server,
        _sockets(server, 5, request) as socks,
    ):
        for sock in socks:
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 OK")
        _wait_for(lambda: all(_closed_by_server(s) for s in socks), "the server to close them")
    assert not [r for r in caplog.records if r.name.startswith("lightspeed_cli")]
    _assert_quiet(caplog)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_a_client_hanging_up_mid_body_is_one_info_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reset: bool
) -> None:
    caplog.set_level(logging.INFO)
    headers, body = PARTIAL_BODY.split(b"\r\n\r\n")
    with _server(tmp_path, body_timeout_seconds=WAIT_SECONDS) as server:
        for _ in range(20):
            with closing(socket.create_connection(_address(server), timeout=WAIT_SECONDS)) as sock:
                # "100 Continue" proves the endpoint is reading the body when the client leaves
                sock.sendall(headers + b"\r\nExpect: 100-continue\r\n\r\n")
                assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
                sock.sendall(body)
                if reset:  # close with RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        _wait_for(lambda: _lines(caplog, "before its body was complete") == 20, "20 log lines")
        assert _health_ok(server)
    lines = [r for r in caplog.records if r.name.startswith("lightspeed_cli")]
    assert len(lines) == 20  # one line per aborted request, nothing else
    assert "POST /v1/activate from 127.0.0.1 ended before its body was complete" in caplog.text
    _assert_quiet(caplog)


@pytest.mark.parametrize("payload", [PARTIAL_HEADERS, PARTIAL_BODY], ids=["headers", "body"])
def test_the_connection_cap_makes_room_for_new_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    """200 half-sent requests against a cap of 50 (and timeouts too long to help): the server
    holds at most 50 and still answers a real client."""
    caplog.set_level(logging.INFO)
    slow = WAIT_SECONDS * 10
    with (
        _server(
            tmp_path, max_connections=50, header_timeout_seconds=slow, body_timeout_seconds=slow
        ) as server,
        _sockets(server, 200, payload) as socks,
    ):
        _wait_for(lambda: sum(_closed_by_server(s) for s in socks) >= 150, "the cap to close 150")
        assert _health_ok(server)
        key = server.issue()
        machine = fingerprint_of(tmp_path, "a")
        with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as http:
            resp = http.post("/v1/activate", json={"key": key, "machine": machine})
        assert resp.status_code == 200, resp.text
        dropped = ("connection cap (50) reached", "before its body was complete")
        _wait_for(lambda: _lines(caplog, *dropped) >= 150, "a line per dropped request")
    _assert_quiet(caplog)


@contextmanager
def _locked(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's view: an exclusive SQLite lock held on the server's database."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def test_health_answers_while_a_request_waits_on_the_database_lock(tmp_path: Path) -> None:
    with _server(tmp_path, db_busy_timeout_seconds=WAIT_SECONDS * 10) as server:
        key, machine = server.issue(), fingerprint_of(tmp_path, "a")
        answers: list[httpx.Response] = []

        def activate() -> None:
            with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS * 20) as http:
                answers.append(http.post("/v1/activate", json={"key": key, "machine": machine}))

        waiting = threading.Thread(target=activate)
        with _locked(server.db_path):
            waiting.start()
            _wait_for(lambda: server.service.db.in_use, "the activation to wait on the lock")
            assert _health_ok(server)
            assert waiting.is_alive() and not answers  # still waiting: health did not queue
        waiting.join(WAIT_SECONDS)
        assert answers and answers[0].status_code == 200, answers
        assert server.record(key).seats_used == 1


def test_a_busy_database_is_503_with_retry_after_never_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _server(tmp_path, db_busy_timeout_seconds=0.2, busy_retry_after_seconds=7) as server:
        key, machine = server.issue(), fingerprint_of(tmp_path, "a")
        with httpx.Client(base_url=server.url, timeout=WAIT_SECONDS) as http:
            lease = http.post("/v1/activate", json={"key": key, "machine": machine}).json()
            with _locked(server.db_path):
                busy = [
                    http.post("/v1/activate", json={"key": key, "machine": machine}),
                    http.post("/v1/validate", json={"lease": lease["lease"], "machine": machine}),
                ]
                assert _health_ok(server)
            after = http.post("/v1/validate", json={"lease": lease["lease"], "machine": machine})
    for resp in busy:
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == "7"
        assert resp.json()["code"] == "busy" and resp.json()["server_time"]
    assert after.status_code == 200, after.text
    assert "bug" not in caplog.text and "Traceback" not in caplog.text


@pytest.fixture
def server_config() -> ServerConfig:
    """For `license_server` in this module: a lock held past 0.2 s is a 503."""
    return ServerConfig(db_busy_timeout_seconds=0.2)


async def test_a_client_renewing_against_a_busy_database_keeps_its_lease(
    license_server: RunningLicenseServer, make_client: ClientFactory
) -> None:
    """503 `busy` is "could not ask", never a refusal: the bot keeps opening (offline grace)."""
    client = make_client("a")
    await client.activate(license_server.issue())
    with _locked(license_server.db_path):
        state = await client.renew()
    assert state.valid and state.can_open, state
    assert "busy" in (client.local.last_error or "")
