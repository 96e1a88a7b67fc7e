"""Keep a user-supplied base URL (the openai-compatible provider) away from internal addresses.

The base URL is checked twice: when a form or the CLI accepts it (`validate_base_url`), and again
before every request (`guard_request_url`), because a DNS answer can change between the two.
Redirects are never followed (the shared HTTP client has follow_redirects=False), so a public
server cannot bounce a request to an internal one.
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from .base import BLOCKED_URL, CONNECTION_ERROR, ProviderError

# Cloud metadata services: refused even when private addresses are allowed (a local model server
# never lives there, and these hand out cloud credentials).
METADATA_HOSTS = {"metadata.google.internal", "metadata", "metadata.azure.internal"}
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean …
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task credentials
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
}

PRIVATE_HINT = "set LLMCFG_ALLOW_PRIVATE_BASE_URLS=1 to allow local servers such as Ollama"


class BlockedAddress(ValueError):
    """The host resolves to an address llmcfg must not call."""


class UnresolvableHost(ValueError):
    """The host name has no DNS answer right now."""


def split_base_url(url: str) -> tuple[str, str, int]:
    """Return (normalized url, host, port) of an http(s) base URL, or raise ValueError."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("The base URL is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("The base URL must start with http:// or https://.")
    if not parts.hostname:
        raise ValueError("The base URL must name a host, e.g. https://api.example.com/v1.")
    if parts.username or parts.password:
        raise ValueError("The base URL must not contain a user name or password; put the key in the key field.")
    if parts.query or parts.fragment:
        raise ValueError("The base URL must not contain a query string or fragment.")
    default_port = 443 if parts.scheme == "https" else 80
    return url.rstrip("/"), parts.hostname.lower(), port or default_port


def _as_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _literal_ip(host: str):
    try:
        return _as_ip(host.strip("[]"))
    except ValueError:
        return None


def is_metadata(host: str) -> bool:
    ip = _literal_ip(host)
    return host.rstrip(".") in METADATA_HOSTS or (ip is not None and ip in METADATA_ADDRESSES)


def resolve(host: str, port: int) -> list:
    """Return every address the host resolves to (a literal IP resolves to itself)."""
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"Cannot resolve the host {host!r} ({exc}).") from None
    return [_as_ip(info[4][0]) for info in infos]


def check_host(host: str, port: int, allow_private: bool) -> None:
    """Raise BlockedAddress unless every address of host is public (or private ones are allowed)."""
    if is_metadata(host):
        raise BlockedAddress(f"The base URL points at a cloud metadata address ({host}); that is never allowed.")
    if allow_private:
        return  # no DNS lookup needed: everything but metadata is fine
    for ip in resolve(host, port):
        if ip in METADATA_ADDRESSES:
            raise BlockedAddress(f"The base URL host {host} resolves to a cloud metadata address ({ip}).")
        # is_global is False for loopback, private, link-local, shared (CGNAT), reserved,
        # documentation and unspecified ranges; multicast is checked on its own.
        if not ip.is_global or ip.is_multicast:
            raise BlockedAddress(
                f"The base URL host {host} resolves to a private or local address ({ip}); {PRIVATE_HINT}."
            )


def validate_base_url(url: str, allow_private: bool) -> str:
    """Return the normalized base URL, or raise ValueError with a message for a form or the CLI."""
    normalized, host, port = split_base_url(url)
    check_host(host, port, allow_private)
    return normalized


def guard_request_url(url: str, allow_private: bool) -> None:
    """Check a URL right before it is requested; raise ProviderError instead of ValueError."""
    try:
        _, host, port = split_base_url(url.split("?", 1)[0])
        check_host(host, port, allow_private)
    except UnresolvableHost as exc:
        # A DNS hiccup is a connection problem (fallback may engage), not a refused URL.
        raise ProviderError(CONNECTION_ERROR, str(exc)) from None
    except ValueError as exc:
        raise ProviderError(BLOCKED_URL, str(exc)) from None
