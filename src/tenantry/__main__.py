"""``python -m tenantry`` runs the ``tenantry`` executable."""

from tenantry.entry import main

main()
