"""`python -m lightspeed_cli` runs the CLI (what the console script does)."""

from lightspeed_cli.cli import main

main()
