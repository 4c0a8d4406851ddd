"""``VendorHttp``: one vendor's API calls, with retries, typed errors and redaction."""

import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from export_pipelines.transport.errors import (
    AuthenticationError,
    OutcomeUnknown,
    RequestNotSent,
    RequestRejected,
    VendorUnavailable,
)
from export_pipelines.transport.redact import redact_text
from export_pipelines.transport.retry import RetryPolicy, wait_too_long_text

log = logging.getLogger(__name__)

#: Errors where the request may not have reached the vendor (safe to retry any request) …
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
#: … and where it may have been processed (retry only idempotent requests).
_MIDWAY_ERRORS = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.DecodingError,
)
#: Our own request is unsendable (never retried: it cannot get better). Their texts are not
#: shown: h11's "Illegal header value b'Bearer <key>\\n'" prints the header, key and all.
_UNSENDABLE: dict[type[Exception], str] = {
    httpx.LocalProtocolError: "a request header is not valid HTTP (an API key with a newline, "
    "space or control character?)",
    httpx.UnsupportedProtocol: "the URL's scheme is not http or https",
    httpx.InvalidURL: "the URL is not a valid URL",
    UnicodeError: "a request header holds a character that is not ASCII",
}
_UNSENDABLE_ERRORS: tuple[type[Exception], ...] = tuple(_UNSENDABLE)

_ERROR_BODY_LIMIT = 500
#: An API answer (JSON) larger than this is refused: a vendor answering a status poll with 64 MiB
#: is broken or hostile, and reading on would hold it all in memory.
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024**2
#: An API answer that takes longer than this in all (a vendor dripping bytes, each read within
#: the read timeout) is abandoned as if the connection had broken.
DEFAULT_ANSWER_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class AnswerLimits:
    """How much of an API answer is read, and for how long, before it is given up on."""

    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    deadline_seconds: float = DEFAULT_ANSWER_DEADLINE_SECONDS


class _AnswerTooSlow(httpx.ReadTimeout):
    """The answer kept arriving, too slowly to finish within the deadline."""


class _AnswerTooLarge(Exception):
    def __init__(self, received: int, status: int) -> None:
        self.received, self.status = received, status


