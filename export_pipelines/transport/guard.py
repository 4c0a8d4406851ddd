"""Where a download may go: public addresses, plus exactly the vendor's own configured host.

File URLs come from the vendor's answers, so they are not trusted: a vendor (or whoever tampers
with its answer) could point one at 169.254.169.254 (cloud metadata), at another local port (the
sandbox's control endpoint, keys and all, was once stored as a raw file), or at ``file:``. Every URL
and every redirect hop is therefore checked before a connection is made: the scheme must be http(s),
and every address the host resolves to must be public, unless host and port are exactly those of
the vendor's configured base URL (the sandbox on loopback, or a vendor on a private network).
"""

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from export_pipelines.transport.errors import DownloadRefused
from export_pipelines.transport.redact import redact_url

#: 50 GiB: far above any export seen, low enough that a runaway body cannot fill a disk.
DEFAULT_MAX_DOWNLOAD_BYTES = 50 * 1024**3
#: Redirects followed per download attempt (each hop re-checked).
DEFAULT_MAX_REDIRECTS = 5
#: A download slower than this over a whole ``DEFAULT_STALL_SECONDS`` is treated as broken (and
#: resumed): a vendor dripping bytes would otherwise hold a run forever, as no single read times out.
DEFAULT_MIN_BYTES_PER_SECOND = 1024.0
DEFAULT_STALL_SECONDS = 60.0

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class DownloadPolicy:
    """Where one vendor's downloads may go and how large they may be.

    ``trusted`` is the (host, port) of the vendor's configured base URL: the only non-public
    destination allowed. None trusts nothing but public addresses.
    """

    trusted: tuple[str, int] | None = None
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    min_bytes_per_second: float = DEFAULT_MIN_BYTES_PER_SECOND
    stall_seconds: float = DEFAULT_STALL_SECONDS

    @classmethod
    def for_base_url(
        cls, base_url: str, *, max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    ) -> "DownloadPolicy":
        url = httpx.URL(base_url)
        return cls(trusted=_origin(url), max_bytes=max_bytes)


def _origin(url: httpx.URL) -> tuple[str, int]:
    return url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def non_public(address: IPAddress) -> str | None:
    """Why ``address`` is no place for a download, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for flag in (  # most specific first: 127.0.0.1 is also "private"
        "is_loopback",
        "is_link_local",
        "is_unspecified",
        "is_multicast",
        "is_private",
        "is_reserved",
    ):
        if getattr(address, flag):
            return flag.removeprefix("is_").replace("_", "-")
    if not address.is_global:
        return "not globally routable"
    return None


def check_url(url: str, policy: DownloadPolicy, *, vendor: str) -> httpx.URL:
    """The parsed URL if a download may go there; :class:`DownloadRefused` (before any
    connection is made) if not."""
    where = redact_url(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise DownloadRefused(vendor, f"file URL {where} is not a valid URL") from None
    if parsed.scheme not in _SCHEMES:
        raise DownloadRefused(
            vendor,
            f"file URL {where} uses the scheme {parsed.scheme or '(none)'!r}; only http and "
            "https are downloaded",
        )
    if not parsed.host:
        raise DownloadRefused(vendor, f"file URL {where} names no host")
    if parsed.userinfo:
        raise DownloadRefused(vendor, f"file URL {where} carries credentials")
    origin = _origin(parsed)
    if policy.trusted is not None and origin == policy.trusted:
        return parsed
    for address in _addresses(parsed, vendor=vendor, where=where):
        why = non_public(address)
        if why is not None:
            raise DownloadRefused(
                vendor,
                f"file URL {where} points at {address} ({why}); only public addresses and the "
                "vendor's configured base URL host are downloaded from",
            )
    return parsed


def check_peer(
    url: httpx.URL, response: httpx.Response, policy: DownloadPolicy, *, vendor: str
) -> None:
    """Refuse a response whose connection ended up on a non-public address anyway (a name that
    resolved differently at connect time than when :func:`check_url` looked)."""
    if policy.trusted is not None and _origin(url) == policy.trusted:
        return
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return
    address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    why = non_public(address)
    if why is not None:
        raise DownloadRefused(
            vendor, f"file URL {redact_url(str(url))} connected to {address} ({why}); refused"
        )


def _addresses(url: httpx.URL, *, vendor: str, where: str) -> list[IPAddress]:
    host = url.host
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    port = url.port or _DEFAULT_PORTS[url.scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadRefused(
            vendor, f"file URL {where}: its host cannot be resolved ({exc})"
        ) from None
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if not addresses:
        raise DownloadRefused(vendor, f"file URL {where}: its host resolves to no address")
    return sorted(addresses, key=str)
