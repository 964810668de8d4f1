"""``python -m modelcycle`` runs the command line."""

from modelcycle.cli import main

main()
