"""``python -m modelcycle`` runs the command line."""

from modelcycle._console import main

main()
