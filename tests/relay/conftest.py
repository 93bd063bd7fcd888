"""Relay fixtures: a real license server, the fake Binance and a real relay on 127.0.0.1, and
clients holding real leases for machines of their own."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lightspeed_cli.config.sections import RelaySettings
from lightspeed_cli.license.protocol import ActivateRequest
from lightspeed_cli.license.testing import RunningLicenseServer, run_license_server
from lightspeed_cli.models import SourceKind
from lightspeed_cli.relay.config import RelayConfig
from lightspeed_cli.relay.testing import RunningRelay, run_relay
from lightspeed_cli.sim.binance import FakeBinance, FakePosition
from lightspeed_cli.sources.push import PushedBook
from lightspeed_cli.sources.relay import RelayClient
from lightspeed_cli.sources.relay_message import LeaderRef

LEADER = "1111111111"
OTHER_LEADER = "2222222222"


def machine(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def ref(leader: str = LEADER) -> LeaderRef:
    return LeaderRef(source=SourceKind.COPYTRADE, id=leader)


@pytest.fixture
def relay_config() -> RelayConfig:
    return RelayConfig(read_interval_seconds=0.05, heartbeat_seconds=0.2, lease_check_seconds=0.2)


@pytest.fixture
def binance() -> Iterator[FakeBinance]:
    with FakeBinance.running() as fake:
        fake.set_positions(LEADER, [FakePosition.long("BTCUSDT", "1", "60000")])
        yield fake


@pytest.fixture
def license_server(tmp_path: Path) -> Iterator[RunningLicenseServer]:
    with run_license_server(tmp_path / "license") as server:
        yield server


@pytest.fixture
def relay(
    tmp_path: Path,
    license_server: RunningLicenseServer,
    binance: FakeBinance,
    relay_config: RelayConfig,
) -> Iterator[RunningRelay]:
    with run_relay(tmp_path / "relay", license_server, binance.url, relay_config) as running:
        yield running


@dataclass
class Member:
    """A licensed machine: its fingerprint, its current lease and its key."""

    machine: str
    lease: str
    key: str


@pytest.fixture
def member(license_server: RunningLicenseServer) -> Callable[..., Member]:
    def make(name: str = "alice", *, key: str | None = None, seats: int = 2) -> Member:
        key = key or license_server.issue(seats=seats)
        fingerprint = machine(name)
        lease = license_server.service.activate(
            ActivateRequest(key=key, machine=fingerprint), "127.0.0.1"
        ).lease
        return Member(fingerprint, lease, key)

    return make


@pytest.fixture
def client_for(relay: RunningRelay) -> Callable[..., RelayClient]:
    def make(
        who: Member, leaders: list[str] | None = None, *, as_machine: str | None = None
    ) -> RelayClient:
        settings = RelaySettings(
            url=relay.url, public_key=relay.public_key, fallback_after_seconds=2
        )
        return RelayClient(
            settings,
            lease=lambda: who.lease,
            machine=as_machine or who.machine,
            leaders=[ref(leader) for leader in leaders or [LEADER]],
        )

    return make


class Receiver:
    """Runs a client's `books()` in a task and collects what it yields."""

    def __init__(self, client: RelayClient) -> None:
        self.client = client
        self.books: list[PushedBook] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for pushed in self.client.books():
            self.books.append(pushed)

    async def wait_for(
        self, predicate: Callable[[list[PushedBook]], bool], timeout: float = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.books):
                await asyncio.sleep(0.02)

    async def wait_closed(self, timeout: float = 10) -> str:
        async with asyncio.timeout(timeout):
            while not self.client.last_close:
                await asyncio.sleep(0.02)
        return self.client.last_close

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
async def receive() -> AsyncIterator[Callable[[RelayClient], Receiver]]:
    started: list[Receiver] = []

    def start(client: RelayClient) -> Receiver:
        receiver = Receiver(client)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.stop()
