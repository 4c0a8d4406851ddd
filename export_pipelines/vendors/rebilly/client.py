"""Rebilly data-exports client: create, read, list, and the file links of a finished export.

Vendor quirks handled here:
- The API root is ``{host}/experimental/organizations/{organizationId}`` and the key travels in
  ``REB-APIKEY``; the key goes to that host only (``download_headers``), never to a pre-signed link.
- Status runs ``pending → queued → processing → completed | failed`` (DECISIONS R-1); ``failed``
  carries ``failureReason`` (the vendor's newer definitions), which becomes the job's error.
- A completed export has one file, offered twice in ``_links`` (R-4): rel ``signedLink``
  (pre-signed, valid an hour from when it is handed out, no key) is preferred; rel ``download``
  (``{base}/files/{fileId}/download``, needs the key) is the fallback. Reading the export again
  hands out a fresh signed link, so an expired one is refreshed by the pipeline's re-read.
- ``recordCount`` is the vendor's own row count (header excluded): the table's check compares it.
- Errors are RFC 7807 problem bodies; a 422 lists ``invalidFields`` (dot notation). Their title,
  detail and fields make the error message instead of the raw body.
- A 429 says when to retry in ``X-RateLimit-Retry-After``, as the UTC epoch second of the reset.
- ``DELETE /data-exports/{id}`` (204) cancels: a stuck export is deleted at the vendor.
- ``POST /data-exports`` creates a new export every time. When its answer is lost, the list
  endpoint (newest first) finds the export whose writable fields equal what was sent.
"""

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from typing_extensions import override

from export_pipelines.decisions import rebilly as decided
from export_pipelines.transport import (
    AnswerLimits,
    AuthenticationError,
    DownloadPolicy,
    RetryPolicy,
    VendorError,
    VendorHttp,
    VendorUnavailable,
)
from export_pipelines.transport.retry import standard_retry_after
from export_pipelines.vendors.base import (
    RemoteFile,
    RemoteState,
    RemoteStatus,
    SubmitOutcome,
    Submitted,
)
from export_pipelines.vendors.rebilly.request import absolute_time

VENDOR = "rebilly"
EXPORTS_PATH = "/data-exports"
EXPORT_PATH = "/data-exports/{id}"
#: The documented shape of a resource id; anything else is refused before it reaches a URL path.
_RESOURCE_ID = re.compile(r"^[@~\-.\w]{1,50}$")
#: Raw file name per format. Whether the vendor sent a ZIP of parts instead is read from the
#: bytes by the normalizer (the vendor's record limit per file is its own setting).
FILE_NAMES = {
    "csv": "data-export.csv",
    "json": "data-export.json",
    "json-api": "data-export.jsonapi.json",
    "xml": "data-export.xml",
    "pdf": "data-export.pdf",
}
_RUNNING = frozenset(decided.STATUSES) - frozenset(decided.TERMINAL_STATUSES)
#: After a lost submit answer, exports created this long before the submit are still considered
#: (the vendor's clock is not ours) …
LOOKUP_CLOCK_SLACK = timedelta(minutes=5)
#: … and at most this many list pages (newest first) are read.
LOOKUP_MAX_PAGES = 10
#: The writable fields that identify what a submit asked for.
_REQUEST_FIELDS = (
    "name",
    "resource",
    "format",
    "arguments",
    "emailNotification",
    "fields",
    "recurring",
)


def rebilly_retry_after(response: httpx.Response) -> float | None:
    """Seconds until ``X-RateLimit-Retry-After`` (epoch seconds, or an ISO-8601 time); the
    standard ``Retry-After`` where the vendor sends that instead."""
    value = response.headers.get(decided.RATE_LIMIT_RETRY_AFTER_HEADER, "").strip()
    if not value:
        return standard_retry_after(response)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return max(0.0, float(value) - time.time())
    moment = absolute_time(value)
    return max(0.0, moment.timestamp() - time.time()) if moment else None


