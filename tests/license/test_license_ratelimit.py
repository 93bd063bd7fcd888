"""Activation attempts are limited per client IP and per key."""

from __future__ import annotations

import httpx
import pytest
from license_helpers import fingerprint_of

from lightspeed_cli.license.keys import generate_key
from lightspeed_cli.license.ratelimit import SlidingWindowLimiter
from lightspeed_cli.license.server import ServerConfig
from lightspeed_cli.license.testing import RunningLicenseServer


@pytest.fixture
def server_config() -> ServerConfig:
    return ServerConfig(activate_per_ip=3, activate_per_key=2, rate_window_seconds=600)


def _activate(server: RunningLicenseServer, key: str, ip: str, machine: str) -> httpx.Response:
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 (a reverse proxy's view), so one test
    # process can play several client addresses
    return httpx.post(
        f"{server.url}/v1/activate",
        json={"key": key, "machine": machine},
        headers={"X-Forwarded-For": ip},
    )


def test_per_ip_limit_stops_key_guessing(license_server: RunningLicenseServer, tmp_path) -> None:
    machine = fingerprint_of(tmp_path, "a")
    codes = [
        _activate(license_server, generate_key(), "203.0.113.7", machine).json()["code"]
        for _ in range(4)
    ]
    assert codes == ["unknown_key"] * 3 + ["rate_limited"]
    blocked = _activate(license_server, generate_key(), "203.0.113.7", machine)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    # another address is not affected
    other = _activate(license_server, generate_key(), "198.51.100.9", machine)
    assert other.json()["code"] == "unknown_key"


def test_per_key_limit_holds_across_addresses(
    license_server: RunningLicenseServer, tmp_path
) -> None:
    key = license_server.issue(seats=10)
    statuses = [
        _activate(
            license_server, key, f"192.0.2.{i}", fingerprint_of(tmp_path, f"m{i}")
        ).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(("elapsed", "allowed"), [(9.999, False), (10.0, True)])
def test_window_boundary(elapsed: float, allowed: bool) -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(2, 10, clock=lambda: now[0])
    assert limiter.hit("ip") == 0 and limiter.hit("ip") == 0
    assert limiter.hit("ip") == pytest.approx(10)
    now[0] += elapsed
    assert (limiter.hit("ip") == 0) is allowed


def test_bucket_count_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, 60, max_keys=100)
    for i in range(1000):
        limiter.hit(f"ip-{i}")
    assert len(limiter) == 100
