"""Files others could change stop the start, as ssh stops (issue 22, item 8)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightspeed_cli.config import secrets
from lightspeed_cli.config.atomicfile import write_atomic
from lightspeed_cli.config.datadir import DataDirError, prepare_data_dir
from lightspeed_cli.config.secrets import SecretName, get_secret, set_secret
from lightspeed_cli.config.settings import ConfigError, load_settings
from lightspeed_cli.license.store import LocalState, load_state, save_state

OTHER_UID = 4242


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightspeed_cli", "run", "--paper", "--no-live", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _config(tmp_path: Path, mode: int = 0o600) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n\n[[traders]]\nid = "3987123456789012345"\n'
        'source = "copytrade"\n',
        encoding="utf-8",
    )
    config.chmod(mode)
    return config


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_config_file_others_can_write_refuses_to_run(tmp_path: Path, mode: int) -> None:
    done = _run(_config(tmp_path, mode))
    assert done.returncode == 2, done.stderr
    assert "writable by other users" in done.stderr and "chmod go-w" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_a_config_file_others_can_read_only_is_fine(tmp_path: Path) -> None:
    assert load_settings(_config(tmp_path, 0o644)).traders


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_config_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    os.chown(config, OTHER_UID, OTHER_UID)
    with pytest.raises(ConfigError, match="owned by another user"):
        load_settings(config)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_data_dir_owned_by_another_user_refuses_to_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    os.chown(data, OTHER_UID, OTHER_UID)
    with pytest.raises(DataDirError, match="owned by another user"):
        prepare_data_dir(data)
    done = _run(_config(tmp_path))
    assert done.returncode == 2 and "owned by another user" in done.stderr, done.stderr


def test_a_symlink_planted_at_the_lease_path_is_never_written_through_nor_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("the user's own file\n", encoding="utf-8")
    victim.chmod(0o644)
    lease = secrets.lease_file_path(tmp_path)
    lease.symlink_to(victim)
    with pytest.raises(OSError) as err:
        set_secret(SecretName.LICENSE_LEASE, "lease-token", data_dir=tmp_path)
    assert err.value.errno == errno.ELOOP
    assert victim.read_text(encoding="utf-8") == "the user's own file\n"
    assert get_secret(SecretName.LICENSE_LEASE, data_dir=tmp_path) is None  # not the victim's
    assert "symlink" in caplog.text
    assert victim.stat().st_mode & 0o777 == 0o644  # never re-moded through the link


def test_a_symlink_at_the_license_state_is_neither_read_nor_written(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    save_state(real, LocalState(public_key="pinned"))
    planted = tmp_path / "license_state.json"
    planted.symlink_to(real)
    assert load_state(planted).public_key == ""
    with pytest.raises(OSError):
        save_state(planted, LocalState(public_key="attacker"))
    assert load_state(real).public_key == "pinned"


def test_a_config_file_kept_behind_a_symlink_is_still_edited_in_place(tmp_path: Path) -> None:
    """Dotfile managers link config.toml: ordinary files still follow the link."""
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text("a = 1\n", encoding="utf-8")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    write_atomic(link, "a = 2\n")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "a = 2\n"
