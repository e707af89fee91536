"""The ``tenantry`` command: scaffold, check, migrate and serve a project.

Importing it loads Typer and Rich only: each command imports what it needs (the schema, the
settings, the app, Alembic) when it runs, and capabilities' own command groups (``tenantry admin``)
are loaded when invoked, so that ``tenantry --help`` or ``tenantry serve``'s start never pays for
what another command uses.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import os
import re
import secrets
import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar, cast

import typer

# Typer's own copy of Click, whose classes its groups extend (Typer has no public name for them).
from typer._click import Command, Context
from typer.core import TyperGroup

from tenantry.core.options import SchemaOption

if TYPE_CHECKING:
    from rich.console import Console

    from tenantry.config import Settings
    from tenantry.core import App
    from tenantry.schema import Schema, SchemaError
    from tenantry.server.check import CheckRequest, Verdict

# The client languages (``tenantry.clients.Language``, which loads the schema package: mypy checks they agree).
Language = Literal["typescript", "python"]

# Capabilities' own command groups (``Capability.commands``) by name: the capability class, and the
# group's help for ``tenantry --help``. The class is imported only when its group is invoked
# (tests/test_cli.py checks this list against every capability and plugin).
CAPABILITY_COMMANDS: dict[str, tuple[str, str]] = {
    "admin": ("tenantry.auth.plugins.admin:AdminPlugin", "Platform superusers (the admin plugin)."),
}


class _CapabilityGroup(TyperGroup):
    """A capability's command group, standing in for it until invoked (then the real group parses and runs)."""

    def __init__(self, name: str, target: str, help_text: str) -> None:
        super().__init__(name=name, help=help_text)
        self.target = target

    def load(self) -> Command:
        """The capability's group, as ``Capability.commands`` makes it."""
        module, _, attribute = self.target.partition(":")
        kind = getattr(importlib.import_module(module), attribute)
        group = kind.commands(CliHost())
        command = typer.main.get_command(group)
        command.name = self.name
        return command

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        # Click runs the command of the context made here: the real group, loaded now.
        return self.load().make_context(info_name, args, parent=parent, **extra)


class _Commands(TyperGroup):
    """The ``tenantry`` group: the core's commands, then the capabilities' groups, loaded when invoked."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *CAPABILITY_COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in CAPABILITY_COMMANDS:
            return _CapabilityGroup(cmd_name, *CAPABILITY_COMMANDS[cmd_name])
        return found


app = typer.Typer(
    name="tenantry",
    help="Turn one schema file into a multi-tenant SaaS backend and web app.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    cls=_Commands,
)
schema_app = typer.Typer(help="Check the schema file.", no_args_is_help=True)
migrate_app = typer.Typer(help="Create and apply database migrations (Alembic).", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(migrate_app, name="migrate")


class LazyConsole:
    """A Rich console made at its first use: a command that prints nothing before it hands over
    (``serve``, whose node prints the banner) does not load Rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console = cast("Console", LazyConsole())
# One problem per line, so that editors can jump to FILE:LINE.
err = cast("Console", LazyConsole(stderr=True, soft_wrap=True))

DEV_IDP_PORT = 9400
DEV_STRIPE_PORT = 12111
TEMPLATES = Path(__file__).parent / "templates" / "project"


def main() -> None:
    """Console-script entry point."""
    app()


P = ParamSpec("P")
R = TypeVar("R")


