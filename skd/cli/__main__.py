"""`python -m skd.cli` runs the `skd` command."""

from skd.cli.main import main

main()
