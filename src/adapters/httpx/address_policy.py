"""Where outbound webhooks may go (SSRF): hosts must resolve only to public addresses, unless the
operator allows private ones (ALLOW_PRIVATE_WEBHOOK_URLS, e.g. for receivers on an internal network)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from application.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host resolves to an address webhooks may not reach (loopback, private, link-local, …)."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_global is False for loopback, private (RFC 1918, ULA), link-local, shared (CGNAT), reserved,
    # unspecified and documentation ranges; multicast is never a webhook receiver.
    return address.is_global and not address.is_multicast


class WebhookAddressPolicy:
    def __init__(self, *, allow_private: bool, resolve_timeout_seconds: float = 5.0) -> None:
        self.allow_private = allow_private
        self._resolve_timeout = resolve_timeout_seconds

    async def check(self, url: str) -> None:
        """WebhookUrlPolicy: refuse, at registration, a URL that could only reach internal hosts."""
        parts = urlsplit(url)
        if self.allow_private or not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            await self.resolve(parts.hostname, port)
        except BlockedAddress as error:
            raise InvalidInput(str(error), details={"field": "url"}) from error
        except OSError as error:
            raise InvalidInput(
                f"the webhook host {parts.hostname!r} does not resolve", details={"field": "url"}
            ) from error

    async def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, checked: every one of them must be allowed, so a name that mixes a
        public and an internal address cannot be used to reach the internal one."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            loop = asyncio.get_running_loop()
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=self._resolve_timeout
            )
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise OSError(f"{host} has no addresses")
        if not self.allow_private:
            blocked = [str(address) for address in addresses if not is_public(address)]
            if blocked:
                raise BlockedAddress(
                    f"the webhook host {host!r} resolves to a non-public address ({', '.join(blocked)})"
                )
        return list(dict.fromkeys(str(address) for address in addresses))
