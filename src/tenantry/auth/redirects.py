"""Where a client may ask to be sent: one rule for every redirect target.

``callbackURL``, ``redirectTo``, ``errorCallbackURL`` and ``newUserCallbackURL`` (in a body or a
query, on every ``/api/auth`` endpoint, OAuth and magic links included) and the pages' ``from`` and
``next`` are decided here, on the URL a browser would make of the value, never on its raw text:
``"/\\t/evil.example"`` is ``//evil.example`` to a browser (tabs and newlines are dropped,
backslashes are slashes, leading and trailing spaces and control characters are stripped), and
so leaves the site.

A target is allowed when it is

- a path on this site: it begins with ``/``, and, parsed as the WHATWG URL standard parses it
  against any origin, it stays on that origin; or
- an absolute ``http``/``https`` URL of a trusted origin (the app's own, ``TENANTRY_TRUSTED_ORIGINS``).

Refused besides, as Better Auth refuses them: any control character (U+0000-U+001F, U+007F-U+009F),
whatever a browser would strip, and an encoded ``/`` or ``\\`` (``%2F``, ``%5C``) in a path, which
a client-side router may decode into ``//``; and a path that its dot segments turn into one
beginning with ``//`` (``/.//evil.example``), which on its own names a host.

What is handed on (to the ``Location`` header, the sign-in answer's ``url``, a stored OAuth state)
is the parsed URL as the parser serialises it: the very URL that was checked, in ASCII.

The parsing is ada's (``ada-url``), the WHATWG parser Node.js uses, so the decision matches the
browser's down to the standard's edge cases rather than a hand-written approximation of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ada_url import URL

# Any origin serves to resolve a relative target: only whether it stays there matters.
_PROBE_ORIGIN = "https://tenantry.invalid"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ENCODED_SEPARATOR = re.compile(r"%2f|%5c", re.IGNORECASE)
_WEB_SCHEMES = frozenset({"http:", "https:"})


def _parse(value: str, base: str | None = None) -> URL | None:
    try:
        return URL(value, base) if base is not None else URL(value)
    except ValueError:
        return None


def site_path(value: str | None) -> str | None:
    """``value`` as a path on this site (``/dashboard?tab=2``), or None when it is not one.

    The path, query and fragment are returned as a browser would request them (non-ASCII
    percent-encoded): fit for a ``Location`` header as they are.
    """
    if not value or _CONTROL.search(value) or not value.strip(" ").startswith("/"):
        return None
    parsed = _parse(value, _PROBE_ORIGIN + "/")
    if parsed is None or parsed.origin != _PROBE_ORIGIN:
        return None
    path = str(parsed.pathname)
    # Dot segments can leave a path beginning with // ("/.//evil.example"): on its own, as it is
    # handed on, that names a host.
    if path.startswith("//") or _ENCODED_SEPARATOR.search(path):
        return None
    return f"{path}{parsed.search}{parsed.hash}"


class RedirectRule:
    """The redirect targets one app allows: its own paths and the absolute URLs of trusted origins."""

    def __init__(self, is_trusted_origin: Callable[[str], bool]) -> None:
        self.is_trusted_origin = is_trusted_origin

    def resolve(self, value: str) -> str | None:
        """The target as it is to be handed on, or None when it is refused (see the module docstring)."""
        if not value or _CONTROL.search(value):
            return None
        absolute = _parse(value)
        if absolute is None:
            return site_path(value)
        if absolute.protocol not in _WEB_SCHEMES or not self.is_trusted_origin(absolute.origin):
            return None
        if _ENCODED_SEPARATOR.search(absolute.pathname):
            return None
        return str(absolute.href)
