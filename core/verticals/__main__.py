"""``python -m verticals`` runs the CLI, for environments without the console script on PATH."""

from verticals.cli import main

main()
