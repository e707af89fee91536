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


def time_tag(value: Any, now: dt.datetime | None = None) -> Markup:
    """``<time datetime title>`` with the relative words inside; empty for no value."""
    moment = parse(value)
    if moment is None:
        return Markup("") if value in (None, "") else escape(str(value))
    words = relative(moment, now or dt.datetime.now(dt.UTC))
    # A value already written the API's way (what the pipeline's rows hold) is used as it is.
    iso = value if isinstance(value, str) and _is_api_form(value) else format_timestamp(moment)
    # ``exact`` of the same moment, cut from the ISO text (strftime was a third of this function's
    # time on a page of sixty cards). The pieces are digits, separators and words of our own: one
    # Markup of them, with nothing to escape (escaping each piece was another third).
    return Markup(  # noqa: S704 - no outside text: ISO digits and the relative words
        f'<time datetime="{iso}" title="{iso[:10]} {iso[11:19]} UTC" data-relative>{words}</time>'
    )


def _is_api_form(text: str) -> bool:
    """``2026-12-06T13:54:32.801Z``: a timestamp as ``format_timestamp`` writes it. Only for a text
    ``parse`` has read: the separators in place, what is between them can only be digits."""
    return (
        len(text) == 24
        and text[4] == text[7] == "-"
        and text[10] == "T"
        and text[13] == text[16] == ":"
        and text[19] == "."
        and text[23] == "Z"
    )
