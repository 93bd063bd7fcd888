"""Every `LIGHTSPEED_*` variable must mean something: a misspelt one is an error, not ignored.

pydantic-settings reads only the names it knows, so `LIGHTSPEED_SAFTEY__MAX_LEVERAGE=5` (or a
single underscore, `LIGHTSPEED_SAFETY_MAX_LEVERAGE=5`) would leave leverage at its default
without a word. Settings are matched without regard to case (as pydantic-settings reads them);
secrets and the documented variables by their exact name (as the code reads them).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping

from pydantic import BaseModel

from lightspeed_cli.config.secrets import ENV_PREFIX, SecretName

NESTED = "__"

# Variables the code or its scripts read besides settings and secrets (README, "Environment").
DOCUMENTED = frozenset(
    {
        "LIGHTSPEED_CONFIG",  # the config file (cli, settings.resolve_config_path)
        "LIGHTSPEED_MACHINE_ID_FILE",  # license/fingerprint.py: the machine id file
        "LIGHTSPEED_VENV",  # scripts/test.sh: which venv runs the tests
    }
)


def setting_names(model: type[BaseModel]) -> set[str]:
    """LIGHTSPEED_SECTION (a whole section as JSON) and LIGHTSPEED_SECTION__KEY, upper case."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        section = (field.alias or name).upper()
        names.add(ENV_PREFIX + section)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for key, inner in sub.model_fields.items():
                names.add(ENV_PREFIX + section + NESTED + (inner.alias or key).upper())
    return names


def exact_names() -> set[str]:
    return set(DOCUMENTED) | {name.env_var for name in SecretName}


def unknown_variables(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> str:
    """One line per LIGHTSPEED_* variable that is no setting, secret or documented variable,
    with the closest known name when one is near; "" when every variable is known."""
    env = os.environ if environ is None else environ
    settings = setting_names(model)
    exact = exact_names()
    lines = []
    for var in sorted(v for v in env if v.upper().startswith(ENV_PREFIX)):
        if var.upper() in settings or var in exact:
            continue
        lines.append(_line(var, settings | exact))
    return "\n".join(lines)


def _line(var: str, known: Iterable[str]) -> str:
    guess = closest(var, known)
    hint = f"did you mean {guess}?" if guess else "settings are LIGHTSPEED_SECTION__KEY"
    return f"environment {var}: not a LightSpeed setting, secret or variable (ignored); {hint}"


def closest(var: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `var` (its part after the prefix), if any is near."""
    upper = var.upper()
    by_stem = {k.upper().removeprefix(ENV_PREFIX): k for k in known}
    stem = upper.removeprefix(ENV_PREFIX)
    if stem in by_stem:  # a secret or documented name in the wrong case
        return by_stem[stem]
    found = difflib.get_close_matches(stem, list(by_stem), n=1, cutoff=0.8)
    return by_stem[found[0]] if found else None
