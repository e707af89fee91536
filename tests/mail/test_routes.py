"""The dev outbox pages and JSON, served from the outbox table."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tenantry.mail import compose, list_outbox, mail_routes
from tests.mail.conftest import MailEnv, RecordingBackend, enqueue_committed, message

EVIL = "<script>alert(1)</script>"


@pytest.fixture
async def client(mail_env: MailEnv) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=mail_routes(mail_env.db, mail_env.tables, mail_env.settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_json_lists_newest_first_with_fields(mail_env: MailEnv, client: httpx.AsyncClient) -> None:
    first = compose(
        "verify_email",
        to="ada@example.com",
        url="https://app.example.com/verify?token=1",
        dedupe_key="verify:1",
        settings=mail_env.settings,
    )
    await enqueue_committed(mail_env, first)
    await enqueue_committed(mail_env, message("other", to="bob@example.com"))
    await mail_env.dispatcher(RecordingBackend()).deliver_pending()

    r = await client.get("/dev/mail.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    second_row, first_row = r.json()
    assert {"to", "subject", "text", "html", "url", "template", "status", "created_at"} <= set(first_row)
    assert first_row["to"] == "ada@example.com" and first_row["template"] == "verify_email"
    assert first_row["url"] == "https://app.example.com/verify?token=1" and first_row["status"] == "sent"
    assert first_row["subject"] == first.subject and first_row["text"] == first.text
    assert first_row["created_at"].endswith("Z")
    assert second_row["to"] == "bob@example.com"

    only_ada = (await client.get("/dev/mail.json", params={"to": "ada@example.com"})).json()
    assert [m["to"] for m in only_ada] == ["ada@example.com"]
    assert len((await client.get("/dev/mail.json", params={"limit": "1"})).json()) == 1


async def test_list_page_escapes_and_links(mail_env: MailEnv, client: httpx.AsyncClient) -> None:
    await enqueue_committed(mail_env, message("k", subject=f"Hello {EVIL}"))
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    r = await client.get("/dev/mail")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no scripts at all
    assert EVIL not in r.text and "Hello &lt;script&gt;" in r.text
    assert f'href="/dev/mail/{record.id}"' in r.text
    assert "ada@example.com" in r.text and "verify_email" in r.text and "pending" in r.text


async def test_list_page_when_empty(client: httpx.AsyncClient) -> None:
    r = await client.get("/dev/mail")
    assert r.status_code == 200 and "No mail yet." in r.text


async def test_message_page_sandboxes_the_html(mail_env: MailEnv, client: httpx.AsyncClient) -> None:
    await enqueue_committed(mail_env, message("k", html=f"<p>Hi</p>{EVIL}<a href='https://x.test'>go</a>"))
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    r = await client.get(f"/dev/mail/{record.id}")
    assert r.status_code == 200
    page = r.text
    assert EVIL not in page  # the mail's HTML only exists escaped inside srcdoc
    iframe = page[page.index("<iframe") : page.index("</iframe>")]
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframe
    assert "allow-scripts" not in iframe and "allow-same-origin" not in iframe
    assert 'srcdoc="&lt;base target=&#34;_blank&#34;&gt;&lt;p&gt;Hi&lt;/p&gt;&lt;script&gt;' in iframe
    assert '<a href="https://app.example.com/verify?token=abc" rel="noreferrer">' in page
    assert "<pre>Open https://app.example.com/verify?token=abc</pre>" in page


async def test_unknown_message_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/dev/mail/0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11")).status_code == 404
    assert (await client.get("/dev/mail/not-a-uuid")).status_code == 404
