"""Configuration: a TOML file, overridable per field by `LIGHTSPEED_*` environment variables.

Precedence, highest first: environment (`LIGHTSPEED_SAFETY__MAX_LEVERAGE=5`), the TOML file,
the defaults below. Secrets never live here (see secrets.py); the only secret-ish field is the
notify webhook URL, which `config show` masks.
"""

from __future__ import annotations

import base64
import binascii
import os
import tomllib
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from lightspeed_cli.config.choices import (
    AccountMode,
    LeaderboardApi,
    LeveragePolicy,
    MarginMode,
    Network,
    PollingMode,
    SizingMode,
)
from lightspeed_cli.config.envcheck import unknown_variables
from lightspeed_cli.config.urls import (
    check_http_url,
    check_optional_http_url,
    check_proxy_url,
    check_url,
)
from lightspeed_cli.models import SourceKind

APP_NAME = "lightspeed"
CONFIG_ENV = "LIGHTSPEED_CONFIG"
ENV_PREFIX = "LIGHTSPEED_"
ENV_NESTED_DELIMITER = "__"
SECRET_FIELDS = frozenset({"notify.webhook_url"})
SECRET_PREFIXES = ("notify.webhook_url", "polling.proxies")  # a proxy URL may carry a password

# Set while validating a file on its own (config set / traders add): the environment must not
# hide or rescue a problem in the document about to be written.
_FILE_ONLY: ContextVar[bool] = ContextVar("lightspeed_settings_file_only", default=False)


class ConfigError(Exception):
    """A configuration problem, worded for the user: file, key and what is allowed."""


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


class _Section(BaseModel):
    # no inf / nan anywhere: `inf` is valid TOML, and an infinite limit is no limit
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


PLACEHOLDER_SERVER_URL = "https://license.lightspeed.example"  # no server: said as such

# Upper bounds, so that no typo (1e400, inf) turns a limit into no limit without a word.
MAX_USDT = Decimal(10**9)  # a billion USDT: any amount in the config (limits, margin)
MAX_MULTIPLIER = Decimal(1000)  # sizing.value as a ratio or a leader_equity multiplier
PositiveDecimal = Annotated[Decimal, Field(gt=0)]
NonNegDecimal = Annotated[Decimal, Field(ge=0)]
UsdtLimit = Annotated[Decimal, Field(gt=0, le=MAX_USDT)]
UsdtClamp = Annotated[Decimal, Field(ge=0, le=MAX_USDT)]


ED25519_KEY_BYTES = 32


class LicenseSettings(_Section):
    server_url: str = PLACEHOLDER_SERVER_URL
    public_key: str = ""  # base64 Ed25519 public key; empty = pinned at activation
    offline_grace_hours: float = Field(default=72, ge=0, le=24 * 30)
    renew_interval_minutes: float = Field(default=60, gt=0, le=24 * 60)
    clock_tolerance_seconds: float = Field(default=300, ge=0, le=3600)

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return check_http_url(v)

    @field_validator("public_key")
    @classmethod
    def _ed25519_key(cls, v: str) -> str:
        v = v.strip()
        if v:
            try:
                raw = base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be the base64 key `license-server serve` prints") from None
            if len(raw) != ED25519_KEY_BYTES:
                raise ValueError(
                    f"must be a {ED25519_KEY_BYTES}-byte Ed25519 key in base64 (this one decodes"
                    f" to {len(raw)} bytes): copy the whole key `license-server serve` prints"
                )
        return v


class BybitSettings(_Section):
    network: Network = Network.MAINNET
    account_mode: AccountMode = AccountMode.ONE_WAY
    margin_mode: MarginMode = MarginMode.CROSS
    base_url: str = ""  # override of the REST endpoint (tests and simulate point it at the fake)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return check_optional_http_url(v)

    # the price cache the divergence check reads: all linear tickers in one request every
    # refresh period (0 = no cache: a direct read before every open); a price older than
    # max_age is never used for the check, it is read again directly
    price_refresh_seconds: float = Field(default=1.0, ge=0, le=60)
    price_max_age_seconds: float = Field(default=2.0, gt=0, le=60)
    # how long Bybit may execute a signed request after its timestamp; the bot waits this long
    # (plus a margin) before it takes an order Bybit does not list as never placed
    recv_window_ms: int = Field(default=5000, ge=1000, le=60_000)
    # how often the mirrored book is compared with Bybit's positions (reconcile.py), off the
    # order path; also right after any order whose outcome is unknown
    reconcile_interval_seconds: float = Field(default=60, ge=1, le=3600)
    # the taker fee rate the follower pays on a market order (a fraction: 0.00055 = 0.055 %,
    # Bybit's default for USDT perpetuals); `traders forecast` charges it on every copied order
    taker_fee_rate: Decimal = Field(default=Decimal("0.00055"), ge=0, le=Decimal("0.01"))


