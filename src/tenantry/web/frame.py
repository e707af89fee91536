"""The app frame around every signed-in page: the brand (name, logo, colour), the sidebar's menu,
the favicon, and the 404 page for paths nothing else serves.

What goes in the menu is declared in the schema (``settings: display: menu`` and each entity's
``display: {icon, group, menu}``, see ``tenantry.schema.appearance``). By default it lists the
entities people work with, in schema order: the tables the system keeps for itself (users,
organizations, subscriptions, the audit log) are reached through Settings and Admin instead.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Route

from tenantry.schema import Entity, Schema
from tenantry.schema.icons import ICONS

DEFAULT_COLOR = "#4f46e5"
DEFAULT_ICON = "layers"
# Tables the system fills and people manage through Settings and Admin pages, not as lists.
SYSTEM_TABLES = frozenset({"subscriptions"})
FAVICON_CACHE = "public, max-age=3600"


@functools.lru_cache(maxsize=256)
def icon(name: str | None, label: str | None = None) -> Markup:
    """An icon as inline SVG (decorative unless ``label`` names it for screen readers). Remembered:
    a page draws a dozen, the same ones on every page."""
    drawing = ICONS.get(name or DEFAULT_ICON, ICONS[DEFAULT_ICON])
    quoted = escape(label or "", {'"': "&quot;"})
    a11y = f'role="img" aria-label="{quoted}"' if label else 'aria-hidden="true"'
    return Markup(  # noqa: S704 - the drawings are the package's own, the label is escaped
        f'<svg class="icon" {a11y} focusable="false" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{drawing}</svg>'
    )


def initials(text: str) -> str:
    """``Ada Lovelace`` -> ``AL``; ``ada@example.com`` -> ``A``: an avatar's letters."""
    words = [w for w in text.split("@")[0].replace(".", " ").replace("_", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or "?"


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def text_on(color: str) -> str:
    """White or near-black, whichever reads better on ``color`` (WCAG contrast)."""
    lum = _luminance(color)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (_luminance("#0a0a0a") + 0.05)
    return "#ffffff" if on_white >= on_dark else "#0a0a0a"


@dataclass(frozen=True)
class Brand:
    """The app's name, colour and logo, as every page shows them."""

    name: str
    color: str
    color_fg: str
    logo: Path | None

    @property
    def initials(self) -> str:
        return initials(self.name)

    @property
    def logo_url(self) -> str | None:
        return f"/brand/logo{self.logo.suffix.lower()}" if self.logo else None

    def favicon_svg(self) -> str:
        """A rounded square in the brand colour with the app's initial: the default favicon."""
        letter = escape(self.initials[:1])
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
            f'<rect width="64" height="64" rx="14" fill="{self.color}"/>'
            f'<text x="32" y="44" text-anchor="middle" font-family="system-ui,sans-serif" font-size="34" '
            f'font-weight="700" fill="{self.color_fg}">{letter}</text></svg>'
        )


def brand_of(schema: Schema) -> Brand:
    """The brand ``schema`` declares (``settings: display:``), with defaults."""
    color = schema.app.color or DEFAULT_COLOR
    return Brand(schema.app_name, color, text_on(color), Path(schema.app.logo) if schema.app.logo else None)


@dataclass(frozen=True)
class NavItem:
    """One entry of the sidebar."""

    label: str
    href: str
    icon: Markup


@dataclass(frozen=True)
class NavGroup:
    """Entries under one heading (``label`` None: no heading)."""

    label: str | None
    items: tuple[NavItem, ...]


def in_menu_by_default(entity: Entity) -> bool:
    """Entities people work with are listed; the system's own tables are not."""
    return entity.system is None and entity.name.lower() not in SYSTEM_TABLES


def filled_by_system(entity: Entity) -> bool:
    """Rows the app writes itself (billing's subscriptions, the audit log): no "New" for people."""
    return entity.system == "audit_logs" or entity.name.lower() in SYSTEM_TABLES


def _item(entity: Entity, icons: dict[str, str]) -> NavItem:
    label = entity.display.plural if entity.display else entity.name
    name = icons.get(entity.name.lower()) or (entity.display.icon if entity.display else None)
    return NavItem(label, f"/app/{entity.route}", icon(name))


def menu(schema: Schema, readable: Sequence[Entity]) -> list[NavGroup]:
    """The sidebar's groups for a viewer who may read ``readable``."""
    allowed = {e.name.lower(): e for e in readable}
    icons = {name.lower(): drawing for name, drawing in schema.app.icons}
    if schema.app.menu is not None:
        groups = [
            NavGroup(g.label, tuple(_item(allowed[n.lower()], icons) for n in g.entities if n.lower() in allowed))
            for g in schema.app.menu
        ]
        return [g for g in groups if g.items]
    by_label: dict[str | None, list[NavItem]] = {None: []}
    for entity in schema.entities.values():
        listed = entity.display.menu if entity.display and entity.display.menu is not None else None
        if entity.name.lower() not in allowed or not (in_menu_by_default(entity) if listed is None else listed):
            continue
        by_label.setdefault(entity.display.group if entity.display else None, []).append(_item(entity, icons))
    return [NavGroup(label, tuple(items)) for label, items in by_label.items() if items]


def favicon_response(brand: Brand) -> Response:
    """The logo when it is an icon-sized format, else the generated brand square."""
    if brand.logo is not None and brand.logo.suffix.lower() in (".svg", ".ico", ".png"):
        return logo_response(brand)
    return Response(brand.favicon_svg(), media_type="image/svg+xml", headers={"cache-control": FAVICON_CACHE})


def logo_response(brand: Brand) -> Response:
    """The schema's logo file (its type from its name)."""
    assert brand.logo is not None  # the route exists only with a logo
    media = mimetypes.guess_type(brand.logo.name)[0] or "application/octet-stream"
    if brand.logo.suffix.lower() == ".svg":
        media = "image/svg+xml"
    # An SVG opened on its own could run script: the policy forbids it everything.
    headers = {
        "cache-control": FAVICON_CACHE,
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return FileResponse(brand.logo, media_type=media, headers=headers)


def brand_routes(brand: Brand) -> list[Route]:
    """``/favicon.ico``, ``/favicon.svg`` and, with a logo, ``/brand/logo.<ext>``."""

    async def favicon(request: Request) -> Response:
        return favicon_response(brand)

    async def logo(request: Request) -> Response:
        return logo_response(brand)

    routes = [
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/favicon.svg", favicon, methods=["GET"]),
    ]
    if brand.logo_url:
        routes.append(Route(brand.logo_url, logo, methods=["GET"]))
    return routes


def other_methods(request: Request, catch_all: Route) -> list[str]:
    """Methods other routes serve at this path (a ``DELETE /dashboard`` is a 405, not a 404)."""
    allowed: set[str] = set()
    router = request.scope.get("router")
    for route in getattr(router, "routes", ()):
        if route is catch_all or not isinstance(route, Route):
            continue
        match, _ = route.matches(request.scope)
        if match is Match.PARTIAL and route.methods:
            allowed |= route.methods
    return sorted(allowed)
