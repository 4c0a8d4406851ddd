"""``VendorHttp``: one vendor's API calls, with retries, typed errors and redaction."""

import json
import logging
import time
from collections.abc import Collection, Mapping
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
from export_pipelines.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

#: Errors where the request may not have reached the vendor (safe to retry any request) …
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: … and where it may have been processed (retry only idempotent requests).
_MIDWAY_ERRORS = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError)

_ERROR_BODY_LIMIT = 500


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
    ) -> None:
        self.vendor = vendor
        self.secrets = secrets
        self.retry = retry or RetryPolicy()
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=httpx.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
            transport=transport,
            follow_redirects=False,
        )

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
                response = self._client.request(method, path, json=json_body, params=params)
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
            if response.is_success or response.status_code in accept:
                return response
            if (
                self.retry.should_retry_status(response.status_code, idempotent=idempotent)
                and attempt < self.retry.max_attempts
            ):
                delay = self.retry.delay(attempt, response)
                if delay is not None:
                    self._pause(delay, f"HTTP {response.status_code}", method, path, attempt)
                    continue
            raise self._error_for(method, path, response, attempt)

    def post_json(self, path: str, body: Any, *, idempotent: bool) -> Any:
        return self._decode(self.request("POST", path, json_body=body, idempotent=idempotent), path)

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._decode(self.request("GET", path, params=params), path)

    def _decode(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except json.JSONDecodeError:
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
