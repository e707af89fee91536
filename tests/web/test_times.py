"""Times as pages show them (``tenantry.web.times``): the same tag whatever form the value came in."""

from __future__ import annotations

import datetime as dt

import pytest

from tenantry.web.times import relative, time_tag

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
TAG = '<time datetime="2026-12-07T11:57:00.305Z" title="2026-12-07 11:57:00 UTC" data-relative>3 minutes ago</time>'


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-07T11:57:00.305Z",  # as the API's rows hold it: used as it is
        dt.datetime(2026, 12, 7, 11, 57, 0, 305000, tzinfo=dt.UTC),  # as PostgreSQL gives it
        dt.datetime(2026, 12, 7, 11, 57, 0, 305000),  # naive: UTC, as SQLite's columns are read
        "2026-12-07T13:57:00.305+02:00",  # another offset: written in UTC
        "2026-12-07 11:57:00.305",  # SQLite's text
        "2026-12-07T11:57:00,305Z",  # a comma before the fraction: the API's form only once rewritten
    ],
)
def test_every_form_of_a_moment_gives_the_same_tag(value: object) -> None:
    assert time_tag(value, NOW) == TAG


def test_a_week_date_is_rewritten_not_copied() -> None:
    # The API form's shape with other characters in it (an ISO week date parses): rewritten.
    assert time_tag("2026-W49-1T11:57:00.305Z", NOW).startswith('<time datetime="2026-11-30T11:57:00.305Z"')


def test_no_value_and_text_that_is_no_time() -> None:
    assert time_tag(None, NOW) == "" and time_tag("", NOW) == ""
    assert time_tag('<b>"soon"</b>', NOW) == "&lt;b&gt;&#34;soon&#34;&lt;/b&gt;"


def test_relative_words() -> None:
    assert relative(NOW - dt.timedelta(seconds=44), NOW) == "just now"
    assert relative(NOW - dt.timedelta(seconds=50), NOW) == "a minute ago"
    assert relative(NOW + dt.timedelta(hours=2), NOW) == "in 2 hours"
    assert relative(NOW - dt.timedelta(days=800), NOW) == "2 years ago"
