#!/usr/bin/env bash
# The quick start as a new user runs it: the package alone (no extras) in a fresh venv, then
# `lightspeed --help` and `lightspeed simulate`. Catches an import that only an extra's
# dependency (uvicorn -> click) satisfied in the test venv. Uses pipx when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
say() { echo "fresh_install.sh: $*"; }
if command -v pipx >/dev/null 2>&1; then
    say "pipx install . (PIPX_HOME in a temp dir)"
    export PIPX_HOME="$WORK/pipx" PIPX_BIN_DIR="$WORK/bin"
    pipx install --quiet . >/dev/null
    BIN="$WORK/bin"
else
    say "no pipx: python3 -m venv + pip install . (what pipx does)"
    python3 -m venv "$WORK/venv" || python3 -m venv --without-pip --system-site-packages "$WORK/venv"
    "$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check .
    BIN="$WORK/venv/bin"
fi
cd "$WORK"  # a user's shell, not the repo: nothing is imported from src/ by accident
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share"
mkdir -p "$HOME"
say "lightspeed --help"
"$BIN/lightspeed" --help >/dev/null
say "lightspeed simulate"
"$BIN/lightspeed" simulate
say "OK"
