"""Delivery over SMTP with aiosmtplib (a relay, or a provider's SMTP endpoint)."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from tenantry.mail.errors import PermanentMailError, TransientMailError
from tenantry.mail.message import OutgoingMail
from tenantry.mail.settings import MailSettings


def message_id(message: OutgoingMail) -> str:
    """``<outbox id@sender domain>``: the same on every retry, so a duplicate is recognisable."""
    domain = parseaddr(message.sender)[1].rpartition("@")[2] or "localhost"
    return f"<{message.id}@{domain}>"


def build_email(message: OutgoingMail) -> EmailMessage:
    """The MIME message: multipart/alternative with the plain text first and the HTML preferred."""
    email = EmailMessage(policy=SMTP)
    email["From"] = message.sender
    email["To"] = message.to
    email["Subject"] = message.subject
    # The origination date is when the action happened, identical across retries.
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id(message)
    # RFC 3834: tells auto-responders (out-of-office) not to answer transactional mail.
    email["Auto-Submitted"] = "auto-generated"
    if message.template:
        email["X-Tenantry-Template"] = message.template
    email.set_content(message.text or " ")
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpBackend:
    """Sends each message on its own SMTP connection (mail volume here is small and bursty)."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.use_tls = use_tls
        self.start_tls = start_tls
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: MailSettings) -> SmtpBackend:
        """A backend configured by the ``SMTP_*`` settings."""
        assert settings.smtp_host, "MailSettings requires SMTP_HOST for the smtp backend"
        return cls(
            settings.smtp_host,
            settings.smtp_port_or_default,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_ssl,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )

    async def send(self, message: OutgoingMail) -> str:
        import aiosmtplib  # here, so that only apps that send by SMTP load it

        email = build_email(message)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            raise _by_code(min(codes, default=451), f"recipient refused: {detail}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _by_code(exc.code, f"SMTP {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientMailError(f"SMTP {type(exc).__name__}: {exc}") from exc
        return message_id(message)

    async def close(self) -> None:
        return None


def _by_code(code: int, text: str) -> TransientMailError | PermanentMailError:
    # SMTP's own rule: 5xx replies are permanent, 4xx are worth retrying.
    return PermanentMailError(text) if 500 <= code < 600 else TransientMailError(text)
