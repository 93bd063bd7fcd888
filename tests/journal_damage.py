"""Damage a journal the way issue 12 saw it: random bytes over pages in use."""

from __future__ import annotations

from pathlib import Path


def grow_journal(path: Path, events: int = 20_000) -> None:
    """Fill a journal with `events` event rows (~5 MB at 20,000), folded into the main file
    and without free pages, so bytes written mid-file hit pages in use."""
    import sqlite3

    from lightspeed_cli.journal.store import Journal

    with Journal(path) as journal:
        _ = journal.instance_id
        with journal._tx() as db:
            db.executemany(
                "INSERT INTO events (at, level, message) VALUES (?, 'info', ?)",
                (
                    (f"2026-11-30T00:00:{i % 60:02d}+00:00", f"event {i} " + "x" * 200)
                    for i in range(events)
                ),
            )
    db = sqlite3.connect(path)
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def damage_middle(path: Path, size: int = 4096, seed: int = 12) -> int:
    """Write `size` random bytes in the middle of the file (issue 12, item 2); the offset."""
    import random

    offset = path.stat().st_size // 2
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(random.Random(seed).randbytes(size))
    return offset