def without_collections(command: Callable[P, R]) -> Callable[P, R]:
    """``command`` run with the cyclic garbage collector off: it loads the app's modules only to check
    and hand over (``serve`` then becomes another process), and collections among a thousand
    modules loading find nothing to free while costing a tenth of the time."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return command(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return run


# -- shared helpers ---------------------------------------------------------------------------


def resolve_schema_path(option: Path | None) -> Path:
    """The schema file from the option, the environment, or the current directory."""
    from tenantry.schema import find_schema_file

    found = find_schema_file(option)
    if found is not None:
        return found
    err.print(
        "[red]No schema file found.[/] Pass [bold]--schema FILE[/], set TENANTRY_SCHEMA, "
        "or run [bold]tenantry init DIR[/] to start a project."
    )
    raise typer.Exit(2)


def load_or_exit(path: Path) -> Schema:
    """Load the schema, or print every problem as ``FILE:LINE: message`` and exit 1."""
    from tenantry.schema import SchemaError, load_schema

    try:
        loaded = load_schema(path)
        from tenantry.billing.plans import billing_config

        billing_config(loaded)  # the plans in settings.billing, checked with the rest
        return loaded
    except SchemaError as exc:
        print_schema_errors(exc)
        raise typer.Exit(1) from None


def print_schema_errors(exc: SchemaError) -> None:
    for problem in exc.problems:
        err.print(str(problem), style="red", highlight=False, markup=False)
    count = len(exc.problems)
    err.print(f"[bold red]{count} problem{'s' if count != 1 else ''} in the schema.[/]")


def settings_or_exit(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from tenantry.config import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            err.print(f"[red]{where}:[/] {error['msg'].removeprefix('Value error, ')}")
        raise typer.Exit(2) from None


def project_dir(schema_path: Path) -> Path:
    return schema_path.resolve().parent


def _set_env(**values: str) -> None:
    # Server workers (and reloaded processes) build their app from the environment.
    for key, value in values.items():
        os.environ[key] = value


# -- init -------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    name: Annotated[
        str | None, typer.Option("--name", help="The app's name (default: the folder's name), e.g. acme-crm.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Scaffold a project: schema.yaml (organizations, users, projects, billing plans), .env.example,
    hooks.py, migrations/."""
    from tenantry.db.migrations import ensure_migrations_dir
    from tenantry.schema.naming import readable_title

    app_name = project_name(name or directory.resolve().name)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    skipped: list[str] = []
    for template in sorted(TEMPLATES.iterdir()):
        if not template.is_file():
            continue  # an installer's bytecode cache (``__pycache__`` of the template's hooks.py)
        target_name = template.name.removesuffix(".tmpl")
        if target_name == "gitignore":
            target_name = ".gitignore"
        target = directory / target_name
        if target.exists() and not force:
            skipped.append(target_name)
            continue
        text = template.read_text(encoding="utf-8")
        if template.name.endswith(".tmpl"):
            text = text.format(name=app_name, title=readable_title(app_name))
        target.write_text(text, encoding="utf-8")
        written.append(target_name)
    ensure_migrations_dir(directory)
    written.append("migrations/")
    for item in written:
        console.print(f"  [green]created[/] {directory / item}", highlight=False)
    for item in skipped:
        console.print(f"  [yellow]kept[/]    {directory / item} (exists; --force to overwrite)", highlight=False)
    console.print(
        f"\nNext:\n  [bold]cd {shlex.quote(str(directory))}[/]\n  [bold]{tenantry_command()} dev[/]\n"
        "then open http://127.0.0.1:8000/",
        highlight=False,
        soft_wrap=True,
    )


def project_name(raw: str) -> str:
    """An app name from a folder's name: lower case, words joined by hyphens (``My App`` -> ``my-app``)."""
    words = re.findall(r"[a-z0-9]+", raw.lower())
    return "-".join(words) or "my-app"


def tenantry_command() -> str:
    """How to run this ``tenantry`` from any folder, with or without an activated virtualenv: ``tenantry``
    when that is the one on PATH, else its full path, else ``python -m tenantry`` with this interpreter."""
    script = Path(sys.argv[0]) if Path(sys.argv[0]).name == "tenantry" else Path(sys.executable).parent / "tenantry"
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m tenantry"
    script = script.absolute()
    found = shutil.which("tenantry")
    if found is not None and Path(found).absolute() == script:
        return "tenantry"
    return shlex.quote(str(script))


# -- dev / serve ------------------------------------------------------------------------------


def _banner(
    schema: Schema, host: str, port: int, settings: Settings, mode: str, dev_provider: str | None = None
) -> None:
    from rich.panel import Panel
    from rich.table import Table

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only for display
    base = f"http://{shown}:{port}"
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("UI", f"{base}/")
    table.add_row("API", f"{base}/api")
    table.add_row("Docs", f"{base}/api/docs")
    table.add_row("OpenAPI", f"{base}/api/openapi.json")
    table.add_row("Database", _redact(settings.database_url))
    if dev_provider:
        table.add_row("Sign-in", f"Continue with Dev (local OpenID provider at {dev_provider})")
    if settings.is_development:
        table.add_row("Mail", f"{base}/dev/mail")
        table.add_row("Analytics", f"{base}/dev/analytics")
        table.add_row("Webhooks", f"{base}/dev/webhooks (an endpoint to try: {base}/dev/webhooks/inbox)")
    table.add_row("Errors", _errors_row(settings, base))
    table.add_row("Entities", ", ".join(e.route for e in schema.entities.values()))
    console.print(Panel(table, title=f"[bold]{schema.app_name}[/] — Tenantry {mode}", expand=False))


