"""One `lightspeed run` per journal.

A second bot on the same journal (a manual `run` while systemd runs one, say) would act on every
leader change twice and race the first over the journal's rows. An flock on `<journal>.lock`,
held for the life of the process and released by the kernel even after SIGKILL, refuses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AlreadyRunning(Exception):
    """Another process holds the lock; `holder` is the pid it wrote (may be empty)."""

    def __init__(self, lock_path: Path, holder: str) -> None:
        who = f"pid {holder}" if holder else "another process"
        super().__init__(
            f"another `lightspeed run` ({who}) is already using {lock_path.with_suffix('')}:"
            " stop it first (e.g. `systemctl --user stop lightspeed`)"
        )
        self.lock_path = lock_path
        self.holder = holder


def lock_path_for(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


@contextmanager
def instance_lock(journal: Path) -> Iterator[Path]:
    """Hold the journal's lock while inside; AlreadyRunning if another process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (the bot targets Linux servers)
        yield lock_path_for(journal)
        return
    path = lock_path_for(journal)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise AlreadyRunning(path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock
