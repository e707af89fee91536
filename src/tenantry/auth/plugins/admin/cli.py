"""What ``tenantry admin`` runs (its options are declared in ``tenantry.cli``): create-superuser,
list and demote, against the configured database."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.table import Table

from tenantry.auth.plugins.admin.superusers import SuperuserError, demote, make_superuser, superusers
from tenantry.auth.service import AuthContext
from tenantry.cli import console, err, load_or_exit, resolve_schema_path, settings_or_exit

T = TypeVar("T")


def _run(schema: Path | None, work: Callable[[AuthContext], Awaitable[T]]) -> T:
    """Run ``work`` with the app's authentication context on its database, then close it."""
    from tenantry.app import Tenantry
    from tenantry.auth import AuthSettings

    loaded = load_or_exit(resolve_schema_path(schema))
    settings = settings_or_exit()
    auth_settings = AuthSettings()
    if "admin" not in auth_settings.plugins:
        err.print("[red]The admin plugin is off[/] (TENANTRY_AUTH_PLUGINS does not list 'admin').")
        raise typer.Exit(2)
    runtime = Tenantry(loaded, settings, auth_settings=auth_settings)

    async def main() -> T:
        await runtime.db.open()
        try:
            return await work(runtime.auth.ctx)
        finally:
            await runtime.db.close()

    try:
        return asyncio.run(main())
    except SuperuserError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


def create_superuser(email: str, password: str | None, name: str | None, no_input: bool, schema: Path | None) -> None:
    """``tenantry admin create-superuser``: prompts for the password unless given or ``no_input``."""
    password = password or os.environ.get("TENANTRY_SUPERUSER_PASSWORD") or None
    if password is None and not no_input:
        if not sys.stdin.isatty():
            err.print("[red]No password given[/]: pass --password, set TENANTRY_SUPERUSER_PASSWORD, or use --no-input.")
            raise typer.Exit(2)
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    outcome = _run(schema, lambda ctx: make_superuser(ctx, email, password, name))
    what = "Created" if outcome.created else "Promoted"
    note = " (password set)" if outcome.password_set and not outcome.created else ""
    console.print(f"[green]{what}[/] superuser [bold]{outcome.user.email}[/]{note}.")


def list_superusers(schema: Path | None) -> None:
    """``tenantry admin list``."""
    found = _run(schema, superusers)
    if not found:
        console.print("No superusers yet: run [bold]tenantry admin create-superuser --email …[/]")
        return
    table = Table("e-mail", "name", "since")
    for user in found:
        table.add_row(user.email, user.core.get("name") or "", user.core["createdAt"].strftime("%Y-%m-%d"))
    console.print(table)


def demote_superuser(email: str, schema: Path | None) -> None:
    """``tenantry admin demote``."""
    user = _run(schema, lambda ctx: demote(ctx, email))
    console.print(f"[green]Demoted[/] {user.email}: no longer a superuser.")
