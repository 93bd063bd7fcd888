"""`lightspeed config path|init|show|get|set|unset|validate`, good and bad input."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from cli_helpers import Cli, assert_one_line_error, digest

from lightspeed_cli.config.editing import example_config_text

COMMENTED = """\
# my notes about this bot
[safety]
# never above 10x
max_leverage = 10  # my cap
allow_symbols = ["BTCUSDT"]

[sizing]
mode = "ratio"
value = 0.2
"""


def write(path: Path, text: str = COMMENTED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def toml(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


# --- path / init -------------------------------------------------------------------------------


def test_path_default_then_flag_then_env(
    cli: Cli, default_config: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli("config", "path")
    assert run.exit_code == 0
    assert run.stdout.strip() == str(default_config)
    assert "config init" in run.stderr  # it does not exist yet

    assert cli("--config", str(cfg), "config", "path").stdout.strip() == str(cfg)
    monkeypatch.setenv("LIGHTSPEED_CONFIG", str(cfg))
    assert cli("config", "path").stdout.strip() == str(cfg)


def test_init_writes_the_example_and_refuses_to_overwrite(cli: Cli, default_config: Path) -> None:
    run = cli("config", "init")
    assert run.exit_code == 0, run.output
    assert default_config.read_text(encoding="utf-8") == example_config_text()
    assert stat.S_IMODE(default_config.stat().st_mode) == 0o600

    default_config.write_text("# mine\n", encoding="utf-8")
    before = digest(default_config)
    assert_one_line_error(cli("config", "init"), str(default_config), "--force")
    assert digest(default_config) == before

    assert cli("config", "init", "--force").exit_code == 0
    assert default_config.read_text(encoding="utf-8") == example_config_text()


def test_init_honours_config_flag(cli: Cli, cfg: Path, default_config: Path) -> None:
    assert cli("--config", str(cfg), "config", "init").exit_code == 0
    assert cfg.exists() and not default_config.exists()


# --- set ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("safety.max_leverage", "5", 5),
        ("safety.max_price_divergence_bps", "12.5", 12.5),
        ("sizing.value", "0.25", 0.25),
        ("sizing.value", "0.12345678901234567891", "0.12345678901234567891"),  # kept exact
        ("safety.max_position_notional_usdt", "1000", 1000),
        ("polling.interval_seconds", "0.5", 0.5),
        ("copy.follow_existing", "yes", True),
        ("logging.json_lines", "false", False),
        ("bybit.network", "testnet", "testnet"),
        ("sizing.mode", "fixed_margin", "fixed_margin"),
        ("safety.allow_symbols", "BTCUSDT, ETHUSDT", ["BTCUSDT", "ETHUSDT"]),
        ("safety.deny_symbols", '["DOGEUSDT", "PEPEUSDT"]', ["DOGEUSDT", "PEPEUSDT"]),
        ("safety.allow_symbols", "", []),
        ("polling.proxies", "http://10.0.0.1:3128,http://10.0.0.2:3128", None),
        ("notify.webhook_url", "https://discord.com/api/webhooks/1/abc", None),
    ],
)
def test_set_writes_the_typed_value(
    cli: Cli, cfg: Path, key: str, value: str, expected: object
) -> None:
    write(cfg)
    run = cli("--config", str(cfg), "config", "set", key, value)
    assert run.exit_code == 0, run.output
    section, name = key.split(".")
    written = toml(cfg)[section][name]
    if expected is None:
        expected = [v.strip() for v in value.split(",")] if key.endswith("proxies") else value
    assert written == expected
    assert type(written) is type(expected)


def test_set_keeps_comments_and_other_keys(cli: Cli, cfg: Path) -> None:
    write(cfg)
    assert cli("--config", str(cfg), "config", "set", "safety.max_leverage", "7").exit_code == 0
    text = cfg.read_text(encoding="utf-8")
    assert text == COMMENTED.replace("max_leverage = 10  # my cap", "max_leverage = 7  # my cap")


def test_set_adds_a_missing_section(cli: Cli, cfg: Path) -> None:
    write(cfg)
    assert cli("--config", str(cfg), "config", "set", "polling.concurrency", "8").exit_code == 0
    data = toml(cfg)
    assert data["polling"] == {"concurrency": 8}
    assert data["safety"]["max_leverage"] == 10
    assert cfg.read_text(encoding="utf-8").startswith(COMMENTED)


def test_set_negative_number_is_a_value_not_an_option(cli: Cli, cfg: Path) -> None:
    write(cfg)
    run = cli("--config", str(cfg), "config", "set", "safety.max_leverage", "-5")
    assert_one_line_error(run, str(cfg), "safety.max_leverage", "greater than or equal to 1")


def test_set_creates_the_missing_default_file(cli: Cli, default_config: Path) -> None:
    assert not default_config.exists()
    run = cli("config", "set", "safety.max_leverage", "3")
    assert run.exit_code == 0, run.output
    assert toml(default_config) == {"safety": {"max_leverage": 3}}
    assert stat.S_IMODE(default_config.stat().st_mode) == 0o600
    assert stat.S_IMODE(default_config.parent.stat().st_mode) == 0o700


def test_set_on_a_missing_explicit_file_is_an_error(cli: Cli, cfg: Path) -> None:
    run = cli("--config", str(cfg), "config", "set", "safety.max_leverage", "3")
    assert_one_line_error(run, str(cfg), "no config file")
    assert not cfg.exists()
    assert not cfg.parent.exists()


def test_set_keeps_the_file_mode(cli: Cli, cfg: Path) -> None:
    write(cfg)
    os.chmod(cfg, 0o640)
    assert cli("--config", str(cfg), "config", "set", "safety.max_leverage", "4").exit_code == 0
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640


def test_set_through_a_symlink_edits_the_target(cli: Cli, cfg: Path, tmp_path: Path) -> None:
    real = write(tmp_path / "real" / "config.toml")
    cfg.parent.mkdir(parents=True)
    cfg.symlink_to(real)
    assert cli("--config", str(cfg), "config", "set", "safety.max_leverage", "4").exit_code == 0
    assert cfg.is_symlink()
    assert toml(real)["safety"]["max_leverage"] == 4
    assert sorted(p.name for p in real.parent.iterdir()) == ["config.toml"]  # no temp left


BAD_SETS = [
    # (key, value, words the one-line error must contain)
    ("safety.max_leverage", "-5", ["safety.max_leverage", "greater than or equal to 1"]),
    ("safety.max_leverage", "0", ["safety.max_leverage", "greater than or equal to 1"]),
    ("safety.max_leverage", "201", ["safety.max_leverage", "less than or equal to 200"]),
    ("safety.max_leverage", "abc", ["safety.max_leverage", "whole number"]),
    ("safety.max_leverage", "2.5", ["safety.max_leverage", "whole number"]),
    ("safety.max_price_divergence_bps", "10001", ["max_price_divergence_bps", "10000"]),
    ("safety.max_price_divergence_bps", "-1", ["max_price_divergence_bps", "greater than"]),
    ("safety.max_price_divergence_bps", "nan", ["max_price_divergence_bps", "decimal number"]),
    ("polling.interval_seconds", "inf", ["polling.interval_seconds", "number"]),
    ("sizing.mode", "kelly", ["sizing.mode", "'ratio'", "'fixed_margin'", "'equity_pct'"]),
    ("sizing.value", "0", ["sizing.value", "greater than 0"]),
    ("bybit.network", "moon", ["bybit.network", "'mainnet'", "'testnet'"]),
    ("copy.follow_existing", "maybe", ["copy.follow_existing", "true or false"]),
    ("safety.max_leverag", "5", ["unknown key", "did you mean 'safety.max_leverage'"]),
    ("nosuch.key", "5", ["unknown key", "sections: license"]),
    ("safety", "5", ["is a section", "safety.max_leverage"]),
    ("traders", "x", ["traders add"]),
    ("safety.allow_symbols", "[1, 2]", ["safety.allow_symbols", "list"]),
    ("logging.level", "LOUD", ["logging.level", "DEBUG"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_SETS)
def test_bad_set_is_one_line_exit_2_and_leaves_the_file_byte_identical(
    cli: Cli, cfg: Path, key: str, value: str, words: list[str]
) -> None:
    write(cfg)
    before = digest(cfg)
    mode = stat.S_IMODE(cfg.stat().st_mode)
    run = cli("--config", str(cfg), "config", "set", key, value)
    assert_one_line_error(run, str(cfg), *words)
    assert digest(cfg) == before
    assert stat.S_IMODE(cfg.stat().st_mode) == mode
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config.toml"]


def test_cross_field_rule_is_checked_on_the_whole_document(cli: Cli, cfg: Path) -> None:
    write(cfg, '[sizing]\nmode = "ratio"\nvalue = 150\n')
    before = digest(cfg)
    run = cli("--config", str(cfg), "config", "set", "sizing.mode", "equity_pct")
    assert_one_line_error(run, str(cfg), "sizing", "0 < value <= 100")
    assert digest(cfg) == before


def test_secret_looking_key_is_refused_without_echoing_the_value(cli: Cli, cfg: Path) -> None:
    write(cfg)
    before = digest(cfg)
    run = cli("--config", str(cfg), "config", "set", "bybit.api_secret", "S3cr3tValue42")
    assert_one_line_error(run, "unknown key 'bybit.api_secret'", "keys set")
    assert "S3cr3tValue42" not in run.output
    assert digest(cfg) == before


def test_set_on_malformed_toml_leaves_it_alone(cli: Cli, cfg: Path) -> None:
    write(cfg, "[safety\nmax_leverage = 3\n")
    before = digest(cfg)
    run = cli("--config", str(cfg), "config", "set", "safety.max_leverage", "4")
    assert_one_line_error(run, str(cfg), "not valid TOML", "line 1")
    assert digest(cfg) == before


def test_set_is_checked_without_the_environment(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad LIGHTSPEED_* value neither blocks a good edit nor rescues a bad one."""
    write(cfg)
    monkeypatch.setenv("LIGHTSPEED_SAFETY__MAX_LEVERAGE", "-1")
    run = cli("--config", str(cfg), "config", "set", "safety.max_leverage", "7")
    assert run.exit_code == 0, run.output
    assert "LIGHTSPEED_SAFETY__MAX_LEVERAGE" in run.stderr  # told the env overrides it
    assert toml(cfg)["safety"]["max_leverage"] == 7

    monkeypatch.setenv("LIGHTSPEED_SAFETY__MAX_LEVERAGE", "5")
    before = digest(cfg)
    run = cli("--config", str(cfg), "config", "set", "safety.max_leverage", "500")
    assert_one_line_error(run, str(cfg), "safety.max_leverage")
    assert digest(cfg) == before


