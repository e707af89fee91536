"""``tenantry admin``: create-superuser, list and demote, against the configured database."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from tenantry.auth.plugins.admin.superusers import SuperuserError, demote, make_superuser, superusers
from tenantry.auth.service import AuthContext
from tenantry.core import CommandHost
from tenantry.core.options import SchemaOption

T = TypeVar("T")


def admin_commands(host: CommandHost) -> typer.Typer:
    """The ``tenantry admin`` group."""
    group = typer.Typer(help="Platform superusers (the admin plugin).", no_args_is_help=True)

    def run(schema: Path | None, work: Callable[[AuthContext], Awaitable[T]]) -> T:
        """Run ``work`` with the app's authentication context on its database, then close it."""
        from tenantry.auth import Authentication
        from tenantry.auth.plugins.admin import AdminPlugin

        async def main() -> T:
            async with host.running_app(schema) as app:
                if app.find(AdminPlugin) is None:
                    host.err.print("[red]The admin plugin is off[/] (TENANTRY_AUTH_PLUGINS does not list 'admin').")
                    raise typer.Exit(2)
                return await work(app.get(Authentication).ctx)

        try:
            return asyncio.run(main())
        except SuperuserError as exc:
            host.err.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None

    @group.command("create-superuser")
    def create_superuser(
        email: Annotated[str, typer.Option("--email", "-e", help="The superuser's e-mail address.")],
        password: Annotated[
            str | None,
            typer.Option("--password", help="Password (prompted for when omitted, or $TENANTRY_SUPERUSER_PASSWORD)."),
        ] = None,
        name: Annotated[str | None, typer.Option("--name", help="Display name of a new user.")] = None,
        no_input: Annotated[
            bool, typer.Option("--no-input", help="Never prompt (scripts): an existing user keeps their password.")
        ] = False,
        schema: SchemaOption = None,
    ) -> None:
        """Create a verified superuser, or promote an existing user to superuser."""
        password = password or os.environ.get("TENANTRY_SUPERUSER_PASSWORD") or None
        if password is None and not no_input:
            if not sys.stdin.isatty():
                host.err.print(
                    "[red]No password given[/]: pass --password, set TENANTRY_SUPERUSER_PASSWORD, or use --no-input."
                )
                raise typer.Exit(2)
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        outcome = run(schema, lambda ctx: make_superuser(ctx, email, password, name))
        what = "Created" if outcome.created else "Promoted"
        note = " (password set)" if outcome.password_set and not outcome.created else ""
        host.console.print(f"[green]{what}[/] superuser [bold]{outcome.user.email}[/]{note}.")

    @group.command("list")
    def list_superusers(schema: SchemaOption = None) -> None:
        """List the superusers."""
        found = run(schema, superusers)
        if not found:
            host.console.print("No superusers yet: run [bold]tenantry admin create-superuser --email …[/]")
            return
        table = Table("e-mail", "name", "since")
        for user in found:
            table.add_row(user.email, user.core.get("name") or "", user.core["createdAt"].strftime("%Y-%m-%d"))
        host.console.print(table)

    @group.command("demote")
    def demote_superuser(
        email: Annotated[str, typer.Option("--email", "-e", help="The superuser to demote.")],
        schema: SchemaOption = None,
    ) -> None:
        """Make a superuser an ordinary user again."""
        user = run(schema, lambda ctx: demote(ctx, email))
        host.console.print(f"[green]Demoted[/] {user.email}: no longer a superuser.")

    return group
