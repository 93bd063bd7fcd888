"""`lightspeed selftest`: the bot's assumptions about Bybit, checked on the user's own account."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lightspeed_cli.cli.common import EXIT_USAGE, console, err_console, fail, get_settings
from lightspeed_cli.cli.output import json_option

if TYPE_CHECKING:  # settings pulls in pydantic-settings: kept out of `--help`
    from lightspeed_cli.config.sections import BybitSettings
    from lightspeed_cli.execution.selftest import SelftestReport

REAL_MONEY_FLAG = "--i-understand-real-money"
NETWORKS = ("testnet", "demo", "mainnet")
_STYLE = {"PASS": "green", "FAIL": "bold red", "WARN": "yellow", "SKIP": "dim"}


def register(app: typer.Typer) -> None:
    @app.command()
    def selftest(
        ctx: typer.Context,
        network_name: str = typer.Option(
            ...,
            "--network",
            metavar="testnet|demo|mainnet",
            help="testnet or demo (your keys for that network); mainnet needs"
            f" {REAL_MONEY_FLAG} and a typed confirmation.",
        ),
        real_money: bool = typer.Option(
            False, REAL_MONEY_FLAG, help="Allow --network mainnet (real orders, real fees)."
        ),
        symbol: list[str] = typer.Option(
            [],
            "--symbol",
            metavar="SYMBOL",
            help="Symbol to trade, tried in order (default BTCUSDT, then ETHUSDT); one you"
            " hold a position in is never touched.",
        ),
        leverage: int = typer.Option(1, min=1, max=100, help="Leverage set for the test order."),
        listing_timeout: float = typer.Option(
            15.0, min=0.5, max=120, help="Seconds an order may take to show in Bybit's lists."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Where to save the JSON report (default: the data dir)."
        ),
        as_json: bool = json_option(),
    ) -> None:
        """Open and close the smallest order on your own Bybit account and check, one by one,
        what the bot assumes about Bybit; PASS / FAIL per check, saved as JSON for a bug report.

        Exit 0: every check passed (WARN and SKIP allowed); 1: a check FAILED (or a position
        was left open: the last check says so); 2: a config or usage problem.
        """
        from lightspeed_cli.config.choices import Network
        from lightspeed_cli.config.logsetup import register_secret
        from lightspeed_cli.config.secrets import SecretName, get_secret

        if network_name.lower() not in NETWORKS:
            fail(f"--network {network_name}: one of {', '.join(NETWORKS)}", EXIT_USAGE)
        network = Network(network_name.lower())
        if network is Network.MAINNET:
            _confirm_mainnet(real_money)
        settings = get_settings(ctx, missing_ok=True)

        bybit = settings.bybit.model_copy(update={"network": network})
        if problem := base_url_problem(bybit):
            fail(problem, EXIT_USAGE)
        key = get_secret(SecretName.BYBIT_API_KEY)
        secret = get_secret(SecretName.BYBIT_API_SECRET)
        if key is None or secret is None:
            fail(
                f"no Bybit API key/secret found: run `lightspeed keys set bybit` with your"
                f" {network.value} keys",
                EXIT_USAGE,
            )
        register_secret(key.value)
        register_secret(secret.value)
        report = _run(bybit, key.value, secret.value, symbol, leverage, listing_timeout)
        path = out or _default_path(settings.storage.resolved_data_dir(), network.value)
        saved = _save(report, path)
        if as_json:
            from lightspeed_cli.cli.output import emit_json

            emit_json(report.model_dump(mode="json"))
        else:
            _print(report)
        where = f"report saved to {path}" if saved is None else f"report NOT saved: {saved}"
        err_console.print(where, highlight=False, soft_wrap=True)
        raise typer.Exit(0 if report.ok and saved is None else 1)


def base_url_problem(bybit: BybitSettings) -> str:
    """A `bybit.base_url` in the config replaces the network's URL: one that is neither that
    network's own URL nor a local fake could make `--network testnet` trade on mainnet."""
    from urllib.parse import urlsplit

    from lightspeed_cli.cli.doctor import BYBIT_URLS
    from lightspeed_cli.config.choices import Network

    url = bybit.base_url.rstrip("/")
    if not url or bybit.network is Network.MAINNET or url == BYBIT_URLS[bybit.network]:
        return ""
    if urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1"):
        return ""
    return (
        f"bybit.base_url is {url}: selftest --network {bybit.network.value} would send its"
        f" orders there, not to {BYBIT_URLS[bybit.network]}; remove bybit.base_url from the"
        " config (or LIGHTSPEED_BYBIT__BASE_URL) for this run"
    )


def _confirm_mainnet(real_money: bool) -> None:
    if not real_money:
        fail(
            "selftest on mainnet sends real orders: pass --network testnet or demo, or add"
            f" {REAL_MONEY_FLAG} (and confirm when asked)",
            EXIT_USAGE,
        )
    err_console.print(
        "[bold red]MAINNET[/]: this opens and closes the smallest real order (real fees) on"
        " your Bybit account.",
        highlight=False,
    )
    try:
        confirmed = typer.confirm("Send real orders on mainnet?", default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        fail("not confirmed: nothing was sent", EXIT_USAGE)


def _run(
    bybit: BybitSettings,
    key: str,
    secret: str,
    symbols: list[str],
    leverage: int,
    listing_timeout: float,
) -> SelftestReport:
    from lightspeed_cli.cli.doctor import BYBIT_URLS
    from lightspeed_cli.execution.bybit import BybitBroker
    from lightspeed_cli.execution.selftest import Selftest, SelftestOptions
    from lightspeed_cli.runner import run_async

    options = SelftestOptions(leverage=leverage, listing_timeout=listing_timeout)
    if symbols:
        options = SelftestOptions(
            symbols=tuple(s.upper() for s in symbols),
            leverage=leverage,
            listing_timeout=listing_timeout,
        )
    test = Selftest(
        lambda: BybitBroker(bybit, api_key=key, api_secret=secret),
        network=bybit.network.value,
        url=(bybit.base_url or BYBIT_URLS[bybit.network]).rstrip("/"),
        options=options,
    )
    return run_async(test.run())


def _default_path(data_dir: Path, network: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "selftest" / f"selftest-{network}-{stamp}.json"


def _save(report: SelftestReport, path: Path) -> str | None:
    """Write the report 0600; the reason it could not be written, or None."""
    from lightspeed_cli.cli.output import to_json
    from lightspeed_cli.config.atomicfile import write_atomic

    try:
        write_atomic(path, to_json(report.model_dump(mode="json")) + "\n", force_mode=True)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    return None


def _print(report: SelftestReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"lightspeed selftest --network {report.network} ({report.url})")
    table.add_column("check")
    table.add_column("")
    table.add_column("ms", justify="right")
    table.add_column("detail")
    for c in report.checks:
        ms = "" if c.ms is None else f"{c.ms:.0f}"
        style = _STYLE[c.status.value]
        table.add_row(c.name, f"[{style}]{c.status.value}[/]", ms, escape(c.detail))
    console.print(table)
    if report.left_open:
        console.print("[bold red]A POSITION WAS LEFT OPEN: close it on Bybit now.[/]")
    elif report.ok:
        console.print("[green]every check passed[/]")
    else:
        failed = sum(c.status.value == "FAIL" for c in report.checks)
        console.print(f"[red]{failed} check(s) failed[/]: attach the JSON report to a bug report.")
