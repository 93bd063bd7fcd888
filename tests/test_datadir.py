"""The data dir is private in every mode, and an unusable one is described in one line."""

from __future__ import annotations

import errno
import sqlite3
import stat
from pathlib import Path

import pytest

from lightspeed_cli.config.datadir import (
    DataDirError,
    data_dir_errors,
    describe,
    keep_private,
    prepare_data_dir,
)
from lightspeed_cli.journal.store import Journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_is_created_0700_and_an_open_one_tightened(tmp_path: Path) -> None:
    fresh = prepare_data_dir(tmp_path / "a" / "data")
    assert mode(fresh) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    prepare_data_dir(shared)
    assert mode(shared) == 0o700


@pytest.mark.parametrize("name", ["journal.sqlite3", "paper-journal.sqlite3"])
def test_journal_and_its_wal_are_0600(tmp_path: Path, name: str) -> None:
    data = tmp_path / "data"
    with Journal(data / name) as journal:
        journal.record_event("info", "hello")
        modes = {p.name: mode(p) for p in data.iterdir() if p.name.startswith(name)}
    assert set(modes) >= {name, f"{name}-wal", f"{name}-shm"}
    assert set(modes.values()) == {0o600}, modes
    assert mode(data) == 0o700


def test_an_existing_journal_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    path.chmod(0o644)
    Journal(path).close()
    assert mode(path) == 0o600


def test_keep_private_leaves_a_private_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o600)
    keep_private(path)
    assert mode(path) == 0o600


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.EROFS, "Read-only file system", "/d/journal.sqlite3"), "read-only"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk is full"),
        (OSError(errno.EACCES, "Permission denied", "/d"), "permission denied (/d)"),
        (sqlite3.OperationalError("database or disk is full"), "cannot be written"),
        (sqlite3.DatabaseError("file is not a database"), "not a readable database"),
    ],
)
def test_each_failure_is_one_line_naming_the_dir(error: Exception, said: str) -> None:
    text = describe(Path("/d"), error)
    assert "\n" not in text and text.startswith("data dir /d") and said in text
    with pytest.raises(DataDirError, match="data dir /d"), data_dir_errors(Path("/d")):
        raise error


def test_doctor_creates_the_data_dir_as_run_does(tmp_path: Path) -> None:
    from lightspeed_cli.cli.doctor import check_data_dir

    check = check_data_dir(tmp_path / "fresh")
    assert check.ok and mode(tmp_path / "fresh") == 0o700
