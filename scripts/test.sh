#!/usr/bin/env bash
# Create the project venv (.venv, once), install the package with its test, server and plot
# extras into it, lint, then run the whole suite with that venv's python: never the system one.
# LIGHTSPEED_VENV=path picks another venv folder. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LIGHTSPEED_VENV:-.venv}"
PY="$VENV/bin/python"
say() { echo "test.sh: $*"; }

if ! "$PY" -m pip --version >/dev/null 2>&1; then
    rm -rf "$VENV"  # none yet, or a half-made one: start clean
    say "creating the project venv in $VENV (python3 -m venv)"
    if ! python3 -m venv "$VENV"; then
        # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) separately: use the system pip
        say "python3 -m venv failed (ensurepip missing?): retrying with the system's pip" >&2
        rm -rf "$VENV"
        python3 -m venv --without-pip --system-site-packages "$VENV"
        if ! "$PY" -m pip --version >/dev/null 2>&1; then
            say "no pip for $VENV: install python3-venv (apt install python3-venv) and rerun" >&2
            exit 1
        fi
    fi
fi
say "installing lightspeed-cli[test,server,plot] into $VENV (the first time takes a while)"
"$PY" -m pip install --quiet --disable-pip-version-check -e '.[test,server,plot]'
say "ruff check"
"$PY" -m ruff check src tests benchmarks
say "pytest"
"$PY" -m pytest -q -n 2 "$@"
