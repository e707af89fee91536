"""The sign-up form's validation, on SQLite and PostgreSQL: every empty or malformed field gets its
own message and its red border at once (the form does not leave that to the browser), and the
password's error replaces its hint instead of saying the same thing twice."""

from __future__ import annotations

import re

from tests.conftest import ClientFactory
from tests.web.test_pages import FORM


async def test_every_refused_field_is_marked_once(make_client: ClientFactory) -> None:
    async with make_client() as client:
        page = (await client.get("/signup")).text
        assert re.search(r'<form class="stack" method="post" action="/signup" novalidate>', page)
        assert 'id="h-password">At least 8 characters.' in page
        empty = {"organization": "", "name": "", "email": "", "password": "short"}
        r = await client.post("/signup", data=empty, headers=FORM)
        assert r.status_code == 400
        for name, message in (
            ("organization", "Enter your organization&#39;s name."),
            ("name", "Enter your name."),
            ("email", "Enter your e-mail address."),
            ("password", "Use at least 8 characters."),
        ):
            assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true" aria-describedby="e-{name}"', r.text, re.S), name
            assert f'<p class="error" id="e-{name}" role="alert">{message}</p>' in r.text, name
        assert 'id="h-password"' not in r.text  # the hint is not repeated beside its error
        r = await client.post("/signup", data={**empty, "email": "not-an-address"}, headers=FORM)
        assert "Enter an e-mail address like name@example.com." in r.text
        assert 'value="not-an-address"' in r.text  # what was typed stays, to be corrected
