"""The one HTTP layer every vendor client sits on.

Timeouts, retries that honour the vendors' own back-off headers, secrets redacted from every error,
streamed downloads that resume with ``Range`` and land atomically, and a guard on where downloads
may point (no loopback, link-local or private address but the vendor's own host) and how large. Vendor modules stay thin:
they build requests and read bodies, and never handle a socket, a retry or a temp file themselves.
"""

from export_pipelines.transport.download import DownloadedFile, download_to_file
from export_pipelines.transport.errors import (
    AuthenticationError,
    DownloadRefused,
    DownloadTooLarge,
    ExpiredUrlError,
    OutcomeUnknown,
    RequestNotSent,
    RequestRejected,
    TransportError,
    VendorError,
    VendorUnavailable,
)
from export_pipelines.transport.guard import DEFAULT_MAX_DOWNLOAD_BYTES, DownloadPolicy
from export_pipelines.transport.http import AnswerLimits, VendorHttp
from export_pipelines.transport.retry import RetryPolicy

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "AnswerLimits",
    "AuthenticationError",
    "DownloadPolicy",
    "DownloadRefused",
    "DownloadTooLarge",
    "DownloadedFile",
    "ExpiredUrlError",
    "OutcomeUnknown",
    "RequestNotSent",
    "RequestRejected",
    "RetryPolicy",
    "TransportError",
    "VendorError",
    "VendorHttp",
    "VendorUnavailable",
    "download_to_file",
]
