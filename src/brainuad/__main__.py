"""``python -m brainuad`` runs the command line."""

from brainuad.cli.main import entry

entry()
