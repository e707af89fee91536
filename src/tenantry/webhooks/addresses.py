"""Where a webhook may be sent: never into the server's own network (SSRF).

An endpoint's URL must be http(s) (https in production) and its host must resolve only to public
addresses: loopback, private, link-local (the cloud metadata service at 169.254.169.254 among
them), multicast, unspecified, reserved and shared (carrier-grade NAT) addresses are refused, IPv6
ones included, and an IPv4 address written as IPv6 (``::ffff:127.0.0.1``) counts as the IPv4 one.
The check runs when the endpoint is registered and again before every connection; the delivery
then connects to the address it checked (``Target.address``), so a name that resolves elsewhere a
moment later (DNS rebinding) changes nothing. ``allow_private`` lifts the address rule for
development and tests (production refuses that setting).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES: Final = ("http", "https")
# Also covered by "not global", named here because it is the address attackers aim for.
METADATA: Final = ipaddress.ip_address("169.254.169.254")
_RESOLVE_TIMEOUT: Final = 5.0


class AddressRefused(Exception):
    """The URL may not be called; ``code`` is the stable reason, ``str(exc)`` says it in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    """A URL checked for delivery: the URL as registered and the address to connect to."""

    url: httpx.URL
    address: IPAddress

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with the checked address as its host (the ``Host`` header and TLS name keep the original)."""
        return self.url.copy_with(host=str(self.address))


def parse_url(raw: str, *, https_only: bool) -> httpx.URL:
    """``raw`` as a URL an endpoint may have: absolute http(s), a host, no fragment."""
    # Loaded when an endpoint is registered or called, not by every worker (httpx imports its
    # command line's rich and click with itself).
    import httpx

    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise AddressRefused("INVALID_URL", "is not a valid URL") from None
    if url.scheme not in SCHEMES:
        raise AddressRefused("INVALID_URL", "must be an http or https URL")
    if https_only and url.scheme != "https":
        raise AddressRefused("HTTPS_REQUIRED", "must be an https URL")
    if not url.host:
        raise AddressRefused("INVALID_URL", "has no host")
    if url.port is not None and not 0 < url.port < 65536:
        raise AddressRefused("INVALID_URL", "has a port out of range (1-65535)")
    if url.fragment:
        raise AddressRefused("INVALID_URL", "must not have a #fragment")
    return url


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be called, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address == METADATA:
        return "the cloud metadata address"
    for kind, found in (
        ("a loopback", address.is_loopback),
        ("an unspecified", address.is_unspecified),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    ):
        if found:
            return f"{kind} address"
    if not address.is_global:
        return "a non-public address"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (itself when it is an address), without duplicates."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(_RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise AddressRefused("UNRESOLVABLE_HOST", f"host {host} does not resolve") from None
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # A scoped IPv6 address (fe80::1%eth0) is link-local whatever its scope.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise AddressRefused("UNRESOLVABLE_HOST", f"host {host} does not resolve")
    return found


async def check(url: httpx.URL, *, allow_private: bool) -> Target:
    """Resolve ``url``'s host and pick the address to connect to; ``AddressRefused`` if any is not public.

    Every address counts, not only the first: a name resolving to a public and a private address
    could otherwise be steered to the private one by whoever controls its DNS.
    """
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve(url.host, port)
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise AddressRefused("ADDRESS_NOT_ALLOWED", f"resolves to {reason} ({address}), which is not allowed")
    return Target(url, addresses[0])
