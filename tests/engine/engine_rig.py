"""Names the engine tests share (fixtures live in conftest.py)."""

TRADER_A = "4000000000000000001"
TRADER_B = "4000000000000000002"
