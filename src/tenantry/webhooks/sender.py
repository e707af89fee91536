"""One HTTP attempt at an endpoint, with httpx: checked address, no redirects, a deadline, the answer's first KB.

The connection goes to the address ``addresses.check`` approved (the ``Host`` header and, for
https, the TLS server name and certificate check keep the registered host name). Redirects are
never followed (a 3xx is a failure): a redirect could point anywhere. Proxies from the environment
are not used, so nothing reaches the endpoint by another way than the one checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from tenantry.webhooks.addresses import AddressRefused, check, parse_url
from tenantry.webhooks.tables import ERROR_LENGTH, RESPONSE_KEPT

if TYPE_CHECKING:
    import httpx

USER_AGENT: Final = "Tenantry-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the status (None when no answer came), the answer's start, or the error."""

    succeeded: bool
    status: int | None
    body: str | None
    error: str | None
    latency_ms: int

    @property
    def gone(self) -> bool:
        """``410 Gone``: the receiver says this endpoint no longer exists."""
        return self.status == 410


class Sender:
    """Posts signed bodies to endpoints through one connection pool."""

    def __init__(self, *, timeout: float, allow_private: bool, https_only: bool) -> None:
        self.timeout = timeout
        self.allow_private = allow_private
        self.https_only = https_only
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx  # with the first delivery, not by every worker

            self._client = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                timeout=httpx.Timeout(self.timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Outcome:
        """POST ``body`` to ``url``; 2xx within the timeout is success, anything else is a failure with its reason."""
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        import httpx  # parse_url has loaded it already

        try:
            target = await check(parse_url(url, https_only=self.https_only), allow_private=self.allow_private)
        except AddressRefused as exc:
            return Outcome(False, None, None, f"refused: {exc}"[:ERROR_LENGTH], elapsed())
        host = target.url.host
        extensions: dict[str, str] = {}
        if target.url.scheme == "https" and not _is_address(host):
            extensions["sni_hostname"] = host
        request_headers = {**headers, "host": _host_header(target.url)}
        try:
            async with asyncio.timeout(self.timeout):
                request = self._http().build_request(
                    "POST", target.connect_url, content=body, headers=request_headers, extensions=extensions
                )
                response = await self._http().send(request, stream=True)
                try:
                    kept = await _first_bytes(response, RESPONSE_KEPT)
                finally:
                    await response.aclose()
        except TimeoutError:
            return Outcome(False, None, None, f"timed out after {self.timeout:g} s", elapsed())
        except httpx.HTTPError as exc:
            return Outcome(False, None, None, f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH], elapsed())
        except OSError as exc:
            return Outcome(False, None, None, f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH], elapsed())
        text = kept.decode("utf-8", errors="replace")
        status = response.status_code
        ok = 200 <= status < 300
        return Outcome(ok, status, text, None if ok else f"HTTP {status}", elapsed())


async def _first_bytes(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of the answer; the rest is not read (a huge answer costs nothing)."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= limit:
            break
    return bytes(kept[:limit])


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_header(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    default = 443 if url.scheme == "https" else 80
    return host if url.port in (None, default) else f"{host}:{url.port}"