def describe_problem(text: str) -> str | None:
    """An RFC 7807 problem body as one line: title, detail, and each invalid field."""
    try:
        problem = json.loads(text)
    except ValueError:
        return None
    if not isinstance(problem, dict) or not ({"title", "detail", "invalidFields"} & set(problem)):
        return None
    parts = [str(problem[key]) for key in ("title", "detail") if problem.get(key)]
    fields = problem.get("invalidFields")
    if isinstance(fields, list) and fields:
        listed = [
            f"{item.get('field', '?')}: {item.get('message', '')}".strip()
            for item in fields
            if isinstance(item, dict)
        ]
        parts.append("invalid fields: " + "; ".join(listed))
    return " — ".join(parts) or None


class _RebillyHttp(VendorHttp):
    """``VendorHttp`` whose error messages read the vendor's problem bodies."""

    @override
    def _error_for(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> Exception:
        error = super()._error_for(method, path, response, attempts)
        problem = describe_problem(response.text)
        if problem is None or not isinstance(error, VendorError):
            return error
        message = f"{method} {path} answered HTTP {response.status_code}: {problem}"
        if isinstance(error, AuthenticationError):
            message += " (the API key was refused: missing, wrong or without permission)"
        elif isinstance(error, VendorUnavailable):
            message += f" (after {attempts} attempt(s))"
        status = getattr(error, "status", response.status_code)
        return type(error)(self.vendor, message, status=status, secrets=self.secrets)  # type: ignore[call-arg]


class RebillyClient:
    #: ``GET /data-exports`` lists exports newest first: a submit whose answer was lost is found.
    can_find_submitted: ClassVar[bool] = True
    #: ``DELETE /data-exports/{id}`` removes an export in any status; one still being generated
    #: is stopped (R-9).
    can_cancel: ClassVar[bool] = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        download_policy: DownloadPolicy | None = None,
        limits: AnswerLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.download_policy = download_policy or DownloadPolicy.for_base_url(base_url)
        self._api_key = api_key
        self._http = _RebillyHttp(
            vendor=VENDOR,
            base_url=self.base_url,
            headers={decided.API_KEY_HEADER: api_key, "Accept": "application/json"},
            secrets=(api_key,),
            timeout_seconds=timeout_seconds,
            retry=retry or RetryPolicy(retry_after=rebilly_retry_after),
            limits=limits,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "RebillyClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, body: dict[str, Any]) -> Submitted:
        answer = self._http.post_json(EXPORTS_PATH, body, idempotent=False)
        status = parse_export(answer, fetched_at=datetime.now(UTC))
        return Submitted(_export_id(answer), SubmitOutcome.CREATED, status)

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        """The oldest export created since ``submitted_after`` whose writable fields are ``body``'s."""
        oldest_allowed = submitted_after - LOOKUP_CLOCK_SLACK
        found: dict[str, Any] | None = None
        limit = decided.LIST_DEFAULT_LIMIT
        for page in range(LOOKUP_MAX_PAGES):
            answer = self._http.get_json(
                EXPORTS_PATH,
                params={"sort": "-createdTime", "limit": str(limit), "offset": str(page * limit)},
            )
            if not isinstance(answer, list):
                raise VendorError(VENDOR, f"GET {EXPORTS_PATH} answered {type(answer).__name__}")
            older_seen = False
            for item in answer:
                created = _created(item)
                if created is not None and created < oldest_allowed:
                    older_seen = True
                    break
                if isinstance(item, dict) and same_request(item, body):
                    found = item  # keep going: the list is newest first, ours is the oldest
            if older_seen or len(answer) < limit:
                break
        if found is None:
            return None
        status = parse_export(found, fetched_at=datetime.now(UTC))
        return Submitted(_export_id(found), SubmitOutcome.CREATED, status)

    def cancel(self, vendor_job_id: str) -> None:
        """Delete the export; one the vendor no longer knows (404) is gone already."""
        path = EXPORT_PATH.format(id=_checked_id(vendor_job_id))
        self._http.request("DELETE", path, accept=(404,))

    def status(self, vendor_job_id: str) -> RemoteStatus:
        answer = self._http.get_json(EXPORT_PATH.format(id=_checked_id(vendor_job_id)))
        status = parse_export(answer, fetched_at=datetime.now(UTC))
        if answer.get("id") != vendor_job_id:
            raise VendorError(
                VENDOR, f"asked for data export {vendor_job_id}, answered {answer.get('id')!r}"
            )
        return status

    def download_headers(self, url: str) -> dict[str, str]:
        """The key for the vendor's own ``/files/{id}/download`` links only; a signed link (or any
        other host) gets nothing."""
        own, there = urlsplit(self.base_url), urlsplit(url)
        same_origin = (own.scheme, own.netloc) == (there.scheme, there.netloc)
        if same_origin and there.path.startswith(own.path + "/files/"):
            return {decided.API_KEY_HEADER: self._api_key}
        return {}


def _checked_id(vendor_job_id: str) -> str:
    if not _RESOURCE_ID.match(vendor_job_id):
        raise VendorError(VENDOR, f"{vendor_job_id!r} is not a Rebilly resource id")
    return vendor_job_id


def _export_id(answer: dict[str, Any]) -> str:
    export_id = answer.get("id")
    if not isinstance(export_id, str) or not _RESOURCE_ID.match(export_id):
        raise VendorError(VENDOR, f"a data export without a valid id: {str(answer)[:200]}")
    return export_id


def _created(item: Any) -> datetime | None:
    value = item.get("createdTime") if isinstance(item, dict) else None
    return absolute_time(value) if isinstance(value, str) else None


def _same_time(sent: Any, echoed: Any) -> bool:
    if sent == echoed:
        return True
    a = absolute_time(sent) if isinstance(sent, str) else None
    b = absolute_time(echoed) if isinstance(echoed, str) else None
    return a is not None and a == b


def same_request(export: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether a listed export asks for exactly what ``body`` asks for (the vendor may echo absent
    optional fields as null or empty, and absolute times in another spelling)."""
    for name in _REQUEST_FIELDS:
        sent, echoed = body.get(name), export.get(name)
        if (sent or None) != (echoed or None):
            return False
    sent_range, echoed_range = body.get("dateRange"), export.get("dateRange")
    if not sent_range or not echoed_range:
        return not sent_range and not echoed_range
    return all(
        _same_time(sent_range.get(key), echoed_range.get(key)) for key in ("start", "end")
    ) and (sent_range.get("field") in (None, echoed_range.get("field")))


def _link(answer: dict[str, Any], rel: str) -> str | None:
    links = answer.get("_links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("rel") == rel and isinstance(link.get("href"), str):
            return str(link["href"])
    return None


def parse_export(answer: Any, *, fetched_at: datetime) -> RemoteStatus:
    """One ``DataExport`` as running / completed (with its file) / failed (with the reason)."""
    if not isinstance(answer, dict):
        raise VendorError(VENDOR, f"a data export answered {type(answer).__name__}, not an object")
    export_id = answer.get("id")
    state = answer.get("status")
    count = answer.get("recordCount")
    detail = {
        key: answer[key]
        for key in ("status", "recordCount", "failureReason", "scheduledTime", "updatedTime")
        if key in answer
    }
    if state in _RUNNING:
        return RemoteStatus(RemoteState.RUNNING, detail=detail)
    if state == "failed":
        reason = answer.get("failureReason") or "failed without a failureReason"
        return RemoteStatus(RemoteState.FAILED, error=str(reason), detail=detail)
    if state != "completed":
        raise VendorError(
            VENDOR,
            f"data export {export_id} has status {state!r}, none of {', '.join(decided.STATUSES)}",
        )
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise VendorError(VENDOR, f"completed data export {export_id} has recordCount {count!r}")
    name = FILE_NAMES.get(str(answer.get("format")), "data-export")
    signed = _link(answer, decided.LINK_SIGNED)
    if signed is not None:
        expires = fetched_at + timedelta(seconds=decided.SIGNED_LINK_TTL_SECONDS)
        file = RemoteFile(url=signed, name=name, expires_at=expires)
    elif (download := _link(answer, decided.LINK_DOWNLOAD)) is not None:
        file = RemoteFile(url=download, name=name)
    else:
        raise VendorError(
            VENDOR,
            f"completed data export {export_id} has neither a signedLink nor a download link",
        )
    return RemoteStatus(RemoteState.COMPLETED, files=(file,), vendor_rows=count, detail=detail)
