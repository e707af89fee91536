"""Render the transactional emails: a subject, a plain-text body and its HTML twin, branded from settings.

HTML templates are autoescaped (a user's name containing markup shows as text); the plain-text
twin is not (it is never parsed as markup). Undefined variables fail loudly instead of vanishing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from email.utils import parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from tenantry.mail.errors import MailTemplateError
from tenantry.mail.settings import MailSettings

TEMPLATE_DIR = Path(__file__).parent / "templates"


class _Spec(NamedTuple):
    subject: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    expires_in: int  # seconds, the default of the matching Better Auth option


# The default expiries follow Better Auth's: verification and reset 1 h, account deletion 1 day,
# invitations 48 h, magic links 5 min. Callers pass ``expires_in`` when theirs differ.
TEMPLATES: dict[str, _Spec] = {
    "verify_email": _Spec("Verify your email for {{ app_name }}", (), ("email",), 3600),
    "reset_password": _Spec("Reset your {{ app_name }} password", (), ("email",), 3600),
    "change_email": _Spec("Confirm your new email address for {{ app_name }}", ("new_email",), ("email",), 3600),
    "delete_account": _Spec("Confirm deleting your {{ app_name }} account", (), ("email",), 86400),
    "invitation": _Spec(
        "{% if inviter_name %}{{ inviter_name }} invited you{% else %}You are invited{% endif %}"
        " to join {{ organization_name }} on {{ app_name }}",
        ("organization_name",),
        ("inviter_name", "inviter_email", "role"),
        172800,
    ),
    "magic_link": _Spec("Your sign-in link for {{ app_name }}", (), ("email",), 300),
    "two_factor_otp": _Spec("{{ otp }} is your {{ app_name }} sign-in code", ("otp",), ("email",), 180),
    "webhook_disabled": _Spec(
        "A {{ app_name }} webhook endpoint of {{ organization_name }} was disabled",
        ("organization_name", "endpoint_url", "reason"),
        ("email",),
        0,
    ),
}


class Rendered(NamedTuple):
    """A rendered email: ``subject, text, html = render(...)``."""

    subject: str
    text: str
    html: str


def humanize_duration(value: int | float | dt.timedelta | str) -> str:
    """``3600`` -> ``1 hour``, ``172800`` -> ``2 days``, ``300`` -> ``5 minutes``; text is kept as given."""
    if isinstance(value, str):
        return value
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds < 0:
        raise MailTemplateError("expires_in must not be negative")
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        # Whole units read best; 90 minutes stays "90 minutes" rather than "1.5 hours".
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@lru_cache(maxsize=2)
def _environment(html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=html,  # noqa: S701 - False only for the plain-text twin and the subject, never parsed as HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["duration"] = humanize_duration
    return env


def branding(settings: MailSettings) -> dict[str, Any]:
    """The variables every template sees, from the settings."""
    support = settings.support_email
    return {
        "app_name": settings.app_name,
        "brand_color": settings.brand_color,
        "logo_url": settings.logo_url,
        "support_email": support,
        "support_address": parseaddr(support)[1] if support else None,
    }


def render(template_name: str, context: Mapping[str, Any], settings: MailSettings) -> Rendered:
    """Render ``template_name`` (``verify_email``, ``reset_password``, ``change_email``, ``delete_account``,
    ``invitation``, ``magic_link``) with ``context``, which needs ``url`` (the action link) and the
    template's own required keys; ``name`` and ``expires_in`` (seconds, timedelta or text) are optional.
    """
    spec = TEMPLATES.get(template_name)
    if spec is None:
        raise MailTemplateError(f"unknown mail template {template_name!r}; known: {', '.join(sorted(TEMPLATES))}")
    missing = [k for k in ("url", *spec.required) if not context.get(k)]
    if missing:
        raise MailTemplateError(f"mail template {template_name!r} needs {', '.join(missing)}")
    if not str(context["url"]).startswith(("https://", "http://")):
        # The URL becomes a link: a javascript: or data: URL must never get there.
        raise MailTemplateError(f"the action url must be an http(s) URL, not {context['url']!r}")
    values: dict[str, Any] = dict.fromkeys(("name", *spec.optional))
    values["expires_in"] = spec.expires_in
    values.update(context)
    values.update(branding(settings))
    values["expires"] = humanize_duration(values["expires_in"])
    try:
        subject = _environment(False).from_string(spec.subject).render(values)
        # A header cannot hold line breaks; a name typed with one must not split the subject.
        values["subject"] = re.sub(r"\s+", " ", subject).strip()
        text = _environment(False).get_template(f"{template_name}.txt").render(values)
        html = _environment(True).get_template(f"{template_name}.html").render(values)
    except jinja2.UndefinedError as exc:
        raise MailTemplateError(f"mail template {template_name!r}: {exc.message}") from exc
    return Rendered(values["subject"], text.strip() + "\n", html)
