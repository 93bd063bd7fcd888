"""The journal: SQLite (WAL), written before an order is sent; a belief, Bybit the truth."""