def _errors_row(settings: Settings, base: str) -> str:
    """Where unexpected errors go: Sentry (its host, not the DSN's key), ``/dev/errors``, or nowhere."""
    if settings.sentry.dsn:
        from urllib.parse import urlsplit

        return f"Sentry at {urlsplit(settings.sentry.dsn).hostname} (SENTRY_DSN)"
    if settings.is_development and settings.sentry.dev_errors:
        return f"{base}/dev/errors"
    return "not tracked (set SENTRY_DSN)"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@app.command()
def dev(
    schema: SchemaOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Restart when files change.")] = True,
    allow_destructive: Annotated[
        bool, typer.Option("--allow-destructive", help="Let automatic schema changes drop columns and tables.")
    ] = False,
    dev_sign_in: Annotated[
        bool,
        typer.Option(
            "--dev-sign-in/--no-dev-sign-in",
            help="Run a local OpenID provider so 'Continue with Dev' works offline (when no OIDC provider is set).",
        ),
    ] = True,
    client: Annotated[
        list[str] | None,
        typer.Option(
            "--client",
            help="Keep a typed client up to date: LANGUAGE:DIR (typescript or python), repeatable.",
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every table, index and trigger the schema changes create.")
    ] = False,
) -> None:
    """Development server: SQLite by default, autoreload, schema changes applied automatically."""
    import uvicorn

    path = resolve_schema_path(schema)
    loaded = load_or_exit(path)
    client_dirs = _dev_clients(loaded, client or [])
    os.environ.setdefault("TENANTRY_ENV", "development")
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only for the URL
    os.environ.setdefault("TENANTRY_BASE_URL", f"http://{shown_host}:{port}")
    # Webhooks to a receiver on this machine (the /dev/webhooks inbox among them); production refuses it.
    os.environ.setdefault("TENANTRY_WEBHOOKS_ALLOW_PRIVATE", "1")
    settings = settings_or_exit()
    if settings.env != "development":
        err.print("[red]tenantry dev runs with TENANTRY_ENV=development; use tenantry serve for production.[/]")
        raise typer.Exit(2)
    dev_provider = _start_dev_identity_provider(settings) if dev_sign_in else None
    _start_dev_stripe(settings, loaded, project_dir(path))
    _set_env(
        TENANTRY_SCHEMA=str(path.resolve()),
        TENANTRY_AUTO_MIGRATE="1" if settings.dialect == "sqlite" else os.environ.get("TENANTRY_AUTO_MIGRATE", "0"),
        TENANTRY_ALLOW_DESTRUCTIVE="1" if allow_destructive else "0",
    )
    if settings.dialect == "sqlite":
        _apply_dev_changes(loaded, settings, path, allow_destructive, verbose=verbose)
    else:
        _warn_if_behind(loaded, settings, path)
    _banner(loaded, host, port, settings, "development", dev_provider)
    root = project_dir(path)
    uvicorn.run(
        "tenantry.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        reload_dirs=[str(root)] if reload else None,
        reload_includes=["*.yaml", "*.yml", "*.apsorc", "*.json", "*.py", ".env"] if reload else None,
        # .tenantry/ holds the Stripe emulator's state file, written on every change it makes.
        reload_excludes=["migrations/*", ".venv/*", "node_modules/*", ".tenantry/*", *client_dirs] if reload else None,
        log_level="info",
        # Forwarded headers are the app's to believe (``TENANTRY_TRUSTED_PROXIES``), not uvicorn's.
        proxy_headers=False,
    )


def _dev_clients(schema: Schema, specs: list[str]) -> list[str]:
    """Write the clients ``--client`` asks for and have every reload write them again.

    Returns reload exclusions for the clients' folders: writing a client must not restart the server.
    """
    from tenantry.clients import parse_client_specs

    if not specs:
        return []
    try:
        pairs = parse_client_specs(";".join(specs))
    except ValueError as exc:
        err.print(f"[red]--client:[/] {exc}")
        raise typer.Exit(2) from None
    resolved = [(language, directory.resolve()) for language, directory in pairs]
    _set_env(TENANTRY_DEV_CLIENTS=";".join(f"{language}:{directory}" for language, directory in resolved))
    for language, directory in resolved:
        _write_client(schema, language, directory)
    return [f"{directory}/*" for _, directory in resolved]


def _write_client(schema: Schema, language: Language, directory: Path) -> None:
    from tenantry.clients import write_client

    try:
        changed = write_client(schema, language, directory)
    except OSError as exc:
        err.print(f"[red]Could not write the {language} client to {directory}:[/] {exc}")
        raise typer.Exit(1) from None
    state = f"{len(changed)} file{'s' if len(changed) != 1 else ''} written" if changed else "up to date"
    shown = {"typescript": "TypeScript", "python": "Python"}[language]
    console.print(f"[green]{shown} client[/] {directory} ({state})", highlight=False)


def _start_dev_identity_provider(settings: Settings) -> str | None:
    """Serve the local OpenID provider and register it as the "dev" provider, unless one is configured.

    It runs in this (parent) process, so it survives the reloads of the app's worker process.
    """
    if settings.auth.oidc_providers:
        return None
    base_url = settings.base_url
    from tenantry.emulators.oidc import OIDCClient, start_oidc_emulator

    callbacks = [f"{base_url}/api/auth/callback/{provider}" for provider in ("dev", "github", "google")]
    client = OIDCClient("tenantry-dev", "tenantry-dev-secret", callbacks, name="Tenantry (development)")
    try:
        server = start_oidc_emulator([client], port=DEV_IDP_PORT)
    except OSError:
        server = start_oidc_emulator([client], port=0)  # the usual port is taken: any free one
    provider = {
        "id": "dev",
        "name": "Dev",
        "issuer": server.base_url,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    os.environ["TENANTRY_OIDC_PROVIDERS"] = json.dumps([provider])
    return server.base_url


def _start_dev_stripe(settings: Settings, schema: Schema, root: Path) -> None:
    """Serve the local Stripe emulator and point billing at it, unless Stripe keys are configured.

    Like the identity provider it runs in this (parent) process, so it survives reloads. Its objects
    are kept in a file beside the development database, so the customers and subscriptions the
    database refers to survive a restart; each app process creates its plans' prices in it at
    start-up (``TENANTRY_DEV_STRIPE_EMULATOR``), so a plan added while the server runs can be bought.
    """
    from tenantry.emulators.stripe import start_stripe_emulator

    if settings.billing.secret_key is not None or "subscriptions" not in schema.entities:
        return
    base_url = settings.base_url
    secret = "whsec_dev_" + secrets.token_hex(16)
    options: dict[str, Any] = {
        "webhook_url": f"{base_url}/api/billing/webhook",
        "webhook_secret": secret,
        "state_file": dev_stripe_state_file(settings.database_url, root),
    }
    try:
        _, server = start_stripe_emulator(port=DEV_STRIPE_PORT, **options)
    except OSError:
        _, server = start_stripe_emulator(port=0, **options)  # the usual port is taken
    dev_key = "sk_test_tenantry_dev"  # any test key: the emulator checks only the prefix
    _set_env(
        STRIPE_SECRET_KEY=dev_key,
        STRIPE_WEBHOOK_SECRET=secret,
        STRIPE_API_BASE=server.base_url,
        TENANTRY_DEV_STRIPE_EMULATOR="1",
    )
    console.print(f"Stripe: local emulator at {server.base_url} (no STRIPE_SECRET_KEY set)", highlight=False)


def dev_stripe_state_file(database_url: str, root: Path) -> Path | None:
    """Where ``tenantry dev`` keeps the Stripe emulator's objects: ``.tenantry/stripe-emulator.json``
    beside the SQLite database file (in the project folder for PostgreSQL); none for an in-memory database.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return root / ".tenantry" / "stripe-emulator.json"
    if not url.database or url.database == ":memory:" or "mode=memory" in str(url.query):
        return None
    return Path(url.database).resolve().parent / ".tenantry" / "stripe-emulator.json"


def _apply_dev_changes(
    schema: Schema, settings: Settings, path: Path, allow_destructive: bool, *, verbose: bool = False
) -> None:
    from tenantry.app import app_tables
    from tenantry.db.migrations import MigrationError, migrations_dir, sync_schema, upgrade

    tables = app_tables(schema, settings)
    root = project_dir(path)
    try:
        with console.status("Applying schema changes to the development database…"):
            if any((migrations_dir(root) / "versions").glob("*.py")):
                upgrade(settings.database_url, tables, root)
            result = sync_schema(settings.database_url, tables, allow_destructive=allow_destructive)
    except MigrationError as exc:
        err.print(f"[red]Could not migrate the development database:[/] {exc}")
        raise typer.Exit(1) from None
    summary, others = summarize_changes(result.applied)
    if summary and not verbose:
        console.print(f"[green]{summary}[/] (--verbose lists them)", highlight=False)
    for line in result.applied if verbose else others:
        console.print(f"  [green]applied[/] {line}", highlight=False)
    for line in result.skipped:
        console.print(f"  [yellow]skipped[/] {line}")
    if result.skipped:
        console.print("  [yellow]Run with --allow-destructive to apply the skipped changes.[/]")


_CREATED_KINDS = {"table": "table", "index": "index", "unique index": "index", "trigger": "trigger"}


def summarize_changes(applied: list[str]) -> tuple[str | None, list[str]]:
    """``Created 24 tables, 31 indexes and 2 triggers`` for the objects ``applied`` creates, and the
    changes that say more than that (a new column, a widened type), to be listed one by one.

    A first start creates dozens of objects whose names mean little to a developer; a later schema
    edit's one new column is worth its own line.
    """
    counts: dict[str, int] = {}
    others: list[str] = []
    for line in applied:
        words = line.split(" on ")[0].split()
        kind = " ".join(words[1:-1]) if len(words) >= 3 and words[0] == "create" else ""
        if kind in _CREATED_KINDS:
            counts[_CREATED_KINDS[kind]] = counts.get(_CREATED_KINDS[kind], 0) + 1
        else:
            others.append(line)
    if not counts:
        return None, others
    plural = {"table": "tables", "index": "indexes", "trigger": "triggers"}
    parts = [f"{n} {kind if n == 1 else plural[kind]}" for kind, n in counts.items()]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Created {text}", others


def _warn_if_behind(schema: Schema, settings: Settings, path: Path) -> None:
    from tenantry.app import app_tables
    from tenantry.db.migrations import MigrationError, status

    try:
        state = status(settings.database_url, app_tables(schema, settings), project_dir(path))
    except MigrationError as exc:
        err.print(f"[yellow]Could not read the migration status:[/] {exc}")
        return
    except Exception as exc:  # the database may be down; the server will say so too
        err.print(f"[yellow]Could not reach the database:[/] {exc}")
        return
    if state.pending:
        err.print(f"[yellow]{len(state.pending)} migration(s) not applied:[/] run [bold]tenantry migrate up[/]")
    if state.unmigrated:
        err.print("[yellow]The schema has changes no migration makes yet:[/] run [bold]tenantry migrate make -m …[/]")


@app.command()
@without_collections
def serve(
    schema: SchemaOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",  # noqa: S104 - a server
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    grace: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="On SIGTERM, seconds requests in flight get to finish (default TENANTRY_SHUTDOWN_GRACE, 30).",
        ),
    ] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Apply pending migrations before starting.")] = False,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Believe X-Forwarded-* from the proxies TENANTRY_TRUSTED_PROXIES names (none by default); "
            "--no-proxy-headers believes none, whatever it names.",
        ),
    ] = True,
) -> None:
    """Production server (TENANTRY_ENV defaults to production): refuses to start on an unmigrated database.

    On SIGTERM it stops accepting connections at once, lets requests in flight finish (up to
    --grace seconds), hands back its outbox work and exits with status 0.
    """
    from tenantry.server.command import ServeRequest, become_node

    path = resolve_schema_path(schema)
    load_or_exit(path)  # its mistakes at once, with file and line, before anything starts
    request = ServeRequest(
        schema=path, host=host, port=port, workers=workers, grace=grace, migrate=migrate, proxy_headers=proxy_headers
    )
    try:
        become_node(path, request)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        err.print(f"[red]Cannot listen on {host}:{port}:[/] {exc}")
        raise typer.Exit(1) from None


def check_before_serving(request: CheckRequest) -> Verdict:
    """What ``tenantry serve``'s node runs before it serves (see ``tenantry.server.check``).

    The settings are valid and the database is at this code's head (migrated first if asked);
    the banner is shown then. A refusal is explained here and answered with the exit status the
    node ends with: 2 for settings, 1 for the database.
    """
    from tenantry.server.check import Verdict

    path = resolve_schema_path(None)  # the node's environment names it
    try:
        loaded = load_or_exit(path)
        settings = settings_or_exit()
        heads = _require_migrated(path, loaded, settings, migrate=request.migrate)
    except typer.Exit as exc:
        return Verdict(status=exc.exit_code)
    workers = request.workers
    _banner(loaded, request.host, request.port, settings, f"production · {workers} worker{'s' if workers > 1 else ''}")
    return Verdict(status=0, heads=heads, grace=settings.shutdown_grace)


@app.command()
def worker(
    schema: SchemaOption = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Apply pending migrations before starting.")] = False,
) -> None:
    """Background worker: delivers the outbox (mail, webhooks, realtime pushes) and runs the sweeps; no HTTP.

    Pair it with web nodes started with TENANTRY_BACKGROUND=false, so that deliveries never take
    CPU from requests. On PostgreSQL the web nodes wake it as soon as a write commits. Stops on
    SIGTERM or Ctrl-C once the deliveries in hand are done.
    """
    path = resolve_schema_path(schema)
    loaded = load_or_exit(path)
    os.environ.setdefault("TENANTRY_ENV", "production")
    _set_env(TENANTRY_SCHEMA=str(path.resolve()), TENANTRY_AUTO_MIGRATE="0", TENANTRY_BACKGROUND="true")
    settings = settings_or_exit()
    from tenantry.health import hand_down_heads

    hand_down_heads(_require_migrated(path, loaded, settings, migrate=migrate))
    if settings.dialect != "postgresql":
        console.print(
            "[yellow]On SQLite nothing wakes this worker when a web process writes: it finds new work at "
            "every poll (1 s).[/]"
        )
    if settings.redis_url is None:
        console.print(
            "[yellow]REDIS_URL is not set: realtime pushes made by this worker reach no web process's sockets.[/]"
        )
    console.print(f"[bold green]Tenantry worker[/] for [bold]{loaded.title}[/] · {settings.env} · Ctrl-C to stop")
    import asyncio

    from tenantry.app import run_worker

    asyncio.run(run_worker())


def _require_migrated(path: Path, loaded: Schema, settings: Settings, *, migrate: bool) -> tuple[str, ...]:
    """Apply pending migrations if asked; exit unless the database is at this code's head and matches the schema.

    Returns the code's head revisions.
    """
    from tenantry.app import app_tables
    from tenantry.db import verified

    tables = app_tables(loaded, settings)
    root = project_dir(path)
    # A check that passed for this code and this database as it is now: nothing to compare again.
    code = verified.code_fingerprint(tables, root)
    heads = verified.verified_heads(settings.database_url, code)
    if heads is not None:
        return heads
    from tenantry.db.migrations import DatabaseAheadError, MigrationError, status, upgrade

    try:
        if migrate:
            with console.status("Applying migrations…"):
                upgrade(settings.database_url, tables, root, on_wait=_waiting_for_another_node)
        state = status(settings.database_url, tables, root, on_wait=_waiting_for_another_node)
    except DatabaseAheadError as exc:
        err.print(f"[red]This code is older than the database; not starting.[/] {exc}")
        raise typer.Exit(1) from None
    except MigrationError as exc:
        err.print(f"[red]Migration problem:[/] {exc}")
        raise typer.Exit(1) from None
    except OSError as exc:
        err.print(f"[red]Cannot reach the database:[/] {exc}")
        raise typer.Exit(1) from None
    if state.pending:
        err.print(
            f"[red]{len(state.pending)} migration(s) are not applied.[/] "
            "Run [bold]tenantry migrate up[/] or pass --migrate."
        )
        raise typer.Exit(1)
    if state.unmigrated:
        err.print("[red]The database does not match the schema:[/]")
        for line in state.unmigrated:
            err.print(f"  {line}")
        err.print("Create a migration with [bold]tenantry migrate make -m MESSAGE[/] and apply it.")
        raise typer.Exit(1)
    verified.remember(settings.database_url, verified.fingerprint(code, state.catalog, state.current), state.heads)
    return state.heads


def _waiting_for_another_node() -> None:
    console.print("[yellow]Another process is migrating this database; waiting for it to finish…[/]")


# -- schema -----------------------------------------------------------------------------------


@schema_app.command("check")
def schema_check(file: Annotated[Path | None, typer.Argument(help="Schema file to check.")] = None) -> None:
    """Check a schema file; every problem is reported as FILE:LINE: message (exit status 1)."""
    path = resolve_schema_path(file)
    loaded = load_or_exit(path)
    from rich.table import Table

    table = Table(title=f"{path} — {loaded.title}", show_lines=False)
    for column in ("entity", "route", "fields", "tenant", "relations"):
        table.add_column(column)
    for entity in loaded.entities.values():
        kind = f" [dim]({entity.system})[/]" if entity.system else ""
        table.add_row(
            entity.name + kind,
            f"/api/{entity.route}",
            str(len(entity.fields)),
            entity.tenant_field or "—",
            ", ".join(r.name for r in entity.relations) or "—",
        )
    console.print(table)
    console.print(f"[green]OK[/]: {len(loaded.entities)} entities, no problems.")


# -- check ------------------------------------------------------------------------------------


@app.command()
def check(
    schema: SchemaOption = None,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Also list every setting that is unsafe in production, with its fix.")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes per node the deploy will run (tenantry serve --workers).")
    ] = 1,
) -> None:
    """Check the schema and the settings; with --deploy, the production settings too (exit status 1 when serious)."""
    load_or_exit(resolve_schema_path(schema))
    if not deploy:
        settings_or_exit()
        console.print("[green]OK[/]: the schema and the settings load. Add [bold]--deploy[/] before deploying.")
        return
    from tenantry.deploy import deploy_problems

    declared = os.environ.get("TENANTRY_ENV")
    # Read as development, so that what production would refuse outright is listed with the rest.
    settings = settings_or_exit(TENANTRY_ENV="development")
    problems = deploy_problems(settings, workers=workers, declared_env=declared)
    if not problems:
        console.print(f"[green]No problems[/]: nothing unsafe for production found ({workers} worker(s) per node).")
        return
    from rich.table import Table

    table = Table(title="Settings unsafe in production", show_lines=True, expand=True)
    table.add_column("level", no_wrap=True)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("problem", ratio=3, overflow="fold")
    table.add_column("fix", ratio=2, overflow="fold")
    for problem in sorted(problems, key=lambda p: (not p.serious, p.id)):
        level = "[red]error[/]" if problem.serious else "[yellow]warning[/]"
        table.add_row(level, problem.id, problem.message, problem.fix)
    console.print(table)
    serious = sum(p.serious for p in problems)
    summary = f"{serious} serious, {len(problems) - serious} warning(s)."
    if serious:
        console.print(f"[bold red]{summary}[/] Fix the errors before deploying.")
        raise typer.Exit(1)
    console.print(f"[yellow]{summary}[/]")


# -- migrate ----------------------------------------------------------------------------------


def _migration_target(schema: Path | None) -> tuple[Schema, Settings, Any, Path]:
    from tenantry.app import app_tables

    path = resolve_schema_path(schema)
    loaded = load_or_exit(path)
    settings = settings_or_exit()
    return loaded, settings, app_tables(loaded, settings), project_dir(path)


@migrate_app.command("make")
def migrate_make(
    message: Annotated[str, typer.Option("--message", "-m", help="What this migration does.")],
    schema: SchemaOption = None,
    allow_destructive: Annotated[
        bool, typer.Option("--allow-destructive", help="Allow dropping tables/columns and narrowing types.")
    ] = False,
) -> None:
    """Write a migration that brings the database schema in line with the schema file."""
    from tenantry.db.migrations import DestructiveChangeError, MigrationError, make_revision

    _, settings, tables, root = _migration_target(schema)
    try:
        with console.status("Comparing the database with the schema…"):
            path = make_revision(settings.database_url, tables, root, message, allow_destructive=allow_destructive)
    except DestructiveChangeError as exc:
        err.print("[red]This migration would destroy data:[/]")
        for line in exc.operations:
            err.print(f"  - {line}")
        err.print("Re-run with [bold]--allow-destructive[/] if that is intended.")
        raise typer.Exit(1) from None
    except MigrationError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if path is None:
        console.print("[green]No changes[/]: the database already matches the schema.")
        return
    console.print(f"[green]Created[/] {path}")
    console.print("Review it, then run [bold]tenantry migrate up[/].")


@migrate_app.command("up")
def migrate_up(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    schema: SchemaOption = None,
) -> None:
    """Apply migrations up to REVISION (all by default)."""
    from tenantry.db.migrations import upgrade

    _move_to_revision(upgrade, revision, schema, "Applying migrations…", "upgraded")


@migrate_app.command("down")
def migrate_down(
    revision: Annotated[str, typer.Argument(help="Target revision (default: one step back).")] = "-1",
    schema: SchemaOption = None,
) -> None:
    """Revert migrations down to REVISION (one step by default)."""
    from tenantry.db.migrations import downgrade

    _move_to_revision(downgrade, revision, schema, "Reverting…", "downgraded")


def _move_to_revision(move: Any, revision: str, schema: Path | None, doing: str, done: str) -> None:
    from tenantry.db.migrations import MigrationError

    _, settings, tables, root = _migration_target(schema)
    try:
        with console.status(doing):
            move(settings.database_url, tables, root, revision)
    except MigrationError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"[green]Database {done} to {revision}.[/]")


@migrate_app.command("status")
def migrate_status(schema: SchemaOption = None) -> None:
    """Show applied and pending migrations, and schema changes no migration makes yet."""
    from tenantry.db.migrations import MigrationError, status

    _, settings, tables, root = _migration_target(schema)
    try:
        state = status(settings.database_url, tables, root)
    except MigrationError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"Database: {_redact(settings.database_url)}")
    console.print(f"Current revision: [bold]{', '.join(state.current) or '(none)'}[/]")
    console.print(f"Head revision:    [bold]{', '.join(state.heads) or '(none)'}[/]")
    if state.pending:
        console.print(f"[yellow]{len(state.pending)} pending:[/]")
        for rev in state.pending:
            console.print(f"  {rev.revision}  {rev.message}")
    if state.unmigrated:
        console.print("[yellow]Schema changes without a migration:[/]")
        for line in state.unmigrated:
            console.print(f"  {line}")
    if state.up_to_date:
        console.print("[green]Up to date.[/]")
    else:
        raise typer.Exit(1)


# -- client ----------------------------------------------------------------------------------


@app.command()
def client(
    language: Annotated[Language, typer.Argument(help="typescript or python.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write the client package to.")],
    schema: SchemaOption = None,
) -> None:
    """Write a typed client of the API: a fetch-based TypeScript module, or a Python package on httpx."""
    loaded = load_or_exit(resolve_schema_path(schema))
    _write_client(loaded, language, output)
    entities = ", ".join(e.route for e in loaded.entities.values())
    if language == "typescript":
        usage = f'import {{ createClient }} from "./{output.name}/index.js"\nconst api = createClient({{ baseUrl }})'
    else:
        usage = f"from {output.name} import Client\napi = Client(base_url, token=token)"
    console.print(f"Entities: {entities}\n\n{usage}", highlight=False)


# -- openapi / routes -------------------------------------------------------------------------


@app.command()
def openapi(
    schema: SchemaOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")] = None,
) -> None:
    """Print the OpenAPI 3.1 document of the API."""
    from tenantry.app import openapi_document

    loaded = load_or_exit(resolve_schema_path(schema))
    text = json.dumps(openapi_document(loaded, settings_or_exit()), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"[green]Wrote[/] {output}")


@app.command()
def routes(schema: SchemaOption = None) -> None:
    """List every HTTP route the app serves."""
    from tenantry.app import openapi_document

    loaded = load_or_exit(resolve_schema_path(schema))
    spec = openapi_document(loaded, settings_or_exit())
    from rich.table import Table

    table = Table(title=f"{loaded.title} routes")
    table.add_column("method", style="bold")
    table.add_column("path")
    table.add_column("summary")
    table.add_row("GET", "/api/health", "Liveness and database check")
    table.add_row("GET", "/api/openapi.json", "OpenAPI 3.1 document")
    table.add_row("GET", "/api/docs", "Interactive API documentation")
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            table.add_row(method.upper(), path, op.get("summary", ""))
    console.print(table)


# -- capabilities' own commands (``tenantry admin`` …) ----------------------------------------


class CliHost:
    """What ``Capability.commands`` get: the consoles, and the configured app with its database open."""

    console = console
    err = err

    @contextlib.asynccontextmanager
    async def running_app(self, schema: Path | None) -> AsyncIterator[App]:
        from tenantry.app import Tenantry

        loaded = load_or_exit(resolve_schema_path(schema))
        runtime = Tenantry(loaded, settings_or_exit())
        await runtime.db.open()
        try:
            yield runtime
        finally:
            await runtime.db.close()


if __name__ == "__main__":
    main()
