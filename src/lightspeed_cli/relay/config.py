"""The relay server's limits and pace (the vendor's side; `relay serve` flags override them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RelayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read_interval_seconds: float = Field(default=1.0, gt=0)  # between two reads of one leader
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    max_leaders_per_lease: int = Field(default=50, ge=1)
    max_connections_per_lease: int = Field(default=2, ge=1)
    hello_timeout_seconds: float = Field(default=5, gt=0)  # connect -> hello, else closed
    lease_check_seconds: float = Field(default=30, gt=0)  # revocation / expiry re-checked
    queue_size: int = Field(default=256, ge=1)  # messages a slow client may lag before it is cut
    status_seconds: float = Field(default=1.0, gt=0)  # how often the status file is written