class VendorHttp:
    """A thin, retrying JSON client for one vendor's API.

    ``secrets`` are masked out of every error message (some vendors echo headers back); signed URL
    query strings are dropped too. Auth headers go only to ``base_url``: file downloads use
    :func:`export_pipelines.transport.download_to_file` with a client that carries no key, so a
    pre-signed URL on a storage host never sees the API key.
    """

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        headers: Mapping[str, str],
        secrets: tuple[str, ...],
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        limits: AnswerLimits | None = None,
    ) -> None:
        self.vendor = vendor
        self.secrets = secrets
        self.retry = retry or RetryPolicy()
        self.limits = limits or AnswerLimits()
        if not base_url.startswith(("http://", "https://")):
            raise RequestNotSent(vendor, "the base URL does not start with http:// or https://")
        try:
            self._client = httpx.Client(
                base_url=base_url.rstrip("/"),
                headers=dict(headers),
                timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
                transport=transport,
                follow_redirects=False,
            )
        except _UNSENDABLE_ERRORS as exc:
            raise RequestNotSent(
                vendor, f"cannot build the client: {_unsendable(exc)}", secrets=secrets
            ) from None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "VendorHttp":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send a request; return the 2xx response (or one whose status is in ``accept``, for a
        vendor whose documented non-2xx answer carries data, e.g. HiEnergy's 409 with the report
        in flight) or raise a typed, redacted error."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send(method, path, json_body, params)
            except _AnswerTooLarge as exc:
                raise RequestRejected(
                    self.vendor,
                    f"{method} {path} answered more than {self.limits.max_bytes} bytes "
                    f"(read {exc.received} before stopping); an API answer that large is refused",
                    status=exc.status,
                    secrets=self.secrets,
                ) from None
            except _UNSENDABLE_ERRORS as exc:
                raise RequestNotSent(
                    self.vendor,
                    f"{method} {path} was not sent: {_unsendable(exc)}",
                    secrets=self.secrets,
                ) from None
            except (*_CONNECT_ERRORS, *_MIDWAY_ERRORS) as exc:
                retryable = idempotent or isinstance(exc, _CONNECT_ERRORS)
                if not retryable or attempt >= self.retry.max_attempts:
                    error = RequestNotSent if isinstance(exc, _CONNECT_ERRORS) else OutcomeUnknown
                    raise error(
                        self.vendor,
                        f"{method} {path} failed after {attempt} attempt(s): {type(exc).__name__}: {exc}",
                        secrets=self.secrets,
                    ) from None
                self._pause(
                    self.retry.delay(attempt) or 0.0, type(exc).__name__, method, path, attempt
                )
                continue
            except httpx.HTTPError as exc:
                # Anything else httpx raises happened after sending began: the outcome is unknown.
                raise OutcomeUnknown(
                    self.vendor,
                    f"{method} {path} failed: {type(exc).__name__}: {exc}",
                    secrets=self.secrets,
                ) from None
            if response.is_success or response.status_code in accept:
                return response
            retryable = self.retry.should_retry_status(response.status_code, idempotent=idempotent)
            if retryable:
                too_long = self._wait_too_long(method, path, response, attempt)
                if too_long is not None:
                    raise too_long
            if retryable and attempt < self.retry.max_attempts:
                delay = self.retry.delay(attempt, response)
                if delay is not None:
                    self._pause(delay, f"HTTP {response.status_code}", method, path, attempt)
                    continue
            raise self._error_for(method, path, response, attempt)

    def _send(
        self, method: str, path: str, json_body: Any, params: Mapping[str, str] | None
    ) -> httpx.Response:
        """One exchange, its body read with a size cap and an overall deadline."""
        request = self._client.build_request(method, path, json=json_body, params=params)
        deadline = time.monotonic() + self.limits.deadline_seconds
        streamed = self._client.send(request, stream=True)
        try:
            parts: list[bytes] = []
            received = 0
            for chunk in streamed.iter_bytes():
                received += len(chunk)
                if received > self.limits.max_bytes:
                    raise _AnswerTooLarge(received, streamed.status_code)
                if time.monotonic() > deadline:
                    raise _AnswerTooSlow(
                        f"the answer was still arriving after {self.limits.deadline_seconds:.0f} s "
                        f"({received} bytes)"
                    )
                parts.append(chunk)
        finally:
            streamed.close()
        # The body is decoded already: the copy must not claim an encoding or another length.
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=b"".join(parts),
            request=request,
            extensions=streamed.extensions,
        )

    def post_json(self, path: str, body: Any, *, idempotent: bool) -> Any:
        return self._decode(self.request("POST", path, json_body=body, idempotent=idempotent), path)

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._decode(self.request("GET", path, params=params), path)

    def _decode(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:  # JSONDecodeError, and UnicodeDecodeError for a body that is not UTF-8
            raise RequestRejected(
                self.vendor,
                f"{path} answered {response.status_code} with a body that is not JSON: "
                f"{response.text[:_ERROR_BODY_LIMIT]!r}",
                status=response.status_code,
                secrets=self.secrets,
            ) from None

    def _pause(self, delay: float, why: str, method: str, path: str, attempt: int) -> None:
        log.warning(
            "%s: %s %s got %s; retry %d/%d in %.1fs",
            self.vendor,
            method,
            path,
            why,
            attempt,
            self.retry.max_attempts - 1,
            delay,
        )
        time.sleep(delay)

    def _wait_too_long(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> VendorUnavailable | None:
        """The error for a vendor asking to wait longer than ``max_retry_after_seconds``, which
        is not waited out (it would block a worker): say so, and when to try again."""
        asked = self.retry.retry_after(response)
        if asked is None or asked <= self.retry.max_retry_after_seconds:
            return None
        return VendorUnavailable(
            self.vendor,
            f"{method} {path} answered HTTP {response.status_code} after {attempts} attempt(s) "
            f"and {wait_too_long_text(asked, self.retry.max_retry_after_seconds)}",
            status=response.status_code,
            secrets=self.secrets,
            retry_at=datetime.now(UTC) + timedelta(seconds=asked),
        )

    def _error_for(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> Exception:
        body = redact_text(response.text[:_ERROR_BODY_LIMIT], self.secrets)
        status = response.status_code
        what = f"{method} {path} answered HTTP {status}"
        if status in (401, 403):
            return AuthenticationError(
                self.vendor,
                f"{what}: the API key was refused (missing, wrong or without permission). "
                f"Vendor said: {body}",
                status=status,
                secrets=self.secrets,
            )
        if status == 429 or status >= 500:
            return VendorUnavailable(
                self.vendor,
                f"{what} after {attempts} attempt(s); vendor said: {body}",
                status=status,
                secrets=self.secrets,
            )
        return RequestRejected(
            self.vendor, f"{what}; vendor said: {body}", status=status, secrets=self.secrets
        )


def _unsendable(exc: Exception) -> str:
    for kind, reason in _UNSENDABLE.items():
        if isinstance(exc, kind):
            return reason
    return type(exc).__name__
