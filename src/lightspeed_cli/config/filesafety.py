"""Files others could change are refused, as ssh refuses them (issue 22, item 8).

Whoever can write the config can point the bot at their own leader or webhook and trade the
account; so a config file writable by group or others, or owned by another user (root
aside), stops the start with one line saying what to run.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def others_can_change(path: Path) -> str:
    """Why someone else could change the file at `path` (its target, for a symlink), or ""."""
    st = path.stat()
    if st.st_uid not in (os.geteuid(), 0):
        return f"it is owned by another user (uid {st.st_uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def config_file_problem(path: Path) -> str:
    """The line to stop on for an unsafe config file, or "" (a missing file is not ours)."""
    try:
        why = others_can_change(path)
    except OSError:
        return ""  # reading it will say what is wrong
    if not why:
        return ""
    log.warning("%s: %s", path, why)
    return (
        f"{path}: {why}, so they could change what this bot trades: refused;"
        f" run `chmod go-w {path}` (and own it yourself), then start again"
    )
