"""SMTP delivery against a real SMTP server (aiosmtpd) on a local port."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tenantry.mail import (
    SENT,
    OutgoingMail,
    PermanentMailError,
    SmtpBackend,
    TransientMailError,
    compose,
    list_outbox,
)
from tests.mail.conftest import MailEnv, RunningSmtp, SmtpRecorder, enqueue_committed, free_port


def outgoing(to: str = "ada@example.com", subject: str = "Verify your email") -> OutgoingMail:
    return OutgoingMail(
        id="0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11",
        to=to,
        sender="Acme <no-reply@acme.test>",
        subject=subject,
        text="Open https://app.example.com/v?t=1\n",
        html="<p>Open <a href='https://app.example.com/v?t=1'>the link</a></p>",
        url="https://app.example.com/v?t=1",
        template="verify_email",
        attempt=1,
        created_at=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
    )


def parsed(recorder: SmtpRecorder, index: int = 0) -> EmailMessage:
    raw = recorder.envelopes[index].original_content or recorder.envelopes[index].content
    assert isinstance(raw, bytes)
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_sends_multipart_alternative_with_stable_message_id(smtp_server: RunningSmtp) -> None:
    backend = SmtpBackend(smtp_server.host, smtp_server.port)
    provider_id = await backend.send(outgoing())
    assert provider_id == "<0190a8f2-2c5e-7b7e-9a51-1f6c0d0e4a11@acme.test>"

    [envelope] = smtp_server.recorder.envelopes
    assert envelope.mail_from == "no-reply@acme.test" and envelope.rcpt_tos == ["ada@example.com"]
    email = parsed(smtp_server.recorder)
    assert email["From"] == "Acme <no-reply@acme.test>"
    assert email["To"] == "ada@example.com"
    assert email["Subject"] == "Verify your email"
    assert email["Message-ID"] == provider_id
    assert email["Auto-Submitted"] == "auto-generated"
    assert email["X-Tenantry-Template"] == "verify_email"
    assert email["Date"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert email.get_content_type() == "multipart/alternative"
    parts = list(email.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == "Open https://app.example.com/v?t=1\n"
    assert "<a href='https://app.example.com/v?t=1'>" in parts[1].get_content()

    # A retry of the same outbox row carries the same Message-ID: recipients' systems can spot it.
    await backend.send(outgoing())
    assert parsed(smtp_server.recorder, 1)["Message-ID"] == provider_id


async def test_non_ascii_subject_survives(smtp_server: RunningSmtp) -> None:
    await SmtpBackend(smtp_server.host, smtp_server.port).send(outgoing(subject="Bienvenue chez Élan ✓"))
    assert parsed(smtp_server.recorder)["Subject"] == "Bienvenue chez Élan ✓"


async def test_refused_recipient_is_permanent_and_busy_is_transient(smtp_server: RunningSmtp) -> None:
    smtp_server.recorder.refuse = {
        "gone@example.com": "550 5.1.1 No such user",
        "later@example.com": "451 4.3.0 Try again later",
    }
    backend = SmtpBackend(smtp_server.host, smtp_server.port)
    with pytest.raises(PermanentMailError, match="550"):
        await backend.send(outgoing(to="gone@example.com"))
    with pytest.raises(TransientMailError, match="451"):
        await backend.send(outgoing(to="later@example.com"))
    assert smtp_server.recorder.envelopes == []


async def test_unreachable_server_is_transient() -> None:
    with pytest.raises(TransientMailError):
        await SmtpBackend("127.0.0.1", free_port(), timeout=2).send(outgoing())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_authenticates_with_username_and_password() -> None:
    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 235/535 reply

    recorder = SmtpRecorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # a test server without certificates; production relays use TLS
    )
    controller.start()
    try:
        good = SmtpBackend("127.0.0.1", controller.port, username="mailer", password="s3cret")
        await good.send(outgoing())
        assert len(recorder.envelopes) == 1
        bad = SmtpBackend("127.0.0.1", controller.port, username="mailer", password="wrong")
        with pytest.raises(PermanentMailError, match="535"):
            await bad.send(outgoing())
    finally:
        controller.stop()


async def test_outbox_to_smtp_end_to_end(mail_env: MailEnv, smtp_server: RunningSmtp) -> None:
    settings = mail_env.settings.model_copy(update={"mail_from": "Acme <hello@acme.test>", "app_name": "Acme"})
    mail = compose(
        "verify_email",
        to="ada@example.com",
        url="https://acme.test/verify?token=t1",
        dedupe_key="verify-email:u1:t1",
        settings=settings,
        context={"name": "Ada"},
    )
    await enqueue_committed(mail_env, mail)
    backend = SmtpBackend(smtp_server.host, smtp_server.port)
    d = mail_env.dispatcher(backend, settings=settings)
    assert (await d.deliver_pending()).done == 1
    [record] = await list_outbox(mail_env.db, mail_env.tables)
    assert record.status == SENT and record.provider_message_id == f"<{record.id}@acme.test>"
    email = parsed(smtp_server.recorder)
    assert email["Subject"] == "Verify your email for Acme"
    text, html = (p.get_content() for p in email.iter_parts())
    assert "https://acme.test/verify?token=t1" in text and 'href="https://acme.test/verify?token=t1"' in html
