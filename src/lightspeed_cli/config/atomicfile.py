"""Atomic file replacement: a crash leaves the old file or the new one, never half of each."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path


def write_atomic(
    path: Path,
    text: str,
    *,
    new_mode: int = 0o600,
    force_mode: bool = False,
    follow_symlinks: bool | None = None,
) -> None:
    """Replace `path` with `text`: temp file in the same dir, fsync, rename, fsync the dir.

    Keeps the file's mode (and owner, when allowed); `force_mode` always applies `new_mode`
    (private files that must stay private). A symlink at `path` is followed to its target
    (a config file kept in a dotfiles repo) unless `follow_symlinks` is False, the default
    for `force_mode` files: a symlink planted where a private file goes (the lease) is
    refused with OSError(ELOOP), never written through.
    """
    if follow_symlinks is None:
        follow_symlinks = not force_mode
    if not follow_symlinks and os.path.islink(path):
        raise OSError(errno.ELOOP, "a symlink is where a private file goes: not written", path)
    target = Path(os.path.realpath(path)) if follow_symlinks else Path(path)
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


def read_private(path: Path) -> str:
    """The text of a private file, never through a symlink (OSError ELOOP if one is there):
    a planted link would make us read, and send, a file of someone's choosing."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="utf-8") as fh:
        return fh.read()


def _fsync_dir(directory: Path) -> None:
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