class BinanceSettings(_Section):
    base_url: str = "https://www.binance.com"
    leaderboard_api: LeaderboardApi = LeaderboardApi.V2_PRIVATE

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return check_http_url(v)


HYPERLIQUID_MAINNET_INFO = "https://api.hyperliquid.xyz/info"
HYPERLIQUID_MAINNET_WS = "wss://api.hyperliquid.xyz/ws"
HYPERLIQUID_TESTNET_INFO = "https://api.hyperliquid-testnet.xyz/info"
HYPERLIQUID_TESTNET_WS = "wss://api.hyperliquid-testnet.xyz/ws"


class HyperliquidSettings(_Section):
    info_url: str = HYPERLIQUID_MAINNET_INFO  # POST /info (testnet: HYPERLIQUID_TESTNET_INFO)
    ws_url: str = HYPERLIQUID_MAINNET_WS  # the WebSocket (testnet: HYPERLIQUID_TESTNET_WS)
    # wallets subscribed on the socket: Hyperliquid allows 10 unique users per IP across
    # user subscriptions; the rest are polled
    max_pushed_wallets: int = Field(default=10, ge=0, le=10)
    # a ping this often (the server closes a socket idle for 60 s); a socket that says nothing
    # for ping_seconds + pong_seconds is dead: its wallets are blind until it is back
    ping_seconds: float = Field(default=50, gt=0, le=55)
    pong_seconds: float = Field(default=10, gt=0, le=60)

    @field_validator("info_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return check_http_url(v)

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        return check_url(v, ("ws", "wss"), example="wss://api.hyperliquid.xyz/ws")


class SizingSettings(_Section):
    mode: SizingMode = SizingMode.RATIO
    value: PositiveDecimal = Decimal("0.1")
    leverage: int = Field(default=0, ge=0, le=200)  # 0 = follow the trader's leverage
    max_order_notional_usdt: UsdtClamp = Decimal(0)  # clamp per order; 0 = no clamp

    @model_validator(mode="after")
    def _value_in_range(self) -> SizingSettings:
        if self.mode is SizingMode.EQUITY_PCT and self.value > 100:
            raise ValueError("sizing.value is a percent of equity for equity_pct: 0 < value <= 100")
        if self.mode is SizingMode.FIXED_MARGIN and self.value > MAX_USDT:
            raise ValueError(f"sizing.value is USDT of margin for fixed_margin: at most {MAX_USDT}")
        multiplier = self.mode in (SizingMode.RATIO, SizingMode.LEADER_EQUITY)
        if multiplier and self.value > MAX_MULTIPLIER:
            raise ValueError(
                f"sizing.value is a multiplier for {self.mode.value}: at most {MAX_MULTIPLIER}"
            )
        return self


class TraderSizing(_Section):
    """Per-trader override of [sizing]; unset fields fall back to the global section."""

    mode: SizingMode | None = None
    value: PositiveDecimal | None = None
    leverage: int | None = Field(default=None, ge=0, le=200)
    max_order_notional_usdt: UsdtClamp | None = None


class TraderSettings(_Section):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    source: SourceKind = SourceKind.COPYTRADE
    label: str = ""
    enabled: bool = True
    sizing: TraderSizing | None = None
    protective_stop_pct: Decimal | None = Field(default=None, ge=0, lt=100)  # None = [safety]'s

    @model_validator(mode="after")
    def _id_matches_source(self) -> TraderSettings:
        if self.source is SourceKind.LEADERBOARD and not _is_hex(self.id, 32):
            raise ValueError(
                f"trader {self.id!r}: a leaderboard trader id is the 32-hex-char encryptedUid"
            )
        if self.source is SourceKind.COPYTRADE and not (self.id.isdigit() and len(self.id) >= 10):
            raise ValueError(
                f"trader {self.id!r}: a copytrade trader id is the lead portfolio id (10+ digits)"
            )
        if self.source is SourceKind.HYPERLIQUID and not is_wallet_address(self.id):
            raise ValueError(
                f"trader {self.id!r}: a hyperliquid trader id is the wallet address (0x + 40 hex)"
            )
        return self

    def effective_sizing(self, base: SizingSettings) -> SizingSettings:
        if self.sizing is None:
            return base
        overrides = self.sizing.model_dump(exclude_none=True)
        return SizingSettings.model_validate({**base.model_dump(), **overrides})


def is_wallet_address(value: str) -> bool:
    """0x + 40 hex digits: an EVM address, as Hyperliquid names its users."""
    return value[:2] in ("0x", "0X") and _is_hex(value[2:], 40)


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdefABCDEF" for c in value)


class CopySettings(_Section):
    follow_existing: bool = False  # mirror positions the trader already held when we started
    # relative change below this is no signal (at most 1: a whole position is a change of 1)
    size_epsilon: NonNegDecimal = Field(default=Decimal("0.001"), le=1)


class SafetySettings(_Section):
    max_price_divergence_bps: NonNegDecimal = Field(default=Decimal(50), le=10_000)
    max_leverage: int = Field(default=20, ge=1, le=200)
    leverage_policy: LeveragePolicy = LeveragePolicy.CLAMP
    max_position_notional_usdt: UsdtLimit = Decimal(5_000)
    max_total_notional_usdt: UsdtLimit = Decimal(20_000)
    max_open_positions: int = Field(default=10, ge=1, le=1000)
    allow_symbols: list[str] = Field(default_factory=list)  # empty = all allowed
    deny_symbols: list[str] = Field(default_factory=list)
    max_snapshot_age_seconds: float = Field(default=30, gt=0, le=3600)
    daily_loss_limit_usdt: UsdtLimit = Decimal(500)
    # a stop-loss held by Bybit this many percent from each position's entry (0 = off; stops.py)
    protective_stop_pct: Decimal = Field(default=Decimal(0), ge=0, lt=100)

    @field_validator("allow_symbols", "deny_symbols")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v if s.strip()]


