"""Configuration: a TOML file, overridable per field by `LIGHTSPEED_*` environment variables.

Precedence, highest first: environment (`LIGHTSPEED_SAFETY__MAX_LEVERAGE=5`), the TOML file,
the defaults below. Secrets never live here (see secrets.py); the only secret-ish field is the
notify webhook URL, which `config show` masks.
"""

from __future__ import annotations

import os
import tomllib
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from lightspeed_cli.config.choices import (
    SizingMode,
)
from lightspeed_cli.config.dashboard import DashboardSettings
from lightspeed_cli.config.envcheck import unknown_variables
from lightspeed_cli.config.paths import resolve_config_path
from lightspeed_cli.config.sections import (
    BinanceSettings,
    BybitSettings,
    CopySettings,
    HyperliquidSettings,
    LicenseSettings,
    LoggingSettings,
    NotifySettings,
    PollingSettings,
    RelaySettings,
    SafetySettings,
    SizingSettings,
    StorageSettings,
    TraderSettings,
)
from lightspeed_cli.models import SourceKind

ENV_PREFIX = "LIGHTSPEED_"
ENV_NESTED_DELIMITER = "__"
SECRET_FIELDS = frozenset({"notify.webhook_url"})
SECRET_PREFIXES = ("notify.webhook_url", "polling.proxies")  # a proxy URL may carry a password

# Set while validating a file on its own (config set / traders add): the environment must not
# hide or rescue a problem in the document about to be written.
_FILE_ONLY: ContextVar[bool] = ContextVar("lightspeed_settings_file_only", default=False)


