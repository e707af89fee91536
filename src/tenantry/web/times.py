"""Times as people read them: "3 minutes ago", with the exact time on hover.

The words are computed on the server (a page reads right without scripts); ``app.js`` refreshes
them from the ``datetime`` attribute while the page stays open.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from markupsafe import Markup, escape

from tenantry.db.codecs import format_timestamp

_UNITS = (
    (365 * 86400, "year"),
    (30 * 86400, "month"),
    (7 * 86400, "week"),
    (86400, "day"),
    (3600, "hour"),
    (60, "minute"),
)


def parse(value: Any) -> dt.datetime | None:
    """A stored timestamp (a datetime, or ISO text as SQLite gives it) as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def relative(moment: dt.datetime, now: dt.datetime) -> str:
    """``just now``, ``3 minutes ago``, ``in 2 days``: the largest whole unit between the two."""
    seconds = (now - moment).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    for size, unit in _UNITS:
        if seconds >= size:
            count = round(seconds / size) if size < 86400 else int(seconds // size)
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if ahead else f"{words} ago"
    return "in a minute" if ahead else "a minute ago"


def exact(moment: dt.datetime) -> str:
    """The exact time, as the hover text shows it: ``2026-12-06 13:54:32 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


_NOTHING = Markup("")
_OPEN, _TITLE = Markup('<time datetime="'), Markup('" title="')
_WORDS, _CLOSE = Markup('" data-relative>'), Markup("</time>")


def time_tag(value: Any, now: dt.datetime | None = None) -> Markup:
    """``<time datetime title>`` with the relative words inside; empty for no value."""
    moment = parse(value)
    if moment is None:
        return Markup("") if value in (None, "") else escape(str(value))
    words = relative(moment, now or dt.datetime.now(dt.UTC))
    iso = format_timestamp(moment)
    # ``Markup.join`` escapes the values and keeps the tag's pieces (``Markup.format`` runs Python's
    # formatter: it was most of this function's time on a page of twenty rows).
    return _NOTHING.join((_OPEN, iso, _TITLE, exact(moment), _WORDS, words, _CLOSE))
