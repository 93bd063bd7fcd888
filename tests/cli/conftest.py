"""Fixtures for the CLI tests: a runner bound to the real app, config paths, keyring backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Cli

PLAINTEXT_KEYRING = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture(autouse=True)
def _fresh_keyring_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """keyring caches its backend per process: make each test pick it from its own env."""
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    yield
    keyring.core._keyring_backend = None


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def default_config() -> Path:
    """Where the config lives for a user who never passes --config (under the tmp HOME)."""
    from lightspeed_cli.config.paths import default_config_path

    return default_config_path()


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """An explicit config file path (not yet created) for `--config`."""
    return tmp_path / "conf" / "config.toml"


@pytest.fixture
def plaintext_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """A working keyring backend (keyrings.alt, file under the tmp XDG_DATA_HOME)."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT_KEYRING)
