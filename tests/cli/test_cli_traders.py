"""`lightspeed traders add|remove|list|check` editing [[traders]] in the config file."""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest
import typer
from cli_helpers import Cli, assert_one_line_error, digest

PORTFOLIO = "3803470589839557376"
PORTFOLIO_2 = "4012345678901234567"
UID = "0123456789ABCDEF0123456789abcdef"

BASE = """\
# followed traders below
[safety]
max_leverage = 10  # keep low

[[traders]]
id = "4012345678901234567"  # the first one
label = "first"
"""


def traders(path: Path) -> list[dict]:
    return tomllib.loads(path.read_text(encoding="utf-8")).get("traders", [])


@pytest.fixture
def base(cfg: Path) -> Path:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(BASE, encoding="utf-8")
    return cfg


def test_add_guesses_the_source_and_keeps_comments(cli: Cli, base: Path) -> None:
    run = cli("--config", str(base), "traders", "add", PORTFOLIO, "--label", "alice")
    assert run.exit_code == 0, run.output
    run = cli("--config", str(base), "traders", "add", UID, "--label", "bob")
    assert run.exit_code == 0, run.output
    assert traders(base)[1:] == [
        {"id": PORTFOLIO, "source": "copytrade", "label": "alice"},
        {"id": UID, "source": "leaderboard", "label": "bob"},
    ]
    text = base.read_text(encoding="utf-8")
    assert text.startswith(BASE)  # comments and the existing entry untouched


def test_add_with_sizing_override(cli: Cli, base: Path) -> None:
    run = cli(
        "--config", str(base), "traders", "add", PORTFOLIO,
        "--sizing-mode", "fixed_margin", "--sizing-value", "25.5", "--leverage", "3",
        "--max-order-notional", "500", "--disabled",
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    entry = traders(base)[-1]
    assert entry["enabled"] is False
    assert entry["sizing"] == {
        "mode": "fixed_margin",
        "value": 25.5,
        "leverage": 3,
        "max_order_notional_usdt": 500,
    }


def test_ratio_shorthand(cli: Cli, base: Path) -> None:
    assert cli("--config", str(base), "traders", "add", PORTFOLIO, "--ratio", "0.5").exit_code == 0
    assert traders(base)[-1]["sizing"] == {"mode": "ratio", "value": 0.5}


def test_add_creates_the_missing_default_file(cli: Cli, default_config: Path) -> None:
    run = cli("traders", "add", PORTFOLIO, "--label", "alice")
    assert run.exit_code == 0, run.output
    assert traders(default_config) == [{"id": PORTFOLIO, "source": "copytrade", "label": "alice"}]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([PORTFOLIO_2], ["already followed"]),
        (["123"], ["traders[1]", "10+ digits"]),
        (["not-an-id"], ["cannot tell its source", "--source"]),
        ([UID, "--source", "copytrade"], ["lead portfolio id"]),
        ([PORTFOLIO, "--source", "twitter"], ["source", "'leaderboard'", "'copytrade'"]),
        ([PORTFOLIO, "--source", "leaderboard"], ["32-hex-char encryptedUid"]),
        ([PORTFOLIO, "--sizing-mode", "kelly"], ["sizing.mode", "'equity_pct'"]),
        ([PORTFOLIO, "--sizing-value", "-1"], ["sizing.value", "greater than 0"]),
        ([PORTFOLIO, "--sizing-value", "lots"], ["sizing.value", "decimal number"]),
        ([PORTFOLIO, "--leverage", "500"], ["sizing.leverage", "200"]),
        ([PORTFOLIO, "--ratio", "0.5", "--sizing-mode", "equity_pct"], ["--ratio"]),
        (
            [PORTFOLIO, "--sizing-mode", "equity_pct", "--sizing-value", "150"],
            ["0 < value <= 100"],
        ),
    ],
)
def test_bad_add_leaves_the_file_unchanged(
    cli: Cli, base: Path, args: list[str], words: list[str]
) -> None:
    before = digest(base)
    run = cli("--config", str(base), "traders", "add", *args)
    assert_one_line_error(run, *words)
    assert digest(base) == before


