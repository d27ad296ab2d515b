"""``python -m carepilot`` runs the command line."""

from carepilot.cli import main

main()
