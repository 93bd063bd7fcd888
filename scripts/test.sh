#!/usr/bin/env bash
# Install the package with its test, server and plot extras, lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,server,plot]'
python3 -m ruff check src tests benchmarks
python3 -m pytest -q "$@"
