"""Wall time of `lightspeed --help` and `lightspeed config show` against `python -c pass`.

Also checks that neither imports ccxt (0.6-0.8 s and ~100 MB on its own, see PERFORMANCE.md).
Each command runs once to warm the OS caches, then N times; the median is reported. The figures
go to BENCHMARKS.md under "## CLI startup" (that section is replaced, the others are kept).

    python benchmarks/bench_cli_startup.py [--runs 5] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SECTION = "## CLI startup"
TARGET_HELP_MS = 300.0
HEAVY = ("ccxt",)

IMPORT_PROBE = """
import sys
from lightspeed_cli.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
"""


@dataclass
class Timing:
    label: str
    samples_ms: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)


def lightspeed_script() -> str:
    beside = Path(sys.executable).with_name("lightspeed")
    found = str(beside) if beside.exists() else shutil.which("lightspeed")
    if not found:
        sys.exit("the `lightspeed` command is not installed: pip install -e .")
    return found


def isolated_env(home: Path) -> dict[str, str]:
    """A throwaway HOME with the example config, so the user's own files are never touched."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTSPEED_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    config = home / "config.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8"), "utf-8")
    env["LIGHTSPEED_CONFIG"] = str(config)
    return env


def time_command(label: str, argv: list[str], env: dict[str, str], runs: int) -> Timing:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return Timing(label, samples)


def imports_of(args: list[str], env: dict[str, str]) -> tuple[list[str], list[tuple[int, str]]]:
    """(heavy modules imported, the 5 slowest top-level imports) for `lightspeed <args>`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORT_PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules, top = set(), []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        cumulative, indent, name = int(match.group(1)), match.group(2), match.group(3)
        modules.add(name.split(".")[0])
        if len(indent) == 1:
            top.append((cumulative // 1000, name))
    heavy = [m for m in HEAVY if m in modules]
    return heavy, sorted(top, reverse=True)[:5]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def render(timings: list[Timing], checks: dict[str, tuple[list[str], list]], runs: int) -> str:
    base = timings[0].median
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        SECTION,
        "",
        f"Command: `python benchmarks/bench_cli_startup.py --runs {runs}`; {cores()} cores"
        f" (nproc), Python {platform.python_version()}, {platform.machine()}, {date}.",
        f"Wall time of a fresh process, median of {runs} after one warm-up run; the config is"
        f" config.example.toml. Load average at the end: {load}.",
        "",
        "| command | median ms | min ms | max ms | over `python -c pass` |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in timings:
        over = "" if t is timings[0] else f"+{t.median - base:.0f} ms"
        lines.append(
            f"| `{t.label}` | {t.median:.0f} | {min(t.samples_ms):.0f} |"
            f" {max(t.samples_ms):.0f} | {over} |"
        )
    help_ms = timings[1].median
    verdict = "met" if help_ms < TARGET_HELP_MS else "NOT met"
    lines += ["", f"Target `lightspeed --help` < {TARGET_HELP_MS:.0f} ms: {verdict}."]
    for label, (heavy, top) in checks.items():
        imported = ", ".join(heavy) if heavy else "none"
        slowest = ", ".join(f"{name} {ms} ms" for ms, name in top)
        lines.append(f"`{label}` imports of ccxt: {imported}; slowest imports: {slowest}.")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace our section of BENCHMARKS.md, or append it; other sections stay as they are."""
    current = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else ""
    if not current:
        current = "# Benchmarks\n\nEach section: the exact command, the core count and the date.\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    BENCHMARKS_MD.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    script = lightspeed_script()
    with tempfile.TemporaryDirectory() as tmp:
        env = isolated_env(Path(tmp))
        timings = [
            time_command("python -c pass", [sys.executable, "-c", "pass"], env, args.runs),
            time_command("lightspeed --help", [script, "--help"], env, args.runs),
            time_command(  # what typer's rich help formatting costs
                "TYPER_USE_RICH=0 lightspeed --help",
                [script, "--help"],
                {**env, "TYPER_USE_RICH": "0"},
                args.runs,
            ),
            time_command("lightspeed config show", [script, "config", "show"], env, args.runs),
        ]
        checks = {
            "lightspeed --help": imports_of(["--help"], env),
            "lightspeed config show": imports_of(["config", "show"], env),
        }
    text = render(timings, checks, args.runs)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"written to {BENCHMARKS_MD}")
    return 1 if any(heavy for heavy, _ in checks.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