def test_unset_restores_the_default(cli: Cli, cfg: Path) -> None:
    write(cfg)
    run = cli("--config", str(cfg), "config", "unset", "safety.max_leverage")
    assert run.exit_code == 0, run.output
    assert "max_leverage" not in toml(cfg)["safety"]
    assert cli("--config", str(cfg), "config", "get", "safety.max_leverage").stdout == "20\n"
    run = cli("--config", str(cfg), "config", "unset", "safety.max_leverage")
    assert run.exit_code == 0 and "not in the file" in run.stdout


# --- get / show --------------------------------------------------------------------------------


def test_get_scalar_list_and_section(cli: Cli, cfg: Path) -> None:
    write(cfg)
    base = ("--config", str(cfg), "config", "get")
    assert cli(*base, "safety.max_leverage").stdout == "10\n"
    assert cli(*base, "safety.allow_symbols").stdout == '["BTCUSDT"]\n'
    assert cli(*base, "copy.follow_existing").stdout == "false\n"
    assert cli(*base, "sizing.value").stdout == "0.2\n"
    section = cli(*base, "safety").stdout
    assert "max_leverage = 10\n" in section
    assert "max_open_positions = 10\n" in section


def test_get_unknown_key(cli: Cli, cfg: Path) -> None:
    write(cfg)
    run = cli("--config", str(cfg), "config", "get", "safety.nope")
    assert_one_line_error(run, str(cfg), "unknown key 'safety.nope'", "max_leverage")


