"""Helpers for the CLI tests (imported by name: tests/cli is on sys.path under pytest)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from lightspeed_cli.cli import app


@dataclass
class Run:
    """What one CLI invocation produced."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Cli:
    """Invoke `lightspeed ...` in-process (typer's CliRunner), keeping every output seen."""

    def __init__(self) -> None:
        self.runner = CliRunner()
        self.seen: list[str] = []

    def __call__(self, *args: str, input: str | None = None) -> Run:
        result = self.runner.invoke(app, list(args), input=input, catch_exceptions=False)
        run = Run(result.exit_code, result.stdout, result.stderr)
        self.seen.append(run.output)
        return run


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(run: Run, *needles: str) -> None:
    """Exit 2, no traceback, the error on stderr (one logical line) mentioning each needle."""
    assert run.exit_code == 2, run.output
    assert "Traceback" not in run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
