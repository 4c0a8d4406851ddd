"""The webhook side of the vendor: which URLs it accepts, and how it signs and sends a delivery.

URL rule (documented: "must be HTTPS, no localhost/private IPs"; H-4): the scheme is ``https`` and
the host is neither ``localhost`` (nor ``*.localhost``, ``*.local``, ``*.internal``) nor an IP
literal that is loopback, private, link-local, reserved, multicast or unspecified. Host names are
not resolved. With ``allow_loopback_webhooks`` a loopback host (``localhost``, 127.0.0.0/8, ::1)
is accepted over ``http`` or ``https``, for the local receiver; every other rule still holds.

Signatures (H-1): header ``SHA256-HMAC-Signature`` = hex HMAC-SHA256(key, raw body bytes); body
``hmacSignature`` = hex HMAC-SHA256(key, ``JSON.stringify(payload)``). The body itself is written
with the same ``JSON.stringify`` rules, so it is exactly what a JavaScript sender would post.
"""

import hashlib
import hmac
import ipaddress
from urllib.parse import urlsplit

from export_pipelines.decisions.hellodata import SIGNATURE_HEADER

_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_refusal(url: object, allow_loopback: bool) -> str | None:
    """None if the vendor accepts ``url`` as a webhook, else the reason it does not."""
    if not isinstance(url, str) or not url:
        return "webhookURL must be a non-empty string"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError as exc:
        return f"webhookURL is not a valid URL: {exc}"
    if not host:
        return "webhookURL has no host"
    if allow_loopback and _is_loopback(host) and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return f"webhookURL must be HTTPS, got scheme {parts.scheme or '(none)'!r}"
    if _is_loopback(host) or host.endswith(_PRIVATE_SUFFIXES):
        return f"webhookURL must be publicly accessible; {host!r} is local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if (
        address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    ):
        return f"webhookURL must be publicly accessible; {host} is a private or reserved address"
    return None


def signature(api_key: str, message: bytes) -> str:
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def delivery_headers(api_key: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "HelloData-Webhooks (export_pipelines sandbox)",
        SIGNATURE_HEADER: signature(api_key, body),
    }