def test_get_masks_the_webhook_unless_revealed(cli: Cli, cfg: Path) -> None:
    url = "https://discord.com/api/webhooks/123/very-secret-token"
    write(cfg, f'[notify]\nwebhook_url = "{url}"\n')
    run = cli("--config", str(cfg), "config", "get", "notify.webhook_url")
    assert url not in run.output and "****" in run.stdout
    assert cli("--config", str(cfg), "config", "get", "notify", "--reveal").stdout.count(url) == 1


def test_show_lists_every_key_with_its_source_and_masks_secrets(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://discord.com/api/webhooks/123/very-secret-token"
    write(cfg, COMMENTED + f'\n[notify]\nwebhook_url = "{url}"\n')
    monkeypatch.setenv("LIGHTSPEED_POLLING__CONCURRENCY", "3")
    monkeypatch.setenv("COLUMNS", "200")
    run = cli("--config", str(cfg), "config", "show")
    assert run.exit_code == 0, run.output
    assert url not in run.output
    rows = {
        cells[0]: cells[1:]
        for line in run.stdout.splitlines()
        if (cells := [c.strip() for c in line.split("│") if c.strip()]) and len(cells) == 3
    }
    assert rows["safety.max_leverage"] == ["10", "file"]
    assert rows["polling.concurrency"] == ["3", "env"]
    assert rows["safety.max_open_positions"] == ["10", "default"]
    assert rows["notify.webhook_url"][0].startswith("****")
    from lightspeed_cli.config.keys import leaf_specs

    assert {s.key for s in leaf_specs()} <= set(rows)
    assert "LIGHTSPEED_POLLING__CONCURRENCY" in run.stdout


# --- validate, missing and malformed files, env ------------------------------------------------


def test_validate_ok(cli: Cli, cfg: Path) -> None:
    write(cfg)
    run = cli("--config", str(cfg), "config", "validate")
    assert run.exit_code == 0
    assert run.stdout.startswith("OK")


def test_validate_lists_every_problem(cli: Cli, cfg: Path) -> None:
    write(
        cfg,
        '[safety]\nmax_leverage = -2\nmax_price_divergence_bps = 20000\napi_key = "SeKrEt"\n'
        '[sizing]\nmode = "kelly"\n',
    )
    run = cli("--config", str(cfg), "config", "validate")
    assert run.exit_code == 2
    assert "Traceback" not in run.output
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 4
    assert all(str(cfg) in line for line in lines)
    text = run.stderr
    assert "safety.max_leverage" in text and "safety.max_price_divergence_bps" in text
    assert "safety.api_key: unknown key (allowed here: max_price_divergence_bps" in text
    assert "sizing.mode: must be one of" in text
    assert "SeKrEt" not in run.output  # an unknown key's value is never echoed


@pytest.mark.parametrize("command", [["show"], ["validate"], ["get", "safety"]])
def test_malformed_toml(cli: Cli, cfg: Path, command: list[str]) -> None:
    write(cfg, 'max_leverage = \n[safety]\nx = "unterminated\n')
    run = cli("--config", str(cfg), "config", *command)
    assert_one_line_error(run, str(cfg), "not valid TOML")


@pytest.mark.parametrize("command", [["show"], ["validate"], ["get", "safety"]])
def test_missing_file(cli: Cli, cfg: Path, command: list[str]) -> None:
    run = cli("--config", str(cfg), "config", *command)
    assert_one_line_error(run, str(cfg), "no config file", "config init")


def test_missing_default_file_too(cli: Cli, default_config: Path) -> None:
    assert_one_line_error(cli("config", "show"), str(default_config), "no config file")


def test_brackets_in_messages_are_not_markup(cli: Cli, tmp_path: Path) -> None:
    cfg = tmp_path / "[/odd]" / "config.toml"
    assert_one_line_error(cli("--config", str(cfg), "config", "validate"), str(cfg))


def test_env_overrides_the_file(cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(cfg)
    monkeypatch.setenv("LIGHTSPEED_SAFETY__MAX_LEVERAGE", "5")
    monkeypatch.setenv("LIGHTSPEED_COPY__FOLLOW_EXISTING", "true")
    monkeypatch.setenv("COPY__FOLLOW_EXISTING", "false")  # unprefixed: ignored
    assert cli("--config", str(cfg), "config", "get", "safety.max_leverage").stdout == "5\n"
    assert cli("--config", str(cfg), "config", "get", "copy.follow_existing").stdout == "true\n"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LIGHTSPEED_SAFETY__MAX_LEVERAGE", "-3", ["safety.max_leverage", "greater than"]),
        ("LIGHTSPEED_SAFETY__ALLOW_SYMBOLS", "BTCUSDT", ["must be JSON"]),
        ("LIGHTSPEED_SAFETY__MAX_LEVRAGE", "3", ["did you mean LIGHTSPEED_SAFETY__MAX_LEVERAGE"]),
    ],
)
def test_bad_env_names_the_variable(
    cli: Cli, cfg: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: list[str]
) -> None:
    write(cfg)
    monkeypatch.setenv(name, value)
    run = cli("--config", str(cfg), "config", "validate")
    assert_one_line_error(run, *words)
    assert name in run.stderr or name.split("__")[0] in run.stderr
