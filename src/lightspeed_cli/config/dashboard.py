"""[dashboard]: the local web dashboard (`lightspeed dashboard`, `run --dashboard`).

Kept out of settings.py (its size). Bound to 127.0.0.1 unless the user names another address:
reach it from elsewhere through an SSH tunnel (README). A request from another host than the
one bound is refused; binding to a non-loopback address is the user's explicit choice.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

LOOPBACK = "127.0.0.1"


class DashboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    enabled: bool = False  # serve it inside `run` (as `run --dashboard` does)
    host: str = Field(default=LOOPBACK, min_length=1, max_length=253)
    port: int = Field(default=8766, ge=1, le=65535)  # (8765: the license server's example)
    control: bool = False  # make a control token: pause, resume, close-all from the dashboard
