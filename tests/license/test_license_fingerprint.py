"""Machine fingerprint: stable, distinct per machine and user, and never the raw identifiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lightspeed_cli.license.fingerprint import MACHINE_ID_ENV, machine_fingerprint


def _id_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


def test_fingerprint_is_a_stable_hash_not_the_raw_id(tmp_path: Path) -> None:
    raw = "4f1c2a9e0b7d4c3e8a6f5d2c1b0a9e8f"
    path = _id_file(tmp_path, "mid", raw)
    first = machine_fingerprint(path, user="alice")
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first == machine_fingerprint(path, user="alice")
    assert raw not in first and "alice" not in first


def test_machine_and_user_each_change_the_fingerprint(tmp_path: Path) -> None:
    a = _id_file(tmp_path, "a", "machine-a")
    b = _id_file(tmp_path, "b", "machine-b")
    assert machine_fingerprint(a, user="u") != machine_fingerprint(b, user="u")
    assert machine_fingerprint(a, user="u") != machine_fingerprint(a, user="v")


def test_env_var_overrides_the_machine_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _id_file(tmp_path, "env", "from-env")
    monkeypatch.setenv(MACHINE_ID_ENV, str(path))
    assert machine_fingerprint(user="u") == machine_fingerprint(path, user="u")


def test_missing_override_file_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="machine id file"):
        machine_fingerprint(tmp_path / "absent", user="u")


def test_default_sources_give_a_fingerprint() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", machine_fingerprint())