class ConfigError(Exception):
    """A configuration problem, worded for the user: file, key and what is allowed."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        # The prefix applies to aliases too: `[copy]` is LIGHTSPEED_COPY__..., never a bare COPY.
        env_prefix_target="all",
        extra="forbid",
        validate_assignment=True,
    )

    license: LicenseSettings = Field(default_factory=LicenseSettings)
    bybit: BybitSettings = Field(default_factory=BybitSettings)
    binance: BinanceSettings = Field(default_factory=BinanceSettings)
    hyperliquid: HyperliquidSettings = Field(default_factory=HyperliquidSettings)
    traders: list[TraderSettings] = Field(default_factory=list)
    sizing: SizingSettings = Field(default_factory=SizingSettings)
    copy_: CopySettings = Field(default_factory=CopySettings, alias="copy")
    safety: SafetySettings = Field(default_factory=SafetySettings)
    polling: PollingSettings = Field(default_factory=PollingSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    @field_validator("traders")
    @classmethod
    def _unique_traders(cls, v: list[TraderSettings]) -> list[TraderSettings]:
        seen: set[str] = set()
        for t in v:
            if t.id in seen:
                raise ValueError(f"trader {t.id!r} is listed twice")
            seen.add(t.id)
        return v

    @model_validator(mode="after")
    def _trader_sizing_valid(self) -> Settings:
        """A per-trader override must make a valid sizing together with [sizing]; a
        leaderboard trader has no account balance to size `leader_equity` by."""
        for trader in self.traders:
            try:
                sizing = trader.effective_sizing(self.sizing)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(
                    f"traders: {trader.id!r}: its [traders.sizing] with [sizing]: {reason}"
                ) from None
            if sizing.mode is SizingMode.LEADER_EQUITY and trader.source is SourceKind.LEADERBOARD:
                raise ValueError(
                    f"traders: {trader.id!r}: sizing mode leader_equity needs the leader's account"
                    " balance, which only a copytrade lead portfolio or a hyperliquid wallet"
                    " publishes; a leaderboard"
                    ' trader has none: give it [traders.sizing] mode = "ratio" (or another mode)'
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (passed as init kwargs); no .env or secrets-dir magic.
        if _FILE_ONLY.get():
            return (init_settings,)
        return (env_settings, init_settings)

    @property
    def copy_settings(self) -> CopySettings:
        return self.copy_

    def trader(self, trader_id: str) -> TraderSettings | None:
        return next((t for t in self.traders if t.id == trader_id), None)


def unreadable(path: Path, exc: OSError) -> ConfigError:
    """A config this user may not read: say who may (the service's user, or its group)."""
    import errno

    from lightspeed_cli.config.datadir import not_yours

    if exc.errno in (errno.EACCES, errno.EPERM):
        where = next((p for p in (path, *path.parents) if _stat_ok(p)), path)
        return ConfigError(
            f"{path}: cannot read: permission denied ({not_yours(where)}; or ask for read"
            " access to it, through its group)"
        )
    return ConfigError(f"{path}: cannot read: {exc.strerror or exc}")


def _stat_ok(path: Path) -> bool:
    try:
        path.stat()
    except OSError:
        return False
    return True


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the TOML file or raise ConfigError naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no config file here; create one with `lightspeed config init`"
            " or point --config / LIGHTSPEED_CONFIG at yours"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    except OSError as exc:
        raise unreadable(path, exc) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


# --- walking the model by TOML key -------------------------------------------------------------


def toml_key(name: str, field: FieldInfo) -> str:
    """The key a field has in the TOML file (its alias, e.g. `copy` for `copy_`)."""
    return field.alias or name


def fields_by_key(model: type[BaseModel]) -> dict[str, tuple[str, FieldInfo]]:
    """TOML key -> (attribute name, field) for one model, in declaration order."""
    return {toml_key(name, f): (name, f) for name, f in model.model_fields.items()}


def nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside `M`, `M | None` or `list[M]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            found = nested_model(arg)
            if found is not None:
                return found
    return None


def model_at(path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model a location points into: () is Settings, ("traders", 0) is TraderSettings."""
    model: type[BaseModel] = Settings
    for part in path:
        if isinstance(part, int):
            continue
        entry = fields_by_key(model).get(part)
        sub = nested_model(entry[1].annotation) if entry else None
        if sub is None:
            return None
        model = sub
    return model


# --- environment -------------------------------------------------------------------------------


def env_var_for(path: Sequence[str | int], env_data: dict[str, Any] | None = None) -> str | None:
    """The LIGHTSPEED_* variable that sets this key (itself or as part of a JSON section).

    None when the environment does not set this key. `env_data` is `env_overrides()`, passed
    in by callers that ask about many keys.
    """
    if env_data is None:
        try:
            env_data = env_overrides()
        except ConfigError:
            env_data = None  # unparsable JSON somewhere: fall back on the variable names
    if env_data is not None and not _has_path(env_data, path):
        return None
    names = [p for p in path if isinstance(p, str)]
    if len(names) < len(path):  # inside a list (traders): only the whole-list variable applies
        names = names[:1]
    present = {k.upper(): k for k in os.environ}
    for i in range(len(names), 0, -1):
        candidate = ENV_PREFIX + ENV_NESTED_DELIMITER.join(names[:i]).upper()
        if candidate in present:
            return present[candidate]
    return None


def _has_path(data: Any, path: Sequence[str | int]) -> bool:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            found = part in data
        else:
            found = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not found:
            return False
        data = data[part]
    return True


def env_overrides() -> dict[str, Any]:
    """What the LIGHTSPEED_* environment sets, as the nested dict it is merged as."""
    from pydantic_settings import EnvSettingsSource

    try:
        return EnvSettingsSource(Settings)()
    except SettingsError as exc:
        raise ConfigError(f"environment: {_settings_error_message(exc)}") from None


def _settings_error_message(exc: SettingsError) -> str:
    # pydantic-settings says 'error parsing value for field "safety" from source ...'.
    parts = str(exc).split('"')
    field = parts[1] if len(parts) >= 3 else ""
    stem = ENV_PREFIX + field.rstrip("_").upper()
    names = sorted(k for k in os.environ if k.upper().startswith(stem)) or [stem]
    return (
        f"{', '.join(names)}: cannot parse; a list or table set from the environment"
        """ must be JSON, e.g. '["BTCUSDT", "ETHUSDT"]'"""
    )


# --- errors ------------------------------------------------------------------------------------


def _format_key(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _shown_input(key: str, value: Any) -> str:
    """`(got X)` for plain values only: never a secret, never a whole table."""
    if key.startswith(SECRET_PREFIXES) or not isinstance(value, str | int | float | bool | Decimal):
        return ""
    text = repr(value)
    return f" (got {text if len(text) <= 60 else text[:57] + '...'})"


def describe_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: `file: key: what is wrong and what is allowed`.

    A problem that comes from a LIGHTSPEED_* variable names the variable instead of the file.
    """
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "copy_")
        key = _format_key(loc)
        env = env_var_for(loc) if not _FILE_ONLY.get() else None
        where = f"environment {env}" if env else source
        msg = err["msg"].removeprefix("Value error, ")
        shown = _shown_input(key, err.get("input"))
        if err["type"] == "extra_forbidden":
            model = model_at(loc[:-1])
            allowed = ", ".join(fields_by_key(model)) if model else ""
            msg = f"unknown key (allowed here: {allowed})" if allowed else "unknown key"
            shown = ""  # the value of an unknown key may be a secret pasted in the wrong place
        elif err["type"] == "enum":
            msg = f"must be one of {err.get('ctx', {}).get('expected', '')}"
        elif err["type"] == "missing":
            msg = "required"
        lines.append(f"{where}: {key}: {msg}{shown}" if loc else f"{where}: {msg}{shown}")
    return "\n".join(lines)


def settings_from_dict(data: dict[str, Any], source: str) -> Settings:
    """Validate the file's data merged with the environment (unless file-only is in force).

    A LIGHTSPEED_* variable that means nothing is refused first: it would be ignored.
    """
    unknown = "" if _FILE_ONLY.get() else unknown_variables(Settings)
    if unknown:
        raise ConfigError(unknown)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None
    except SettingsError as exc:
        raise ConfigError(f"environment: {_settings_error_message(exc)}") from None


@contextmanager
def _file_only() -> Iterator[None]:
    token = _FILE_ONLY.set(True)
    try:
        yield
    finally:
        _FILE_ONLY.reset(token)


def validate_file_data(data: dict[str, Any], source: str) -> Settings:
    """Validate a config document on its own, ignoring LIGHTSPEED_* variables.

    Used before writing the file: what is written must be valid whatever the environment says.
    """
    with _file_only():
        return settings_from_dict(data, source)


def load_settings(path: Path | str | None = None, *, missing_ok: bool = False) -> Settings:
    """Load and validate the config. With `missing_ok`, a missing file means all defaults."""
    from lightspeed_cli.config.filesafety import config_file_problem

    resolved = resolve_config_path(path)
    try:
        present = resolved.exists()  # raises when a folder on the way is closed to this user
    except OSError as exc:
        raise unreadable(resolved, exc) from None
    if missing_ok and not present:
        settings = settings_from_dict({}, str(resolved))
    else:
        problem = config_file_problem(resolved)
        if problem:
            raise ConfigError(problem)
        settings = settings_from_dict(read_toml(resolved), str(resolved))
    settings.storage = settings.storage.anchored(resolved.parent)
    return settings
