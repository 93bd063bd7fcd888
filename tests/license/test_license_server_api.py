"""The license server's HTTP rules: bad input gets a 4xx with a stable code, never a 500."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from license_helpers import fingerprint_of

from lightspeed_cli.license.keys import check_symbols, format_key
from lightspeed_cli.license.server import build_service, load_or_create_signing_key
from lightspeed_cli.license.testing import RunningLicenseServer, run_license_server

ENDPOINTS = ("/v1/activate", "/v1/validate", "/v1/deactivate")
UNKNOWN_KEY = format_key("A" * 26 + check_symbols("A" * 26))
MACHINE = "ab" * 32


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLicenseServer]:
    """One server for this module: these tests only send requests and issue fresh keys."""
    with run_license_server(tmp_path_factory.mktemp("api-server")) as server:
        yield server


@pytest.fixture
def license_server(api_server: RunningLicenseServer) -> RunningLicenseServer:
    api_server.service.ip_limiter.reset()  # no test inherits another's activation attempts
    api_server.service.key_limiter.reset()
    return api_server


@pytest.fixture
def http(license_server: RunningLicenseServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=license_server.url, timeout=10) as client:
        yield client


def _assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert "server_time" in body
    return body


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("content", [b"{bad", b"", b"\xff\xfe", b'{"key": "x",}'])
def test_bad_json_is_400(http: httpx.Client, path: str, content: bytes) -> None:
    _assert_error(http.post(path, content=content), 400, "bad_json")


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        None,
        42,
        {},
        {"key": 123, "machine": MACHINE},
        {"lease": ["x"], "machine": MACHINE},
        {"key": UNKNOWN_KEY, "lease": "x", "machine": MACHINE, "admin": True},
        {"key": UNKNOWN_KEY, "machine": "not-a-fingerprint"},
        {"lease": "x" * 5000, "machine": MACHINE},
    ],
)
def test_wrong_shapes_and_types_are_422(http: httpx.Client, path: str, body: object) -> None:
    resp = http.post(path, content=json.dumps(body))
    if resp.status_code == 413:  # the long lease may hit the body limit first: also a 4xx
        return
    _assert_error(resp, 422, "invalid_request")
    assert UNKNOWN_KEY not in resp.text  # invalid input is never echoed back


@pytest.mark.parametrize("path", ENDPOINTS)
def test_huge_body_is_413_with_or_without_content_length(http: httpx.Client, path: str) -> None:
    big = b'{"key": "' + b"A" * 10_000 + b'"}'
    _assert_error(http.post(path, content=big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(10):
            yield b"A" * 1024

    _assert_error(http.post(path, content=chunks()), 413, "body_too_large")


def test_unknown_and_malformed_keys(http: httpx.Client) -> None:
    resp = http.post("/v1/activate", json={"key": UNKNOWN_KEY, "machine": MACHINE})
    _assert_error(resp, 403, "unknown_key")
    typo = UNKNOWN_KEY[:-1] + ("0" if UNKNOWN_KEY[-1] != "0" else "1")
    resp = http.post("/v1/activate", json={"key": typo, "machine": MACHINE})
    _assert_error(resp, 422, "malformed_key")


@pytest.mark.parametrize("path", ["/v1/validate", "/v1/deactivate"])
def test_forged_lease_is_401(http: httpx.Client, path: str) -> None:
    resp = http.post(path, json={"lease": "lsl1.e30.AAAA", "machine": MACHINE})
    _assert_error(resp, 401, "bad_lease")


def test_deactivating_twice_says_not_activated(
    http: httpx.Client, license_server: RunningLicenseServer, tmp_path: Path
) -> None:
    machine = fingerprint_of(tmp_path, "a")
    key = license_server.issue()
    lease = http.post("/v1/activate", json={"key": key, "machine": machine}).json()["lease"]
    ok = http.post("/v1/deactivate", json={"lease": lease, "machine": machine})
    assert ok.status_code == 200 and ok.json()["seats_used"] == 0
    again = http.post("/v1/deactivate", json={"lease": lease, "machine": machine})
    _assert_error(again, 403, "not_activated")
    renew = http.post("/v1/validate", json={"lease": lease, "machine": machine})
    _assert_error(renew, 403, "not_activated")


def test_routing_errors_are_json_too(http: httpx.Client) -> None:
    _assert_error(http.get("/v1/activate"), 405, "method_not_allowed")
    _assert_error(http.post("/v2/activate", json={}), 404, "not_found")
    health = http.get("/v1/health").json()
    assert health["ok"] is True and "server_time" in health


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(ENDPOINTS),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.sampled_from(["key", "lease", "machine", "x"]), inner)
            ),
            max_leaves=8,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_fuzzed_bodies_never_get_a_5xx(http: httpx.Client, path: str, body: bytes) -> None:
    resp = http.post(path, content=body)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["code"]


def test_success_carries_server_time_and_the_key_is_never_stored_or_logged(
    http: httpx.Client,
    license_server: RunningLicenseServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = license_server.issue()
    resp = http.post("/v1/activate", json={"key": key, "machine": fingerprint_of(tmp_path, "a")})
    assert resp.status_code == 200
    body = resp.json()
    assert body["server_time"] and body["lease"].startswith("lsl1.")
    secret = key[3:].replace("-", "")
    for path in license_server.db_path.parent.iterdir():  # db, WAL, signing key
        assert secret.encode() not in path.read_bytes() and key.encode() not in path.read_bytes()
    assert key not in caplog.text and body["lease"] not in caplog.text


def test_signing_key_is_created_0600_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k" / "server.key"
    first, created = load_or_create_signing_key(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = load_or_create_signing_key(path)
    assert not created and again.public_key() == first.public_key()
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        build_service(tmp_path / "db.sqlite3", path)
