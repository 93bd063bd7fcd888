"""The config file's sections, one model each: every key, its type, its bounds."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lightspeed_cli.config.choices import (
    AccountMode,
    LeaderboardApi,
    LeaderFeed,
    LeveragePolicy,
    MarginMode,
    Network,
    PollingMode,
    SizingMode,
)
from lightspeed_cli.config.paths import default_data_dir
from lightspeed_cli.config.urls import (
    check_http_url,
    check_optional_http_url,
    check_proxy_url,
    check_url,
)
from lightspeed_cli.models import SourceKind


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


def check_ed25519_key(value: str, printed_by: str) -> str:
    """Empty, or a base64 raw Ed25519 public key (`printed_by` is the command that shows it)."""
    v = value.strip()
    if v:
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"must be the base64 key `{printed_by}` prints") from None
        if len(raw) != ED25519_KEY_BYTES:
            raise ValueError(
                f"must be a {ED25519_KEY_BYTES}-byte Ed25519 key in base64 (this one decodes"
                f" to {len(raw)} bytes): copy the whole key `{printed_by}` prints"
            )
    return v


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
        return check_ed25519_key(v, "license-server serve")


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
    source: LeaderFeed = LeaderFeed.DIRECT
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


class RelaySettings(_Section):
    """The vendor's relay (`polling.source = "relay"`): where it is, the key its books are
    signed with, and how long it may be silent before the bot reads Binance itself."""

    url: str = "wss://relay.lightspeed.example/v1/stream"
    public_key: str = ""  # base64 Ed25519 key `relay serve` prints; required for the relay
    fallback_after_seconds: float = Field(default=5, ge=1, le=3600)
    max_age_seconds: float = Field(default=10, ge=1, le=3600)  # older books are refused

    @field_validator("url")
    @classmethod
    def _ws_url(cls, v: str) -> str:
        return check_url(v, ("ws", "wss"), example="wss://host/v1/stream")

    @field_validator("public_key")
    @classmethod
    def _ed25519_key(cls, v: str) -> str:
        return check_ed25519_key(v, "relay serve")


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