def test_add_to_inline_trader_list(cli: Cli, cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'traders = [{{id = "{PORTFOLIO_2}"}}]\n', encoding="utf-8")
    assert cli("--config", str(cfg), "traders", "add", PORTFOLIO, "--ratio", "2").exit_code == 0
    assert [t["id"] for t in traders(cfg)] == [PORTFOLIO_2, PORTFOLIO]
    assert traders(cfg)[1]["sizing"] == {"mode": "ratio", "value": 2}


def test_remove(cli: Cli, base: Path) -> None:
    assert cli("--config", str(base), "traders", "add", PORTFOLIO).exit_code == 0
    run = cli("--config", str(base), "traders", "remove", PORTFOLIO_2)
    assert run.exit_code == 0, run.output
    assert [t["id"] for t in traders(base)] == [PORTFOLIO]
    assert "# followed traders below" in base.read_text(encoding="utf-8")
    assert cli("--config", str(base), "traders", "remove", PORTFOLIO).exit_code == 0
    assert traders(base) == []
    assert "max_leverage = 10  # keep low" in base.read_text(encoding="utf-8")


def test_remove_unknown(cli: Cli, base: Path) -> None:
    before = digest(base)
    run = cli("--config", str(base), "traders", "remove", PORTFOLIO)
    assert_one_line_error(run, str(base), f"no trader '{PORTFOLIO}'", PORTFOLIO_2)
    assert digest(base) == before


def test_remove_with_no_file(cli: Cli, cfg: Path) -> None:
    assert_one_line_error(cli("--config", str(cfg), "traders", "remove", PORTFOLIO), str(cfg))


def test_list(cli: Cli, base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    cli("--config", str(base), "traders", "add", PORTFOLIO, "--label", "alice", "--ratio", "0.5")
    run = cli("--config", str(base), "traders", "list")
    assert run.exit_code == 0, run.output
    rows = [
        [c.strip() for c in line.split("│") if c.strip()]
        for line in run.stdout.splitlines()
        if line.startswith("│")
    ]
    assert rows == [
        [PORTFOLIO_2, "copytrade", "first", "yes", "ratio 0.1 (global)"],
        [PORTFOLIO, "copytrade", "alice", "yes", "ratio 0.5 (own)"],
    ]


def test_list_empty_and_missing(cli: Cli, cfg: Path) -> None:
    assert_one_line_error(cli("--config", str(cfg), "traders", "list"), str(cfg), "no config")
    cfg.parent.mkdir(parents=True)
    cfg.write_text("", encoding="utf-8")
    run = cli("--config", str(cfg), "traders", "list")
    assert run.exit_code == 0 and "No traders" in run.stdout


def test_check_not_available_yet(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lightspeed_cli.cli.traders_check", None)
    run = cli("traders", "check", PORTFOLIO)
    assert run.exit_code == 1
    assert "not available yet" in run.stderr
    assert "Traceback" not in run.output


def test_check_delegates_to_the_check_module(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, str]] = []
    fake = types.ModuleType("lightspeed_cli.cli.traders_check")

    def check(ctx: typer.Context, trader_id: str, **options: object) -> None:
        assert options == {"source": None, "as_json": False}
        calls.append((ctx.find_root().obj, trader_id))
        typer.echo("checked")

    fake.check = check  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lightspeed_cli.cli.traders_check", fake)
    run = cli("--config", "/x/c.toml", "traders", "check", PORTFOLIO)
    assert run.exit_code == 0, run.output
    assert run.stdout == "checked\n"
    assert calls == [({"config": Path("/x/c.toml")}, PORTFOLIO)]


def test_check_passes_the_source_on(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from lightspeed_cli.models import SourceKind

    calls: list[object] = []
    fake = types.ModuleType("lightspeed_cli.cli.traders_check")
    fake.check = lambda ctx, trader_id, source=None, as_json=False: calls.append(source)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lightspeed_cli.cli.traders_check", fake)
    assert cli("traders", "check", UID, "--source", "leaderboard").exit_code == 0
    assert calls == [SourceKind.LEADERBOARD]
    assert_one_line_error(cli("traders", "check", UID, "--source", "x"), "--source", "leaderboard")
