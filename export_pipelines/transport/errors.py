"""Typed errors that name the vendor and the request, never the secret.

Every message passes through :func:`redact` before it is built, so an API key that a vendor echoes
back, or that sits in a signed URL's query string, cannot reach a log line, a Dagster event or the
ledger.
"""

from datetime import datetime

from export_pipelines.transport.redact import redact_text


class VendorError(Exception):
    """Base of every error raised by a vendor client."""

    def __init__(self, vendor: str, message: str, *, secrets: tuple[str, ...] = ()) -> None:
        self.vendor = vendor
        self.message = redact_text(message, secrets)
        super().__init__(f"{vendor}: {self.message}")


class TransportError(VendorError):
    """The vendor could not be reached or the connection broke, after every retry."""


class RequestNotSent(TransportError):
    """The request never left this process (bad URL or header, connection refused): the vendor
    cannot have acted on it, so a submit that fails this way can be released and tried again at once."""


class OutcomeUnknown(TransportError):
    """The request was sent but no complete answer came back (timeout, connection lost midway): the
    vendor may have acted on it, so a submit that fails this way must not simply be sent again."""


class DownloadRefused(RequestNotSent):
    """A file URL (or a redirect) points where downloads may not go: another scheme than http(s),
    or a loopback, link-local or private address that is not the vendor's configured host."""


class DownloadTooLarge(TransportError):
    """A file grew past the configured cap (``max_download_bytes``); nothing of it is kept."""


class VendorUnavailable(VendorError):
    """The vendor kept answering 429 or 5xx until the retry budget ran out.

    ``retry_at`` is set when the vendor said when to come back and that was too far off to wait
    for in the call (a quota exhausted for hours): whoever calls again should not before then.
    """

    def __init__(
        self,
        vendor: str,
        message: str,
        *,
        status: int,
        secrets: tuple[str, ...] = (),
        retry_at: datetime | None = None,
    ):
        self.status = status
        self.retry_at = retry_at
        super().__init__(vendor, message, secrets=secrets)


class AuthenticationError(VendorError):
    """401/403 on an API call: the key is missing, wrong or lacks permission."""

    def __init__(self, vendor: str, message: str, *, status: int, secrets: tuple[str, ...] = ()):
        self.status = status
        super().__init__(vendor, message, secrets=secrets)


class RequestRejected(VendorError):
    """A 4xx other than auth: the request itself is wrong and retrying cannot help."""

    def __init__(self, vendor: str, message: str, *, status: int, secrets: tuple[str, ...] = ()):
        self.status = status
        super().__init__(vendor, message, secrets=secrets)


class ExpiredUrlError(VendorError):
    """A signed file URL was refused (403/410): ask the vendor for a fresh one."""
