"""Where an image URL in an answer may send seedless: public addresses, and the endpoint's host.

A ``url`` answer, and every redirect after it, is a host's say-so. seedless follows it to a
public address, or back to the endpoint's own host (a LocalAI or a relay on your network that
serves its own files), and refuses before connecting anything else: loopback, private,
link-local (169.254.169.254 is where a cloud VM's metadata service answers), shared
(carrier-grade NAT), multicast, reserved and unspecified addresses. A library running inside a
cloud VM must not touch those on a host's say-so (a blind server-side request forgery).

A name is resolved first and every address it has is checked; the connection is then pinned to
a checked address (the ``Host`` header and TLS still use the name, so certificates are verified
as usual), so a second DNS answer cannot send it elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from ..errors import ProviderError, ServerError

__all__ = ["Target", "check_target"]


@dataclass(frozen=True)
class Target:
    """How to request a checked URL: the URL to connect to, and what to send with it."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


def _why_refused(address: str) -> str | None:
    """Why an address is not one to follow an answer to, or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return "a link-local address (where a cloud's metadata service answers)"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def check_target(
    url: httpx.URL, home_host: str, provider: str, *, resolve: bool = True
) -> Target:
    """``url`` checked (ProviderError if refused, before any connection), pinned to the
    address that was checked when its host is a name. The endpoint's own host is trusted.
    ``resolve=False`` (a transport of the caller's own, a test double, that does not connect
    by name) checks addresses written as such and leaves names as they are."""
    host = url.host.lower()
    if host == home_host.lower():
        return Target(url, {}, {})
    if _literal(host):
        addresses = [host]
    elif not resolve:
        return Target(url, {}, {})
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise ServerError(
                f"Downloading the image from {host} failed: the name does not resolve ({exc}).",
                provider=provider,
            ) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    for address in addresses:
        why = _why_refused(address)
        if why is not None:
            shown = host if host == address else f"{host} ({address})"
            raise ProviderError(
                f"Refused to download the image at {shown} that {provider}'s answer points to: "
                f"it is {why}, and seedless follows an answer's URL only to public addresses or "
                "to the endpoint's own host. Nothing was sent there.",
                provider=provider,
            )
    if host == addresses[0]:
        return Target(url, {}, {})
    pinned = url.copy_with(host=addresses[0])
    return Target(pinned, {"Host": url.netloc.decode("ascii")}, {"sni_hostname": host})
