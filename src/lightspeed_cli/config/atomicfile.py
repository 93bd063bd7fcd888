"""Atomic file replacement: a crash leaves the old file or the new one, never half of each."""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path


def write_atomic(path: Path, text: str, *, new_mode: int = 0o600, force_mode: bool = False) -> None:
    """Replace `path` with `text`: temp file in the same dir, fsync, rename, fsync the dir.

    Follows a symlink to its target, and keeps the file's mode (and owner, when allowed);
    `force_mode` always applies `new_mode` (private files that must stay private).
    """
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        st: os.stat_result | None = target.stat()
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            keep = st is not None and not force_mode
            os.fchmod(fh.fileno(), stat.S_IMODE(st.st_mode) if keep and st else new_mode)
            if st is not None and hasattr(os, "fchown"):
                with suppress(PermissionError):
                    os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
