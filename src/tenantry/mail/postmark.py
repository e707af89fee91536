"""Delivery through Postmark's HTTP API (``POST /email``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tenantry.mail.errors import PermanentMailError, TransientMailError
from tenantry.mail.message import OutgoingMail
from tenantry.mail.settings import MailSettings

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.postmarkapp.com"

# Postmark ErrorCodes worth retrying: maintenance (100), out of credits (405: sending resumes once the
# account is topped up) and rate limiting (429). Every other ErrorCode describes the request itself
# (bad token 10, invalid request 300, inactive recipient 406 …) and will fail the same way again.
TRANSIENT_ERROR_CODES = frozenset({100, 405, 429})


class PostmarkBackend:
    """Sends through Postmark with one pooled HTTP client."""

    name = "postmark"

    def __init__(
        self,
        server_token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        message_stream: str = "outbound",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.message_stream = message_stream
        self._token = server_token
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: MailSettings) -> PostmarkBackend:
        """A backend configured by the ``POSTMARK_*`` settings."""
        assert settings.postmark_server_token is not None, "MailSettings requires a token for postmark"
        return cls(
            settings.postmark_server_token.get_secret_value(),
            api_url=settings.postmark_api_url,
            message_stream=settings.postmark_message_stream,
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Loaded with the first mail: a worker that sends none does without httpx (and its CLI's rich).
            import httpx

            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=self._timeout,
                headers={"Accept": "application/json", "X-Postmark-Server-Token": self._token},
            )
        return self._client

    def payload(self, message: OutgoingMail) -> dict[str, Any]:
        """The JSON body of ``POST /email`` for ``message``."""
        body: dict[str, Any] = {
            "From": message.sender,
            "To": message.to,
            "Subject": message.subject,
            "TextBody": message.text,
            "HtmlBody": message.html,
            "MessageStream": self.message_stream,
            # Metadata comes back in Postmark's webhooks and activity feed: it ties them to the outbox row.
            "Metadata": {"outbox_id": message.id},
        }
        if message.template:
            body["Tag"] = message.template
        return body

    async def send(self, message: OutgoingMail) -> str:
        import httpx

        try:
            response = await self._http().post(f"{self.api_url}/email", json=self.payload(message))
        except httpx.HTTPError as exc:
            raise TransientMailError(f"Postmark unreachable: {type(exc).__name__}: {exc}") from exc
        return _message_id(response)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _message_id(response: httpx.Response) -> str:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "ErrorCode" not in body:
        # Not Postmark speaking (a proxy, a firewall): only the HTTP status tells us anything.
        text = f"Postmark HTTP {status}: {response.text[:200]}"
        if status >= 500 or status in (408, 429):
            raise TransientMailError(text)
        raise PermanentMailError(text)
    code = body.get("ErrorCode")
    text = f"Postmark HTTP {status}, ErrorCode {code}: {body.get('Message', '')}"
    if status == 200 and code == 0 and body.get("MessageID"):
        return str(body["MessageID"])
    if status >= 500 or status == 429 or code in TRANSIENT_ERROR_CODES:
        raise TransientMailError(text)
    raise PermanentMailError(text)
