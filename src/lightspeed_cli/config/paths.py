"""Where the config and the data live by default (XDG), and which config a command reads."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "lightspeed"
CONFIG_ENV = "LIGHTSPEED_CONFIG"


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def default_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def resolve_config_path(explicit: Path | str | None = None) -> Path:
    """`--config`, then `$LIGHTSPEED_CONFIG`, then the XDG default."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return default_config_path()
