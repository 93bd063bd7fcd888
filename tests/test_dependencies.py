"""Every third-party module src/ imports comes from a package pyproject.toml declares.

A module that arrives only as another package's dependency (click via uvicorn, once typer
stopped depending on it) passes every test here and crashes a fresh `pipx install .`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lightspeed_cli"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return {_norm(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in reqs}


def _imported_top_modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "lightspeed_cli" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    declared = _declared()
    dists = packages_distributions()
    missing = {
        module: sorted(files)
        for module, files in _imported_top_modules().items()
        if not {_norm(d) for d in dists.get(module, [module])} & declared
    }
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_the_cli_does_not_import_click_directly() -> None:
    """typer >= 0.26 vendors its own click; ours must go through typer's names."""
    assert "click" not in _imported_top_modules()
