"""The journal's schema, one script per version: PRAGMA user_version counts those applied.

Append only: a released script never changes, a new column is a new script.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: initial schema
    """
    CREATE TABLE leader_book (
        trader TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        position_json TEXT,            -- TraderPosition as last acted on; NULL = flat
        version INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (trader, symbol, side)
    );
    CREATE TABLE trader_state (
        trader TEXT PRIMARY KEY,
        baseline_at TEXT,              -- first good snapshot seen (follow_existing=false baseline)
        last_poll_at TEXT, last_status TEXT, last_reason TEXT,
        last_ok_at TEXT, last_source_time TEXT
    );
    CREATE TABLE signals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        trader TEXT NOT NULL, kind TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        previous_size TEXT NOT NULL, new_size TEXT NOT NULL, reduce_fraction TEXT,
        leader_price TEXT, snapshot_time TEXT NOT NULL, source_time TEXT,
        position_json TEXT,            -- the trader's position after the change (NULL = flat)
        decision TEXT NOT NULL,        -- pending | executed | refused | skipped | failed
        check_name TEXT, reason TEXT, client_order_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX signals_trader ON signals (trader, created_at);
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        signal_id INTEGER REFERENCES signals (id),
        trader TEXT NOT NULL, binance_symbol TEXT NOT NULL, symbol TEXT NOT NULL,
        side TEXT NOT NULL, order_side TEXT NOT NULL, kind TEXT NOT NULL,
        quantity TEXT NOT NULL, reduce_only INTEGER NOT NULL, leverage INTEGER NOT NULL,
        reference_price TEXT NOT NULL,
        status TEXT NOT NULL,          -- intent | filled | failed | unknown
        outcome TEXT, error TEXT, exchange_order_id TEXT,
        fill_qty TEXT, fill_price TEXT, fee TEXT,
        leader_change_at TEXT, snapshot_at TEXT,
        created_at TEXT NOT NULL, sent_at TEXT, acked_at TEXT,
        slippage_bps TEXT, detection_latency_ms REAL
    );
    CREATE INDEX orders_status ON orders (status);
    CREATE TABLE mirrored (
        trader TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
        binance_symbol TEXT NOT NULL,
        quantity TEXT NOT NULL, entry_price TEXT NOT NULL,
        opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (trader, symbol, side)
    );
    CREATE TABLE daily_pnl (
        day TEXT PRIMARY KEY, realized_usdt TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
    );
    """,
    # 2: the leader's own fill (lead-portfolio order-history): price and order time, against
    # which slippage_bps and detection_latency_ms are then measured (leader_fills.py)
    """
    ALTER TABLE orders ADD COLUMN leader_fill_price TEXT;
    ALTER TABLE orders ADD COLUMN leader_fill_at TEXT;
    """,
    # 3: a refusal repeated poll after poll (same trader, symbol, check and reason) is one row
    # that counts its repeats and when it was last seen, not a row per poll (issue 22, item 6)
    """
    ALTER TABLE signals ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE signals ADD COLUMN last_seen_at TEXT;
    CREATE INDEX signals_key ON signals (trader, symbol, id);
    """,
)
