"""Pre-signed download URLs: a path plus ``expires`` (epoch seconds) and an HMAC ``signature``.

Vendors hand out result files as short-lived signed links (S3/GCS style) that need no API key.
The sandbox signs with a per-process secret, so a link from an earlier sandbox run, a link whose
query string was edited, and a link past its expiry are all refused (403), which is what a client
must handle by fetching the export's status again for fresh links.
"""

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import urlencode


class UrlSigner:
    """Signs and checks ``(path, expires)`` pairs with HMAC-SHA256."""

    def __init__(self, secret: bytes | None = None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock

    def _signature(self, path: str, expires: int) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def query(self, path: str, ttl_seconds: int) -> str:
        """The query string (without ``?``) that makes ``path`` downloadable for ``ttl_seconds``."""
        expires = int(self._clock()) + ttl_seconds
        return urlencode({"expires": expires, "signature": self._signature(path, expires)})

    def check(self, path: str, expires: str | None, signature: str | None) -> str | None:
        """None if the link is valid now, else the reason it is refused."""
        if not expires or not signature:
            return "missing signature"
        try:
            expires_at = int(expires)
        except ValueError:
            return "malformed expires"
        if not hmac.compare_digest(self._signature(path, expires_at), signature):
            return "bad signature"
        if self._clock() >= expires_at:
            return "url expired"
        return None
