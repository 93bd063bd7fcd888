"""The data dir: private (0700 dir, 0600 files) in every mode, and a clear stop when unusable.

It holds the journal, the license lease (without a keyring) and the license state, so nobody
else on the machine may read it. A data dir the bot cannot use at start (read-only, full,
a file where the dir should be) is one clear line and exit code 2: systemd does not restart it
(`RestartPreventExitStatus=2`), since only the user can fix it. A damaged journal file is
journalcheck.py's (exit 3, with `journal recover`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
EXIT_DATA_DIR = 2  # as a config problem: it will not fix itself, so no restart loop


class DataDirError(Exception):
    """The data dir cannot be used; the message names it, says why and what to do. `full`:
    the disk is full (or the quota spent), which passes once space is freed: the bot waits
    and tries again rather than stop for good."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.full = full


FULL_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT))


def is_full(exc: BaseException) -> bool:
    """No space left: an OSError's ENOSPC / EDQUOT, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    return isinstance(exc, sqlite3.Error) and "is full" in str(exc)


def prepare_data_dir(path: Path) -> Path:
    """Create the data dir 0700 (parents as the umask says); tighten an existing one of ours
    that others can enter. Raises OSError as is (see `data_dir_errors`), and DataDirError for
    a dir owned by another user: its owner could swap the journal or plant a lease (ssh
    refuses a ~/.ssh of someone else's the same way)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    owner = path.stat().st_uid
    if owner != os.geteuid():
        log.warning("data dir %s is owned by another user (uid %d)", path, owner)
        raise DataDirError(
            f"data dir {path} is owned by another user (uid {owner}), who could change the"
            " journal or the lease in it: use a directory of your own (storage.data_dir)"
        )
    _tighten(path, DIR_MODE)
    return path


def keep_private(path: Path) -> None:
    """Re-mode a file of ours that others can read to 0600, with a warning (lease, journal)."""
    _tighten(path, FILE_MODE)


def create_private(path: Path) -> None:
    """Make sure `path` exists 0600 before a library (SQLite) opens it with its own mode. An
    existing file is only re-moded: no descriptor of it is opened (and closed), which would
    drop the POSIX locks another connection of this process holds on it."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        keep_private(path)


def ensure_writable(path: Path) -> None:
    """Open `path` (if it exists) for writing and close it: a journal that can be read but not
    written (an immutable or read-only file) stops the start here, not at the first order.
    OSError as is. Call it before SQLite opens the file: closing any descriptor of a file drops
    the process's POSIX locks on it, SQLite's included."""
    with contextlib.suppress(FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY))


def _tighten(path: Path, mode: int) -> None:
    """Never through a symlink: chmod would change the mode of whatever it points at."""
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        path.chmod(mode)
        log.warning(
            "%s was open to other users (mode %o): changed to %o",
            path,
            stat.S_IMODE(st.st_mode),
            mode,
        )


_WHY = {
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "a file size limit was reached",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a path component is a file, not a directory",
    errno.EEXIST: "a file is in the way",
    errno.EISDIR: "a directory is where a file should be",
}


LOCAL_ERRNOS = frozenset(_WHY)  # a problem of this machine's disk or permissions


def describe(data_dir: Path, exc: BaseException) -> str:
    """One line: the data dir, what is wrong, and what to do."""
    fix = "fix it (or point storage.data_dir at a writable directory) and start again"
    if isinstance(exc, OSError):
        why = _WHY.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        where = f" ({exc.filename})" if exc.filename else ""
        return f"data dir {data_dir} cannot be used: {why}{where}; {fix}"
    text = str(exc)
    if "full" in text or "disk I/O" in text or "readonly" in text or "read-only" in text:
        return f"data dir {data_dir} cannot be used: the journal cannot be written ({text}); {fix}"
    return (
        f"data dir {data_dir}: the journal there is not a readable database ({text}); restore"
        " it from a backup, or move it aside to start a new one"
    )


@contextmanager
def data_dir_errors(data_dir: Path) -> Iterator[None]:
    """Turn an OSError or SQLite error from preparing the data dir into a DataDirError."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        raise DataDirError(describe(data_dir, exc), full=is_full(exc)) from None


LOW_SPACE_BYTES = 1 << 20  # under 1 MiB free, SQLite cannot be relied on to commit a write


def free_bytes(directory: Path) -> int | None:
    """Bytes free to this user on `directory`'s file system; None if it cannot be asked."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def owner(path: Path) -> str:
    """The user name owning `path` (for messages)."""
    import pwd

    try:
        uid = path.stat().st_uid
    except OSError:
        return "another user"
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def current_user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def not_yours(path: Path) -> str:
    """Who may use `path` when this user may not: its owner, or (ours) its mode."""
    who, me = owner(path), current_user()
    if who == me:
        try:
            mode = f"{stat.S_IMODE(path.stat().st_mode):o}"
        except OSError:
            mode = "unknown"
        return f"{path} is yours but closed to you (mode {mode}): `chmod u+rwx {path}`"
    return (
        f"{path} belongs to {who} and you are {me}: run the command as {who}"
        f" (`sudo -u {who} lightspeed ...`)"
    )


def filesystem_problem(directory: Path) -> str | None:
    """Why files in `directory` cannot be written, if the file system says so: read-only, full,
    or another user's (permission denied); None when nothing is seen. Lets a caller tell an
    unusable disk from a damaged file, which need different fixes."""
    try:
        st = os.statvfs(directory)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{directory}: {_WHY.get(exc.errno or 0, exc.strerror or str(exc))}"
    if st.f_flag & os.ST_RDONLY:
        return f"the file system holding {directory} is read-only"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"permission denied: {not_yours(directory)}"
    free = st.f_bavail * st.f_frsize
    if free < LOW_SPACE_BYTES:
        return f"the disk holding {directory} is full ({free // 1024} KiB free)"
    return None


def os_error_text(exc: OSError) -> str:
    """An OSError as a person reads it: what is wrong and with which file."""
    why = _WHY.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"{exc.filename}: {why}" if exc.filename else why
