"""``python -m tenantry`` runs the command-line interface."""

from tenantry.cli import main

main()
