"""The one error path of the command tree: known failures become one line and an exit code.

Every command runs inside `ExplainingGroup.invoke`; an exception it knows (a damaged journal, an
unusable data dir or disk, a file the user may not read, bytes that are not UTF-8, a number out
of range) is printed by `common.fail` with its documented exit code, never as a traceback.
Anything else is a bug and stays loud. The journal's own errors are told apart here: damage
(exit 3, `journal recover`) is not a read-only, full or foreign file system (exit 2), whose fix
is the disk's, and where `journal recover` would only move a good file away.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lightspeed_cli.cli.common import EXIT_FAILURE, EXIT_USAGE

if TYPE_CHECKING:
    from lightspeed_cli.config.settings import Settings
    from lightspeed_cli.journal.store import Journal

EXIT_DAMAGED = 3  # as `run` stopping on a damaged journal
EXIT_DATA_DIR = 2  # as `run` refusing an unusable data dir: only the user can fix it
NOT_DAMAGE = "this is the disk's problem, not damage to the journal: do not run `journal recover`"


class CommandError(Exception):
    """A failure already worded for the user, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def journal_problem(path: Path, exc: BaseException, then: str = "") -> CommandError:
    """What is wrong with the journal at `path`, given the error opening or using it raised.

    `then` is added to the message: what the command itself could not do and what to do
    instead (close-all: close on Bybit by hand).
    """
    from lightspeed_cli.config.datadir import filesystem_problem, os_error_text
    from lightspeed_cli.journal.integrity import RECOVER_ACTION, JournalDamaged, is_damage

    tail = f" {then}" if then else ""
    if _is_dir(path):
        return CommandError(
            f"{path} is a directory, not a journal file: move it out of the way"
            f" (`mv {path} {path}.moved`) and try again; {NOT_DAMAGE}.{tail}",
            EXIT_DATA_DIR,
        )
    disk = filesystem_problem(path.parent)
    if disk is None and isinstance(exc, JournalDamaged):
        return CommandError(f"{exc}{tail}", EXIT_DAMAGED)
    if disk is None and isinstance(exc, sqlite3.DatabaseError) and is_damage(exc):
        return CommandError(
            f"the journal {path} is damaged ({exc}): {RECOVER_ACTION}{tail}", EXIT_DAMAGED
        )
    if disk is None:
        disk = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
    return CommandError(
        f"cannot use the journal {path}: {disk}. Fix the disk (`df -h`, `mount`, `ls -l`) and"
        f" try again; {NOT_DAMAGE}.{tail}",
        EXIT_DATA_DIR,
    )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a folder on the way closed to this user: filesystem_problem says so
        return False


@contextmanager
def journal_errors(path: Path, then: str = "") -> Iterator[None]:
    """Inside: any OSError or SQLite error is about the journal at `path` (see journal_problem)."""
    from lightspeed_cli.journal.integrity import JournalDamaged

    try:
        yield
    except (ConnectionError, TimeoutError, socket.gaierror):
        raise  # a network's failure (an exchange call inside), not the journal's
    except (OSError, sqlite3.Error, JournalDamaged) as exc:
        raise journal_problem(path, exc, then) from None


def explain(exc: BaseException) -> CommandError | None:
    """The user's wording of `exc`, or None: not a known failure (a bug; let it show)."""
    from lightspeed_cli.config.datadir import LOCAL_ERRNOS, DataDirError, os_error_text
    from lightspeed_cli.journal.integrity import JournalDamaged

    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, JournalDamaged):
        return CommandError(str(exc), EXIT_DAMAGED)
    if isinstance(exc, DataDirError):
        return CommandError(str(exc), EXIT_DATA_DIR)
    if isinstance(exc, UnicodeDecodeError):
        return CommandError(
            f"the input is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} at"
            f" position {exc.start}): nothing stored; paste it again as plain text",
            EXIT_USAGE,
        )
    if isinstance(exc, OverflowError):
        return CommandError(f"a number is out of range ({exc}): use a smaller one", EXIT_USAGE)
    if isinstance(exc, OSError):  # the machine's (disk, permissions): 2; a network's: 1
        code = EXIT_USAGE if exc.errno in LOCAL_ERRNOS else EXIT_FAILURE
        return CommandError(f"cannot go on: {os_error_text(exc)}", code)
    if isinstance(exc, sqlite3.DatabaseError):
        return CommandError(f"a database cannot be used: {exc}", EXIT_USAGE)
    return None


def existing_journal(settings: Settings, paper: bool, what: str = "nothing has run") -> Path:
    """The journal's path for these settings; exit 1 if there is none yet."""
    from lightspeed_cli.cli.common import fail
    from lightspeed_cli.runner import journal_path

    path = journal_path(settings, paper)
    try:
        present = path.exists() or path.is_symlink()
    except OSError as exc:
        raise journal_problem(path, exc) from None
    if not present:
        fail(f"no journal yet at {path}: {what}" + (" in paper mode" if paper else ""))
    return path


def open_journal(path: Path, then: str = "", *, checked: bool = False) -> Journal:
    """The journal at `path`, its failures worded as above; `checked`: PRAGMA quick_check
    first, as `run` does, for a command that writes to it."""
    from lightspeed_cli.journal.integrity import open_checked
    from lightspeed_cli.journal.store import Journal

    with journal_errors(path, then):
        if path.is_dir():
            raise IsADirectoryError(path)
        return open_checked(path) if checked else Journal(path)
