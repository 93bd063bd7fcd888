"""The house's rules, read from the source: no import cycle, no import from a floor above,
no I/O in decisions/, no source file over 600 lines outside sim/.

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import hides
a cycle from Python, not from the reader.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "lightspeed_cli"
ROOT = "lightspeed_cli"

# The floors, lowest first. A module may import from its own floor and below; the packages
# on one floor may import each other as long as no cycle forms.
FLOORS: dict[str, int] = {
    "models": 0,
    "config": 1,
    "decisions": 2,
    "execution": 3,
    "journal": 3,
    "sources": 3,
    "notify": 3,
    "license": 3,
    "engine": 4,
    "steering": 5,
    "views": 5,
    "relay": 6,
    "runner": 7,
    "sim": 8,  # the fakes and `simulate` run the real engine: anything but the cli
    "cli": 9,
    "__main__": 10,
}
DECISIONS_MAY_IMPORT = {"models", "decisions", "config"}
# What "does I/O" means for decisions/: any of these imported there is a failure.
IO_MODULES = {
    "aiohttp",
    "asyncio",
    "ccxt",
    "httpx",
    "os",
    "requests",
    "shutil",
    "socket",
    "sqlite3",
    "subprocess",
    "tempfile",
    "urllib",
}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = _modules()[importer].name == "__init__.py"
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


@cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(our modules it imports, the top-level names of the others)."""
    ours: set[str] = set()
    theirs: set[str] = set()
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            targets = [(base, a.name) for a in node.names]
        else:
            continue
        for base, name in targets:
            if base != ROOT and not base.startswith(ROOT + "."):
                theirs.add(base.split(".")[0])
                continue
            if name and f"{base}.{name}" in _modules():
                ours.add(f"{base}.{name}")
            elif base in _modules():
                ours.add(base)
    ours.discard(module)
    return frozenset(ours), frozenset(theirs)


def _floor_key(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_graph_is_read() -> None:
    """The checks below only mean something if they see the engine's real imports."""
    ours, _ = _imports("lightspeed_cli.runner")
    assert any(m.startswith("lightspeed_cli.engine") for m in ours)


def test_every_package_has_a_floor() -> None:
    unknown = {_floor_key(m) for m in _modules()} - set(FLOORS) - {"__init__"}
    assert not unknown, f"give these a floor in FLOORS (and in DESIGN.md): {sorted(unknown)}"


def test_no_import_from_a_floor_above() -> None:
    wrong = []
    for module in _modules():
        here = FLOORS.get(_floor_key(module), -1)
        for target in _imports(module)[0]:
            key = _floor_key(target)
            if key != "__init__" and FLOORS[key] > here:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports from a floor above:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    graph = {m: sorted(_imports(m)[0]) for m in _modules()}
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []
    cycles: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_decisions_are_pure() -> None:
    wrong = []
    for module, path in _modules().items():
        if _floor_key(module) != "decisions":
            continue
        ours, theirs = _imports(module)
        wrong += [f"{module} -> {t}" for t in ours if _floor_key(t) not in DECISIONS_MAY_IMPORT]
        wrong += [f"{module} imports {t}" for t in theirs & IO_MODULES]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
                wrong.append(f"{module} calls open()")
            if isinstance(node, ast.Attribute) and node.attr in {"read_text", "write_text"}:
                wrong.append(f"{module} reads or writes a file ({node.attr})")
    assert not wrong, "decisions/ must stay pure:\n" + "\n".join(sorted(wrong))


def test_no_source_file_over_600_lines_outside_sim() -> None:
    long = {
        m: n
        for m, p in _modules().items()
        if _floor_key(m) != "sim"
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines (split by job): {long}"


def test_nothing_is_left_flat_at_the_top() -> None:
    flat = {p.name for p in PACKAGE.glob("*.py")}
    assert flat <= {"__init__.py", "__main__.py", "models.py", "runner.py"}, sorted(flat)


@pytest.mark.parametrize("rule", ["floor", "cycle"])
def test_the_checks_catch_a_break(rule: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks fail when broken: fed a graph with the fault, each one raises."""
    fake = {
        "lightspeed_cli.decisions.a": (frozenset({"lightspeed_cli.engine.b"}), frozenset()),
        "lightspeed_cli.engine.b": (
            frozenset({"lightspeed_cli.decisions.a"} if rule == "cycle" else set()),
            frozenset(),
        ),
    }
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "_modules", lambda: dict.fromkeys(fake, PACKAGE / "models.py"))
    monkeypatch.setattr(this, "_imports", lambda m: fake[m])
    with pytest.raises(AssertionError):
        (test_no_import_from_a_floor_above if rule == "floor" else test_no_import_cycle)()
