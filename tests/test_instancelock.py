"""The journal lock: one `lightspeed run` per journal, released when its holder ends."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lightspeed_cli.config.instancelock import AlreadyRunning, instance_lock, lock_path_for


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    with instance_lock(journal) as path:
        assert path == lock_path_for(journal) == tmp_path / "journal.sqlite3.lock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(AlreadyRunning) as refused, instance_lock(journal):
            pass
        assert refused.value.holder == str(os.getpid())
        assert f"pid {os.getpid()}" in str(refused.value) and str(journal) in str(refused.value)
    with instance_lock(journal):  # released on exit: the next run may start
        pass


def test_other_journals_are_independent(tmp_path: Path) -> None:
    with instance_lock(tmp_path / "journal.sqlite3"), instance_lock(tmp_path / "paper.sqlite3"):
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """The kernel drops an flock with its process: a crash never blocks the restart."""
    journal = tmp_path / "journal.sqlite3"
    code = (
        "import sys, time; from pathlib import Path;"
        "from lightspeed_cli.config.instancelock import instance_lock\n"
        f"with instance_lock(Path({str(journal)!r})):\n"
        "    print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"), instance_lock(journal):
            pass
    finally:
        holder.kill()
        holder.wait(10)
    with instance_lock(journal):
        pass
