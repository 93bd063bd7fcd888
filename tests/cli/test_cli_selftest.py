"""`lightspeed selftest` end to end against the fake Bybit (a real HTTP server; the real ccxt
client): every check PASSes on the default fake, and each real Bybit behaviour switched on makes
the check that is about it report what it saw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cli_helpers import Cli, Run

from lightspeed_cli.execution.selftest import Check
from lightspeed_cli.sim.bybit import FakeBybit, Fault

KEY, SECRET = "selftest-key-AbC123", "selftest-secret-XyZ789"


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit.running(api_key=KEY, api_secret=SECRET) as server:
        yield server


@pytest.fixture
def on_fake(fake: FakeBybit, monkeypatch: pytest.MonkeyPatch) -> FakeBybit:
    """Keys in the environment (as on a VPS) and bybit.base_url pointed at the fake."""
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_KEY", KEY)
    monkeypatch.setenv("LIGHTSPEED_BYBIT_API_SECRET", SECRET)
    monkeypatch.setenv("LIGHTSPEED_BYBIT__BASE_URL", fake.url)
    # round trips are judged against recv_window: a wide one keeps a loaded CI machine's slow
    # request from turning the round-trip check into a WARN (no timing asserts in tests)
    monkeypatch.setenv("LIGHTSPEED_BYBIT__RECV_WINDOW_MS", "60000")
    return fake


def selftest(cli: Cli, tmp_path: Path, *args: str, input: str | None = None) -> tuple[Run, dict]:
    out = tmp_path / "report.json"
    run = cli("selftest", "--out", str(out), "--listing-timeout", "3", *args, input=input)
    report = json.loads(out.read_text()) if out.exists() else {}
    return run, report


def statuses(report: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def detail(report: dict, check: Check) -> str:
    return next(c["detail"] for c in report["checks"] if c["name"] == check.value)


def assert_flat(fake: FakeBybit) -> None:
    assert fake.ledger.open_positions() == []


def test_every_check_passes_on_a_faithful_bybit(cli: Cli, tmp_path: Path, on_fake) -> None:
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout) == report  # --json prints what it saves
    assert set(statuses(report).values()) == {"PASS"}, statuses(report)
    assert [c["name"] for c in report["checks"]] == [c.value for c in Check]
    assert set(report) == {  # the keys the README documents
        "version",
        "network",
        "url",
        "symbol",
        "started_at",
        "finished_at",
        "checks",
        "measurements",
        "left_open",
    }
    assert set(report["measurements"]) == {"clock_skew_ms", "listed_ms", "round_trip_ms"}
    assert report["network"] == "testnet" and report["symbol"] == "BTCUSDT"
    assert report["url"] == on_fake.url and report["left_open"] is False
    # one open and one reduce-only close went to Bybit; the duplicate was refused with 110072
    opened, closed = on_fake.orders
    assert (opened.side, opened.reduce_only, closed.side, closed.reduce_only) == (
        "Buy",
        False,
        "Sell",
        True,
    )
    assert opened.qty == Decimal("0.001")  # BTCUSDT's minimum on the fake
    assert [r[1] for r in on_fake.rejections] == [110072]
    assert on_fake.rejections[0][0] == opened.order_link_id
    assert_flat(on_fake)
    assert on_fake.leverage["BTCUSDT"] == 1
    # the restarted bot's leverage was refused "not modified" (110043) and taken as success
    assert on_fake.calls("/v5/position/set-leverage") == 2
    listed = report["measurements"]["listed_ms"]
    assert set(listed) == {"realtime", "history"}
    assert set(report["measurements"]["round_trip_ms"]) >= {"public_p50", "private_max"}
    for c in report["checks"]:
        assert c["status"] == "PASS" and c["detail"]


def test_table_output_and_report_in_the_data_dir(cli: Cli, on_fake, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data_dir}"\n')
    run = cli("--config", str(cfg), "selftest", "--network", "demo")
    assert run.exit_code == 0, run.output
    assert "every check passed" in run.stdout and "PASS" in run.stdout
    saved = list((data_dir / "selftest").glob("selftest-demo-*.json"))
    assert len(saved) == 1 and str(saved[0]) in run.stderr.replace("\n", "")
    assert saved[0].stat().st_mode & 0o777 == 0o600
    assert json.loads(saved[0].read_text())["network"] == "demo"


def test_no_secret_in_output_or_report(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_api_key(withdraw=True)  # a WARN whose detail quotes the key's permissions
    for args in (("--json",), ()):
        run, report = selftest(cli, tmp_path, "--network", "testnet", *args)
        text = run.output + json.dumps(report)
        assert KEY not in text and SECRET not in text
    # a refused key: the error text (Bybit echoes the signed string) carries no secret either
    on_fake.api_key = "another-key"
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    assert statuses(report)[Check.KEY.value] == "FAIL"
    assert "testnet.bybit.com" in detail(report, Check.KEY)
    assert KEY not in run.output + json.dumps(report) and SECRET not in run.output


def test_a_key_that_may_withdraw_is_a_warning(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_api_key(withdraw=True)
    run, report = selftest(cli, tmp_path, "--network", "testnet")
    assert run.exit_code == 0, run.output
    assert statuses(report)[Check.KEY.value] == "WARN"
    assert "WITHDRAW" in detail(report, Check.KEY)


def test_read_only_key_fails_and_nothing_is_sent(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_api_key(read_only=True)
    run, report = selftest(cli, tmp_path, "--network", "testnet")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.KEY.value] == "FAIL"
    assert got[Check.ORDER.value] == "SKIP" and got[Check.FLAT.value] == "PASS"
    assert on_fake.orders == [] and on_fake.calls("/v5/order/create") == 0


def test_bybit_accepting_a_duplicate_link_id_fails_and_still_ends_flat(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    on_fake.accept_duplicate_link_ids()
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.DUPLICATE.value] == "FAIL", got
    assert "ACCEPTED a second order" in detail(report, Check.DUPLICATE)
    assert [c for c, s in got.items() if s == "FAIL"] == [Check.DUPLICATE.value]
    # the double open was closed in full by the reduce-only close
    assert len(on_fake.orders) == 3 and on_fake.orders[-1].qty == Decimal("0.002")
    assert_flat(on_fake)
    assert got[Check.FLAT.value] == "PASS" and report["left_open"] is False


def test_orders_listed_late_are_measured(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.hide_orders(1.0)
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    assert statuses(report)[Check.LISTED.value] == "PASS"
    assert statuses(report)[Check.ORDER.value] == "PASS"
    assert "not listed yet" in detail(report, Check.ORDER)
    listed = report["measurements"]["listed_ms"]
    assert min(listed.values()) >= 1000  # hidden for 1 s after the create
    assert_flat(on_fake)


def test_orders_in_history_only(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.history_only()
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    text = detail(report, Check.LISTED)
    assert "realtime: not within 3 s" in text and "history after" in text
    assert set(report["measurements"]["listed_ms"]) == {"history"}


def test_orders_never_listed_fail_and_the_account_is_left_flat(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    on_fake.hide_orders(30.0)
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--listing-timeout", "1")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.LISTED.value] == "FAIL" and got[Check.FLAT.value] == "PASS"
    assert "closed by the clean-up" in detail(report, Check.FLAT)
    assert_flat(on_fake)


def test_ioc_market_order_cancelled_without_fill_fails_the_fill_check(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    # a market order is an IOC limit at a protection price: without liquidity it ends
    # Cancelled; here nothing of the smallest order fills, so nothing is held afterwards
    on_fake.partial_fills("0.1", orders=1, status="Cancelled")
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.ORDER.value] == "PASS" and got[Check.FILL.value] == "FAIL"
    assert "canceled without a fill" in detail(report, Check.FILL)
    assert got[Check.CLOSE.value] == "SKIP" and got[Check.FLAT.value] == "PASS"
    assert len(on_fake.orders) == 1
    assert_flat(on_fake)


def test_cursor_on_the_last_page_counts_each_position_once(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    on_fake.paging(page_size=1, last_cursor="repeat")
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    text = detail(report, Check.PAGING)
    assert "a row came again" in text and "the bot read 1 position" in text


def test_multi_coin_wallet_reports_total_equity(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_coins({"USDC": "90000"})
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    assert "totalEquity 100000" in detail(report, Check.EQUITY)


def test_held_symbol_is_never_touched(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.hand_order("BTCUSDT", "Buy", "0.01")
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 0, run.output
    assert report["symbol"] == "ETHUSDT"
    btc = [p for p in on_fake.ledger.open_positions() if p.symbol == "BTCUSDT"]
    assert [p.size for p in btc] == [Decimal("0.01")]
    assert all(o.symbol == "ETHUSDT" for o in on_fake.orders[1:])


def test_position_mode_mismatch_fails_before_any_order(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_position_mode(True)
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.MARKETS.value] == "PASS" and got[Check.POSITION_MODE.value] == "FAIL"
    assert "account_mode" in detail(report, Check.POSITION_MODE)
    assert on_fake.orders == []


def test_unfunded_account_fails_before_any_order(cli: Cli, tmp_path: Path, on_fake) -> None:
    on_fake.set_balance("0")
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    assert statuses(report)[Check.EQUITY.value] == "FAIL"
    assert on_fake.orders == []


def test_mainnet_needs_the_flag_and_a_confirmation(cli: Cli, tmp_path: Path, on_fake) -> None:
    run, report = selftest(cli, tmp_path, "--network", "mainnet")
    assert run.exit_code == 2 and "--i-understand-real-money" in run.stderr
    run, report = selftest(
        cli, tmp_path, "--network", "mainnet", "--i-understand-real-money", input="n\n"
    )
    assert run.exit_code == 2 and "nothing was sent" in run.stderr
    run, report = selftest(cli, tmp_path, "--network", "mainnet", "--i-understand-real-money")
    assert run.exit_code == 2  # no answer (stdin closed) is no
    assert on_fake.calls("/v5/market/time") == 0 and not report
    run, report = selftest(
        cli, tmp_path, "--network", "mainnet", "--i-understand-real-money", input="y\n"
    )
    assert run.exit_code == 0, run.output
    assert report["network"] == "mainnet" and len(on_fake.orders) == 2


def test_usage_errors_exit_2(cli: Cli, tmp_path: Path, fake: FakeBybit, monkeypatch) -> None:
    run = cli("selftest", "--network", "moon")
    assert run.exit_code == 2 and "testnet, demo, mainnet" in run.stderr
    monkeypatch.setenv("LIGHTSPEED_BYBIT__BASE_URL", fake.url)
    run = cli("selftest", "--network", "testnet")  # no keys anywhere
    assert run.exit_code == 2 and "keys set bybit" in run.stderr
    assert fake.calls("/v5/market/time") == 0


@pytest.mark.parametrize("url", ["https://api.bybit.com", "https://api.bytick.com/"])
def test_a_base_url_elsewhere_never_takes_a_testnet_selftest(
    cli: Cli, tmp_path: Path, on_fake, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LIGHTSPEED_BYBIT__BASE_URL", url)  # mainnet hosts
    run, report = selftest(cli, tmp_path, "--network", "testnet")
    assert run.exit_code == 2 and "would send its orders there" in run.stderr
    assert not report
    monkeypatch.setenv("LIGHTSPEED_BYBIT__BASE_URL", on_fake.url)
    run, report = selftest(cli, tmp_path, "--network", "testnet")
    assert run.exit_code == 0, run.output


def test_base_url_problem() -> None:
    from lightspeed_cli.cli.selftest_cmd import base_url_problem
    from lightspeed_cli.config.choices import Network
    from lightspeed_cli.config.sections import BybitSettings

    def problem(url: str, network: Network) -> str:
        return base_url_problem(BybitSettings(base_url=url, network=network))

    assert problem("", Network.TESTNET) == ""
    assert problem("https://api-testnet.bybit.com/", Network.TESTNET) == ""
    assert problem("https://api-demo.bybit.com", Network.DEMO) == ""
    assert problem("http://localhost:8080", Network.DEMO) == ""
    assert problem("https://api.bybit.com", Network.MAINNET) == ""  # confirmed separately
    assert "api-demo.bybit.com" in problem("https://api-testnet.bybit.com", Network.DEMO)
    assert problem("https://api.bybit.com", Network.TESTNET)


def test_a_position_that_cannot_be_closed_is_reported_loudly(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    # the open goes through (a zero-second delay processes it), every create after it fails
    on_fake.inject("/v5/order/create", Fault.delayed(0))
    on_fake.inject("/v5/order/create", Fault.error(10001, "params error"), times=20)
    run, report = selftest(cli, tmp_path, "--network", "testnet")
    assert run.exit_code == 1
    assert "A POSITION WAS LEFT OPEN" in run.stdout
    got = statuses(report)
    assert got[Check.CLOSE.value] == "FAIL" and got[Check.FLAT.value] == "FAIL"
    assert report["left_open"] is True
    assert "POSITION LEFT OPEN: BTCUSDT 0.001 long" in detail(report, Check.FLAT)
    assert [p.size for p in on_fake.ledger.open_positions()] == [Decimal("0.001")]


def test_the_clean_up_closes_a_doubled_position_in_market_order_sized_parts(
    cli: Cli, tmp_path: Path, on_fake
) -> None:
    # Bybit takes the duplicate (0.002 held), and one market order may close 0.001 at most:
    # the close check's single order is refused, the clean-up closes it in two parts
    on_fake.accept_duplicate_link_ids()
    on_fake.set_lot_size("BTCUSDT", maxMktOrderQty="0.001")
    run, report = selftest(cli, tmp_path, "--network", "testnet", "--json")
    assert run.exit_code == 1
    got = statuses(report)
    assert got[Check.DUPLICATE.value] == "FAIL" and got[Check.CLOSE.value] == "FAIL"
    assert got[Check.FLAT.value] == "PASS" and report["left_open"] is False
    assert "closed by the clean-up" in detail(report, Check.FLAT)
    assert [o.qty for o in on_fake.orders if o.reduce_only] == [Decimal("0.001")] * 2
    assert_flat(on_fake)
