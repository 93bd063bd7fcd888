"""`lightspeed doctor`: every precondition of a live run, checked once, with the fix for each."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from lightspeed_cli.cli.common import EXIT_USAGE, config_named, config_path, console, fail
from lightspeed_cli.config.choices import LeaderboardApi, Network
from lightspeed_cli.config.sections import TraderSettings
from lightspeed_cli.config.settings import ConfigError, Settings, load_settings, validate_file_data
from lightspeed_cli.models import FetchResult, FetchStatus, SourceKind

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
    from lightspeed_cli.config.datadir import prepare_data_dir

    try:
        prepare_data_dir(path)  # 0700, as `run` makes it
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("data dir", False, f"{path}: not writable ({exc.strerror})")
    return Check("data dir", True, str(path))


MIN_FREE_BYTES = 50 << 20  # the journal grows by kilobytes a day; under this, a disk is nearly full


def check_free_space(data_dir: Path) -> Check:
    from lightspeed_cli.config.datadir import free_bytes

    free = free_bytes(data_dir)
    if free is None:
        return Check("free space", False, f"{data_dir}: cannot tell (no such folder?)")
    detail = f"{free / (1 << 20):.0f} MiB free on the data dir's disk"
    if free < MIN_FREE_BYTES:
        return Check("free space", False, f"{detail}: the journal soon cannot be written")
    return Check("free space", True, detail)


def check_journal(path: Path) -> Check:
    """As `run` checks it at start (PRAGMA quick_check); an unusable disk is not damage."""
    from lightspeed_cli.config.datadir import filesystem_problem
    from lightspeed_cli.journal.integrity import RECOVER_ACTION, check_file

    if not path.exists():
        return Check("journal", True, f"{path}: none yet (`run` creates it)")
    if path.is_dir():
        return Check("journal", False, f"{path} is a directory, not a journal: move it away")
    problems = check_file(path)
    if not problems:
        return Check("journal", True, f"{path}: sound (quick_check)")
    disk = filesystem_problem(path.parent)
    if disk:
        return Check("journal", False, f"{path}: cannot be checked: {disk} (not damage)")
    return Check("journal", False, f"{path} is damaged: {problems[0]}. {RECOVER_ACTION}")


def check_keys(settings: Settings, paper: bool) -> list[Check]:
    """The Bybit pair (not for paper) and the Binance session when a leaderboard trader needs it.

    A secret nothing needs is listed as ok either way, so the table still says where it is.
    """
    from lightspeed_cli.config.secrets import SecretName, SecretSource, secret_status

    needing_session = [
        t.id
        for t in settings.traders
        if t.enabled
        and t.source is SourceKind.LEADERBOARD
        and settings.binance.leaderboard_api is LeaderboardApi.V2_PRIVATE
    ]
    required = {SecretName.BINANCE_SESSION: bool(needing_session)}
    for name in (SecretName.BYBIT_API_KEY, SecretName.BYBIT_API_SECRET):
        required[name] = not paper
    out = []
    for name, source in secret_status():
        if name not in required or (paper and not required[name]):
            continue
        missing = source is SecretSource.NONE
        detail = f"from {source.value}" if not missing else "not set"
        if missing and required[name]:
            if name is SecretName.BINANCE_SESSION:
                detail += (
                    f": leaderboard trader(s) {', '.join(needing_session)} cannot be read"
                    " without it; run `lightspeed keys set binance-session`"
                )
            else:
                detail += ": run `lightspeed keys set bybit`"
        out.append(Check(f"secret {name.value}", not (missing and required[name]), detail))
    return out


def check_license(settings: Settings) -> Check:
    from lightspeed_cli.cli.common import license_state
    from lightspeed_cli.license.gate import license_summary

    state = license_state(settings)
    return Check("license", state.valid and state.can_open, license_summary(state))


def check_binance(settings: Settings, timeout: float) -> Check:
    """Read the first followed trader once, as `run` would; with none, GET the base URL.

    Only an answer the bot can use counts: an HTTP error status (404 from a wrong base_url, 403
    from a geo block) is a FAIL, not "reachable".
    """
    url = settings.binance.base_url.rstrip("/")
    trader = next((t for t in settings.traders if t.enabled), None)
    if trader is not None:
        result = asyncio.run(_fetch_once(settings, trader, timeout))
        if result.status is FetchStatus.ERROR:
            return Check("Binance reachable", False, f"{url}: trader {trader.id}: {result.reason}")
        shown = "hides its positions" if result.status is FetchStatus.HIDDEN else "read"
        return Check("Binance reachable", True, f"{url}: trader {trader.id} {shown}")
    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        return Check("Binance reachable", False, f"{url}: {type(exc).__name__}")
    if resp.is_error:
        return Check("Binance reachable", False, f"{url}: HTTP {resp.status_code}")
    return Check("Binance reachable", True, f"{url}: HTTP {resp.status_code}")


async def _fetch_once(settings: Settings, trader: TraderSettings, timeout: float) -> FetchResult:
    from lightspeed_cli.config.secrets import SecretName, get_secret
    from lightspeed_cli.sources.binance import BinanceSource

    session = get_secret(SecretName.BINANCE_SESSION)
    polling = settings.polling.model_copy(update={"timeout_seconds": timeout, "retries": 0})
    async with BinanceSource(
        settings.binance, polling, session=session.value if session else None
    ) as source:
        return await source.fetch(trader)


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


def run_checks(ctx: typer.Context, *, paper: bool, timeout: float) -> list[Check]:
    """Every check a live run needs; with `paper`, only what `run --paper` needs (no Bybit
    keys, no license, no clock skew: paper fills use Bybit's public prices only)."""
    from lightspeed_cli.runner import journal_path

    checks: list[Check] = []
    path = config_path(ctx)
    try:
        settings = load_settings(path)
        checks.append(Check("config", True, f"{path}: valid, {len(settings.traders)} trader(s)"))
    except ConfigError as exc:
        if config_named(ctx) and not path.exists():  # a typo in --config is no "defaults"
            fail(str(exc), EXIT_USAGE)
        checks.append(Check("config", False, str(exc).splitlines()[0]))
        settings = _fallback_settings(path)
    checks.extend(check_keys(settings, paper))
    if not paper:
        checks.append(check_license(settings))
    checks.append(check_binance(settings, timeout))
    bybit = check_bybit(settings, timeout)
    checks.extend(bybit[:1] if paper else bybit)
    checks.append(check_data_dir(settings.storage.resolved_data_dir()))
    checks.append(check_free_space(settings.storage.resolved_data_dir()))
    checks.append(check_journal(journal_path(settings, paper)))
    return checks


def _fallback_settings(path: Path) -> Settings:
    """What the other checks use when the config is unusable: the environment on defaults if
    only the (default) file is missing, else the bare defaults (the environment is at fault)."""
    try:
        return load_settings(path, missing_ok=True)
    except ConfigError:
        settings = validate_file_data({}, str(path))
        settings.storage = settings.storage.anchored(path.parent)
        return settings


def run_doctor(
    ctx: typer.Context, *, paper: bool = False, as_json: bool = False, timeout: float = 5.0
) -> int:
    checks = run_checks(ctx, paper=paper, timeout=timeout)
    failed = [c for c in checks if not c.ok]
    if as_json:
        from lightspeed_cli.cli.output import emit_json

        emit_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
        return 1 if failed else 0
    table = Table(title="lightspeed doctor" + (" --paper" if paper else ""))
    table.add_column("check")
    table.add_column("")
    table.add_column("detail")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", escape(c.detail))
    console.print(table)
    if failed:
        run = "lightspeed run --paper" if paper else "lightspeed run"
        console.print(f"[red]{len(failed)} problem(s)[/]: fix them before `{run}`.")
        return 1
    console.print("[green]all good[/]")
    return 0