class PollingSettings(_Section):
    mode: PollingMode = PollingMode.BUDGET
    interval_seconds: float = Field(default=2.0, ge=0.1, le=3600)  # fixed mode only
    min_interval_seconds: float = Field(default=0.1, ge=0.02, le=3600)  # budget mode's floor
    concurrency: int = Field(default=64, ge=1, le=1024)
    proxies: list[str] = Field(default_factory=list)
    requests_per_second: float = Field(default=20, gt=0, le=10_000)  # per exit (proxy/direct)
    timeout_seconds: float = Field(default=10, gt=0, le=120)
    retries: int = Field(default=2, ge=0, le=10)  # extra attempts on timeouts, 5xx, 429, 418

    @field_validator("proxies")
    @classmethod
    def _proxy_urls(cls, v: list[str]) -> list[str]:
        return [check_proxy_url(p) for p in v]


class NotifySettings(_Section):
    webhook_url: str = ""  # Discord or Telegram-compatible webhook; empty = off
    telegram_chat_id: str = ""  # the chat Telegram control answers and messages go to
    # Telegram user ids that may command in that chat; empty: only a private chat commands
    telegram_user_ids: list[str] = Field(default_factory=list)
    telegram_api_url: str = ""  # "" = https://api.telegram.org/bot (tests: the fake)

    # a trader not read successfully for this long is an alert ("blind": closes not mirrored)
    blind_after_seconds: float = Field(default=60, ge=5, le=86_400)
    # an alert still standing is said again this often (the first message goes at once)
    repeat_minutes: float = Field(default=30, ge=1, le=24 * 60)

    @field_validator("webhook_url", "telegram_api_url")
    @classmethod
    def _http_urls(cls, v: str) -> str:
        return check_optional_http_url(v)

    @field_validator("telegram_user_ids", mode="before")
    @classmethod
    def _user_ids(cls, v: Any) -> Any:
        ids = [str(i).strip() for i in v] if isinstance(v, list) else v
        if isinstance(ids, list) and not all(i.isascii() and i.isdigit() for i in ids):
            raise ValueError("Telegram user ids are whole numbers, e.g. 123456789")
        return ids


class StorageSettings(_Section):
    # empty = the XDG data dir (~/.local/share/lightspeed); a relative path is taken from the
    # config file's folder (load_settings), so the service and a shell share one journal
    data_dir: str = ""

    @field_validator("data_dir")
    @classmethod
    def _a_path(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("must be a directory path (it contains a NUL character)")
        return v

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    def anchored(self, config_dir: Path) -> StorageSettings:
        """This section with a relative data_dir made absolute against `config_dir`."""
        path = Path(self.data_dir).expanduser()
        if not self.data_dir or path.is_absolute():
            return self
        return self.model_copy(update={"data_dir": str(config_dir.absolute() / path)})


class LoggingSettings(_Section):
    level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("level", mode="before")
    @classmethod
    def _any_case(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    json_lines: bool = False  # structured JSON lines instead of plain text (under systemd)


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
    notify: NotifySettings = Field(default_factory=NotifySettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

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
