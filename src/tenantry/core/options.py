"""Command-line options every command shares (Typer), kept apart so that serving never loads Typer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SchemaOption = Annotated[
    Path | None,
    typer.Option("--schema", "-s", help="Schema file (default: $TENANTRY_SCHEMA, ./schema.yaml or ./.apsorc)."),
]
