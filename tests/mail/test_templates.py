"""Templates: every action email renders its link, expiry and branding, with HTML escaping."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tenantry.mail import TEMPLATES, MailSettings, MailTemplateError, compose, render
from tenantry.mail.templates import humanize_duration

URL = "https://app.example.com/api/auth/verify?token=abc&callbackURL=%2Fhome"
EXTRA = {
    "change_email": {"new_email": "new@example.com"},
    "invitation": {"organization_name": "Acme", "inviter_name": "Ada", "role": "admin"},
    "two_factor_otp": {"otp": "123456"},
    "webhook_disabled": {
        "organization_name": "Acme",
        "endpoint_url": "https://hooks.acme.test/in",
        "reason": "it answered 410 Gone",
    },
}
# A notice has no link that expires.
EXPIRY: dict[str, str | None] = {
    "webhook_disabled": None,
    "verify_email": "1 hour",
    "reset_password": "1 hour",
    "change_email": "1 hour",
    "delete_account": "1 day",
    "invitation": "2 days",
    "magic_link": "5 minutes",
    "two_factor_otp": "3 minutes",
}


def settings(**values: str) -> MailSettings:
    return MailSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_eight_templates_exist() -> None:
    assert set(TEMPLATES) == {
        "verify_email",
        "reset_password",
        "change_email",
        "delete_account",
        "invitation",
        "magic_link",
        "two_factor_otp",
        "webhook_disabled",
    }


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_renders_link_app_name_expiry_and_text_twin(name: str) -> None:
    subject, text, html = render(name, {"url": URL, "name": "Ada", **EXTRA.get(name, {})}, settings())
    assert "Tenantry" in subject and "\n" not in subject
    assert URL in text and "Tenantry" in text and "Hi Ada," in text
    escaped = URL.replace("&", "&amp;")
    assert f'href="{escaped}"' in html and "Hi Ada," in html
    expiry = EXPIRY[name]
    if expiry is not None:
        assert f"expires in {expiry}" in text and f"expires in {expiry}" in html
    assert html.startswith("<!doctype html>") and 'name="viewport"' in html
    assert f"<title>{subject}</title>" in html
    # Self-contained: no scripts, stylesheets or remote resources; only the action link (and mailto).
    assert "<script" not in html and "<link" not in html and "<style" not in html
    assert set(re.findall(r'(?:href|src)="([^"]+)"', html)) == {escaped}
    assert "<" not in text.replace("<no", "")  # the text twin is not HTML


def test_html_escapes_user_supplied_values_and_text_does_not() -> None:
    evil = '<script>alert("x")</script>'
    subject, text, html = render(
        "invitation",
        {"url": URL, "name": evil, "organization_name": f"Acme {evil}", "inviter_name": evil},
        settings(),
    )
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert evil in text and evil in subject  # plain text shows what was typed


def test_branding_from_settings() -> None:
    s = settings(
        TENANTRY_APP_NAME="Acme Cloud",
        TENANTRY_MAIL_BRAND_COLOR="#ff5500",
        TENANTRY_MAIL_LOGO_URL="https://cdn.acme.test/logo.png",
        TENANTRY_MAIL_SUPPORT_EMAIL="Acme Support <help@acme.test>",
    )
    subject, text, html = render("reset_password", {"url": URL}, s)
    assert subject == "Reset your Acme Cloud password"
    assert 'src="https://cdn.acme.test/logo.png"' in html and 'alt="Acme Cloud"' in html
    assert "background-color:#ff5500" in html
    assert 'href="mailto:help@acme.test"' in html and "help@acme.test" in text
    assert "Hi there," in text  # no name given


def test_expiry_can_be_given_by_the_caller() -> None:
    _, text, _ = render("verify_email", {"url": URL, "expires_in": dt.timedelta(hours=24)}, settings())
    assert "expires in 1 day" in text
    _, text, _ = render("magic_link", {"url": URL, "expires_in": 900}, settings())
    assert "expires in 15 minutes" in text
    _, text, _ = render("magic_link", {"url": URL, "expires_in": "a quarter of an hour"}, settings())
    assert "expires in a quarter of an hour" in text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(60, "1 minute"), (300, "5 minutes"), (5400, "90 minutes"), (7200, "2 hours"), (86400, "1 day"), (45, "1 minute")],
)
def test_humanize_duration(seconds: int, words: str) -> None:
    assert humanize_duration(seconds) == words


def test_subject_never_spans_lines() -> None:
    subject, _, _ = render(
        "invitation", {"url": URL, "organization_name": "Acme\r\nBcc: eve@example.com", "inviter_name": "A"}, settings()
    )
    assert subject == "A invited you to join Acme Bcc: eve@example.com on Tenantry"


def test_errors_are_clear() -> None:
    with pytest.raises(MailTemplateError, match="unknown mail template 'welcome'"):
        render("welcome", {"url": URL}, settings())
    with pytest.raises(MailTemplateError, match="needs url"):
        render("verify_email", {}, settings())
    with pytest.raises(MailTemplateError, match="needs new_email"):
        render("change_email", {"url": URL}, settings())
    with pytest.raises(MailTemplateError, match="http"):
        render("verify_email", {"url": "javascript:alert(1)"}, settings())


def test_compose_builds_the_message() -> None:
    s = settings(TENANTRY_MAIL_FROM="Acme <hello@acme.test>")
    m = compose("magic_link", to="ada@example.com", url=URL, dedupe_key="magic-link:v1", settings=s)
    assert m.sender == "Acme <hello@acme.test>" and m.to == "ada@example.com"
    assert m.template == "magic_link" and m.url == URL and m.dedupe_key == "magic-link:v1"
    assert "ada@example.com" in m.text  # the recipient's address is offered to the template as ``email``
