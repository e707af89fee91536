"""The web app's look as a schema declares it: ``settings: display:`` (name, logo, colour, menu)
and the menu options of an entity's ``display`` (icon, group, menu).

Every mistake is a problem at its line, like the rest of the schema, so ``tenantry check`` and
``tenantry dev`` name the line of a misspelt icon or an entity the menu lists but the schema lacks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tenantry.schema.errors import ProblemList
from tenantry.schema.icons import ICONS
from tenantry.schema.model import AppDisplay, Location, MenuGroup

APP_KEYS = ("name", "logo", "color", "menu")
ENTITY_MENU_KEYS = ("icon", "group", "menu")
LOGO_TYPES = (".svg", ".png", ".jpg", ".jpeg", ".webp", ".ico")
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
MAX_NAME = 60

# Where a key was written: the line of ``display.<key>`` (or of the block itself).
LineOf = Callable[[str], Location | None]


def check_icon(value: Any, where: str, loc: Location | None, problems: ProblemList) -> str | None:
    """An icon name the web app can draw, or a problem listing the names it knows."""
    if value is None:
        return None
    if isinstance(value, str) and value in ICONS:
        return value
    problems.at(f"unknown icon {value!r} for {where} (icons: {', '.join(sorted(ICONS))})", loc)
    return None


def check_color(value: Any, loc: Location | None, problems: ProblemList) -> str | None:
    """``#rgb`` or ``#rrggbb`` as ``#rrggbb`` (it lands in the pages' CSS: nothing else may)."""
    if isinstance(value, str) and _HEX.match(value):
        digits = value[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return "#" + digits.lower()
    problems.at(f"'color' must be a hex colour like \"#4f46e5\" (quoted: '#' starts a comment), not {value!r}", loc)
    return None


def check_logo(value: Any, schema_file: str, loc: Location | None, problems: ProblemList) -> str | None:
    """The logo's absolute path: an image file, relative to the schema file."""
    if not isinstance(value, str) or not value.strip():
        problems.at("'logo' is the path of an image file, relative to the schema file", loc)
        return None
    path = Path(value)
    if not path.is_absolute():
        base = Path(schema_file).parent if not schema_file.startswith("<") else Path.cwd()
        path = base / path
    if path.suffix.lower() not in LOGO_TYPES:
        problems.at(f"'logo' must be an image ({', '.join(LOGO_TYPES)}), not {value!r}", loc)
        return None
    if not path.is_file():
        problems.at(f"'logo' file {value!r} does not exist (looked for {path})", loc)
        return None
    return str(path.resolve())


def read_menu(
    value: Any, loc: Location | None, problems: ProblemList
) -> tuple[tuple[MenuGroup, ...] | None, tuple[tuple[str, str], ...]]:
    """The menu's groups and the icons it gives entities, from a list of entries:

    - ``projects``: an entity; ``projects: folder``: an entity with its icon;
    - ``Planning: [tasks, {milestones: flag}]``: entities under a heading.

    Consecutive entries outside a heading form a group without one."""
    hint = "'menu' lists entities ('projects' or 'projects: folder') and groups ('Heading: [entity, ...]')"
    if not isinstance(value, list):
        problems.at(hint, loc)
        return None, ()
    groups: list[MenuGroup] = []
    icons: list[tuple[str, str]] = []
    loose: list[str] = []

    def entry(item: Any) -> str | None:
        """An entity entry's name (its icon noted), or None when ``item`` is not one."""
        if isinstance(item, str):
            return item
        if isinstance(item, dict) and len(item) == 1:
            name, icon = next(iter(item.items()))
            if isinstance(name, str) and isinstance(icon, str):
                if check_icon(icon, f"'{name}' in the menu", loc, problems):
                    icons.append((name, icon))
                return name
        return None

    for item in value:
        name = entry(item)
        if name is not None:
            loose.append(name)
            continue
        if loose:
            groups.append(MenuGroup(None, tuple(loose)))
            loose = []
        if isinstance(item, dict) and len(item) == 1:
            label, members = next(iter(item.items()))
            names = [entry(m) for m in members] if isinstance(members, list) else []
            if names and all(names):
                groups.append(MenuGroup(str(label), tuple(n for n in names if n)))
                continue
        problems.at(f"{hint}, not {item!r}", loc)
    if loose:
        groups.append(MenuGroup(None, tuple(loose)))
    return tuple(groups), tuple(icons)


def read_app_display(raw: Any, schema_file: str, line_of: LineOf, problems: ProblemList) -> AppDisplay:
    """``settings: display:`` as an ``AppDisplay``; each mistake a problem at its key's line."""
    here = line_of("")
    if not isinstance(raw, dict):
        problems.at(f"'display' in settings is a mapping with {', '.join(APP_KEYS)}", here)
        return AppDisplay()
    for key in raw:
        if key not in APP_KEYS:
            problems.at(f"unknown display setting {key!r} (settings: {', '.join(APP_KEYS)})", line_of(str(key)))
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME):
        problems.at(f"'name' is the app's name, 1 to {MAX_NAME} characters", line_of("name"))
        name = None
    menu, icons = read_menu(raw["menu"], line_of("menu"), problems) if "menu" in raw else (None, ())
    return AppDisplay(
        name=name.strip() if isinstance(name, str) else None,
        logo=check_logo(raw["logo"], schema_file, line_of("logo"), problems) if "logo" in raw else None,
        color=check_color(raw["color"], line_of("color"), problems) if "color" in raw else None,
        menu=menu,
        icons=icons,
    )


def check_menu_entities(
    menu: Iterable[MenuGroup] | None, names: Iterable[str], loc: Location | None, problems: ProblemList
) -> None:
    """Every entity the menu lists exists, and is listed once."""
    if menu is None:
        return
    known = {n.lower() for n in names}
    seen: set[str] = set()
    for group in menu:
        for name in group.entities:
            if name.lower() not in known:
                problems.at(f"the menu lists '{name}', which is not an entity of this schema", loc)
            elif name.lower() in seen:
                problems.at(f"the menu lists '{name}' twice", loc)
            seen.add(name.lower())


def entity_menu_options(
    raw: Mapping[str, Any], entity: str, loc: Location | None, problems: ProblemList
) -> dict[str, Any]:
    """An entity's ``display`` icon, group and menu, checked."""
    group = raw.get("group")
    if group is not None and not isinstance(group, str):
        problems.at(f"'group' of entity '{entity}' is a heading, e.g. 'group: Planning'", loc)
        group = None
    menu = raw.get("menu")
    if menu is not None and not isinstance(menu, bool):
        problems.at(f"'menu' of entity '{entity}' is true or false", loc)
        menu = None
    return {"icon": check_icon(raw.get("icon"), f"entity '{entity}'", loc, problems), "group": group, "menu": menu}
