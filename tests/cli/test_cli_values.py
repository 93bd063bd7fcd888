"""Config values are checked when set, not when used (issue 21): URLs, numbers, log level.

`config set`, `config validate` and `run` share the pydantic validators, so they agree: a
value one refuses, the others refuse too, and nothing reaches `run` to crash it there.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cli_helpers import Cli, assert_one_line_error

TRADER = "4000000000000000001"

BAD_URLS = [
    ("bybit.base_url", "file:///etc/passwd"),
    ("bybit.base_url", "gopher://example.com"),
    ("bybit.base_url", "notaurl"),
    ("binance.base_url", "ftp://www.binance.com"),
    ("notify.webhook_url", "file:///tmp/hook"),
    ("notify.telegram_api_url", "javascript:alert(1)"),
    ("license.server_url", "gopher://license.example:70"),
    ("license.server_url", "http://host:99999"),  # no such port
    ("license.server_url", "http://256.256.256.256:8765"),  # no such address
    ("polling.proxies", "notaproxy"),
    ("polling.proxies", "file:///etc/proxy"),
    ("polling.proxies", "socks5://127.0.0.1:1080"),  # httpx needs socksio, not installed
]

BAD_NUMBERS = [
    ("sizing.value", "1e400"),  # a ratio of infinity
    ("sizing.value", "5000"),  # a 5000x ratio is a typo, not a strategy
    ("safety.daily_loss_limit_usdt", "1E+400"),  # the kill switch off, without a word
    ("safety.daily_loss_limit_usdt", "inf"),
    ("safety.daily_loss_limit_usdt", "nan"),
    ("safety.max_position_notional_usdt", "1e12"),
    ("safety.max_total_notional_usdt", "Infinity"),
    ("sizing.max_order_notional_usdt", "1e400"),
    ("safety.max_snapshot_age_seconds", "nan"),
    ("safety.max_snapshot_age_seconds", "inf"),
    ("copy.size_epsilon", "2"),
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def toml_line(key: str, value: str) -> str:
    """The key as the TOML file spells it, the value as a string (or a list for proxies)."""
    section, name = key.split(".")
    shown = f'["{value}"]' if name == "proxies" else f'"{value}"'
    return f"[{section}]\n{name} = {shown}\n"


@pytest.mark.parametrize(("key", "value"), BAD_URLS)
def test_a_bad_url_is_refused_by_set_and_validate(
    cli: Cli, cfg: Path, key: str, value: str
) -> None:
    write(cfg, "")
    assert_one_line_error(cli("--config", str(cfg), "config", "set", key, value), key)
    assert cfg.read_text(encoding="utf-8") == ""  # nothing written
    write(cfg, toml_line(key, value))
    assert_one_line_error(cli("--config", str(cfg), "config", "validate"), key)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bybit.base_url", "https://api-testnet.bybit.com"),
        ("notify.webhook_url", "https://discord.com/api/webhooks/1/abc"),
        ("license.server_url", "http://127.0.0.1:8765"),
        ("polling.proxies", "http://user:pass@10.0.0.1:3128"),
        ("polling.proxies", "https://proxy.example:8443"),
    ],
)
def test_a_good_url_is_kept(cli: Cli, cfg: Path, key: str, value: str) -> None:
    write(cfg, "")
    run = cli("--config", str(cfg), "config", "set", key, value)
    assert run.exit_code == 0, run.output
    assert cli("--config", str(cfg), "config", "validate").exit_code == 0


def test_a_proxy_password_is_never_echoed(cli: Cli, cfg: Path) -> None:
    write(cfg, '[polling]\nproxies = ["http://user:s3cret@host:99999"]\n')
    run = cli("--config", str(cfg), "config", "validate")
    assert_one_line_error(run, "polling.proxies")
    assert "s3cret" not in run.output


@pytest.mark.parametrize(("key", "value"), BAD_NUMBERS)
def test_a_number_that_would_lift_a_limit_is_refused(
    cli: Cli, cfg: Path, key: str, value: str
) -> None:
    write(cfg, "")
    assert_one_line_error(cli("--config", str(cfg), "config", "set", key, value), key)
    assert cfg.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize(
    "text",
    [
        "[safety]\ndaily_loss_limit_usdt = 1E+400\n",  # TOML reads it as inf
        "[safety]\ndaily_loss_limit_usdt = inf\n",
        "[safety]\nmax_snapshot_age_seconds = nan\n",
        "[sizing]\nvalue = 1e400\n",
        '[safety]\nmax_position_notional_usdt = "1e400"\n',
        '[storage]\ndata_dir = "a\\u0000b"\n',  # a NUL would fail deep in mkdir
    ],
)
def test_validate_refuses_the_same_numbers_in_the_file(cli: Cli, cfg: Path, text: str) -> None:
    write(cfg, text)
    run = cli("--config", str(cfg), "config", "validate")
    assert run.exit_code == 2, run.output
    assert "Traceback" not in run.output


def test_the_bounds_leave_real_values_alone(cli: Cli, cfg: Path) -> None:
    write(cfg, "")
    for key, value in [
        ("sizing.value", "1000"),
        ("safety.daily_loss_limit_usdt", "1000000000"),
        ("safety.max_total_notional_usdt", "250000"),
        ("copy.size_epsilon", "0.01"),
    ]:
        run = cli("--config", str(cfg), "config", "set", key, value)
        assert run.exit_code == 0, run.output
    fixed = cli("--config", str(cfg), "config", "set", "sizing.mode", "fixed_margin")
    assert fixed.exit_code == 0, fixed.output
    assert cli("--config", str(cfg), "config", "set", "sizing.value", "250000").exit_code == 0


@pytest.mark.parametrize("level", ["debug", "Warning", "info"])
def test_log_level_in_any_case(cli: Cli, cfg: Path, level: str) -> None:
    write(cfg, f'[logging]\nlevel = "{level}"\n')
    assert cli("--config", str(cfg), "config", "validate").exit_code == 0
    assert (
        cli("--config", str(cfg), "config", "get", "logging.level").stdout == level.upper() + "\n"
    )
    write(cfg, "")
    assert cli("--config", str(cfg), "config", "set", "logging.level", level).exit_code == 0
    assert tomllib.loads(cfg.read_text(encoding="utf-8"))["logging"]["level"] == level
    assert cli("--config", str(cfg), "config", "validate").exit_code == 0


def test_run_with_a_bad_proxy_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = write(
        tmp_path / "config.toml",
        f'[storage]\ndata_dir = "{data}"\n[polling]\nproxies = ["notaproxy"]\n'
        f'[[traders]]\nid = "{TRADER}"\n',
    )
    done = subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "run", "--paper", "--no-live", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "polling.proxies" in done.stderr and "Traceback" not in done.stderr
