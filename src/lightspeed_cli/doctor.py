"""`lightspeed doctor`: every precondition of a live run, checked once, with the fix for each."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer
from rich.table import Table

from lightspeed_cli.cli.common import config_path, console
from lightspeed_cli.settings import ConfigError, Network, Settings, load_settings

BYBIT_URLS = {
    Network.MAINNET: "https://api.bybit.com",
    Network.TESTNET: "https://api-testnet.bybit.com",
    Network.DEMO: "https://api-demo.bybit.com",
}
MAX_CLOCK_SKEW_MS = 1000  # Bybit refuses requests outside recv_window (5 s); warn well before


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def bybit_rest_url(settings: Settings) -> str:
    return (settings.bybit.base_url or BYBIT_URLS[settings.bybit.network]).rstrip("/")


def check_data_dir(path: Path) -> Check:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data dir", False, f"{path}: not writable ({exc.strerror})")
    return Check("data dir", True, str(path))


def check_keys() -> list[Check]:
    from lightspeed_cli.secrets import SecretName, SecretSource, secret_status

    out = []
    for name, source in secret_status():
        if name is SecretName.LICENSE_LEASE:
            continue
        missing = source is SecretSource.NONE
        required = name in (SecretName.BYBIT_API_KEY, SecretName.BYBIT_API_SECRET)
        detail = f"from {source.value}" if not missing else "not set"
        if missing and required:
            detail += ": run `lightspeed keys set bybit`"
        out.append(Check(f"secret {name.value}", not (missing and required), detail))
    return out


def check_license(settings: Settings) -> Check:
    from lightspeed_cli.license.client import LicenseClient
    from lightspeed_cli.license.gate import license_summary

    state = LicenseClient(settings.license, settings.storage.resolved_data_dir()).state()
    return Check("license", state.valid and state.can_open, license_summary(state))


def check_binance(settings: Settings, timeout: float) -> Check:
    url = settings.binance.base_url.rstrip("/")
    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        return Check("Binance reachable", False, f"{url}: {type(exc).__name__}")
    return Check("Binance reachable", True, f"{url}: HTTP {resp.status_code}")


def check_bybit(settings: Settings, timeout: float) -> list[Check]:
    url = bybit_rest_url(settings)
    try:
        sent = time.time() * 1000
        resp = httpx.get(f"{url}/v5/market/time", timeout=timeout)
        received = time.time() * 1000
        server_ms = int(resp.json()["time"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return [Check("Bybit reachable", False, f"{url}: {type(exc).__name__}")]
    skew = server_ms - (sent + received) / 2
    return [
        Check("Bybit reachable", True, f"{url}: {received - sent:.0f} ms round trip"),
        Check(
            "clock skew vs Bybit",
            abs(skew) <= MAX_CLOCK_SKEW_MS,
            f"{skew:+.0f} ms"
            + ("" if abs(skew) <= MAX_CLOCK_SKEW_MS else ": sync the clock (NTP)"),
        ),
    ]


def run_doctor(ctx: typer.Context, timeout: float = 5.0) -> int:
    checks: list[Check] = []
    path = config_path(ctx)
    try:
        settings = load_settings(path)
        checks.append(Check("config", True, f"{path}: valid, {len(settings.traders)} trader(s)"))
    except ConfigError as exc:
        checks.append(Check("config", False, str(exc).splitlines()[0]))
        settings = load_settings(path, missing_ok=True) if not path.exists() else Settings()
    checks.extend(check_keys())
    checks.append(check_license(settings))
    checks.append(check_binance(settings, timeout))
    checks.extend(check_bybit(settings, timeout))
    checks.append(check_data_dir(settings.storage.resolved_data_dir()))

    table = Table(title="lightspeed doctor")
    table.add_column("check")
    table.add_column("")
    table.add_column("detail")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
    console.print(table)
    failed = [c for c in checks if not c.ok]
    if failed:
        console.print(f"[red]{len(failed)} problem(s)[/]: fix them before `lightspeed run`.")
        return 1
    console.print("[green]all good[/]")
    return 0
