"""Connhex exporter client: create an export request, read it and its status, list, download.

Vendor quirks handled here:
- Exporter routes sit at ``/exports…`` on the deployment's APIs host; the token travels as
  ``Authorization: Bearer …``, also on the download (the vendor's own host), never elsewhere.
- A request has jobs, one per item and run (C-1): ``GET /exports/{id}/status`` answers
  ``{status, jobs}``, the request's status being the worst of its jobs'. ``done`` is completed,
  ``failed`` and ``expired`` (the vendor deleted the files by its expiry policy) are failures, the
  rest still running. Jobs done of all jobs is the progress.
- The result is one ZIP (C-2) streamed by ``GET /exports/{id}/download``, one file per item;
  ``?jobId=`` narrows it to one job. The ZIP's member names are the vendor's and are read by the
  normalizer as labels only.
- Errors are Ory-style ``{"error": {"message": …}}`` (C-7) or JSON:API ``{"errors": [{"detail"}]}``
  (other Connhex services, §4.5): their message makes the error instead of the raw body. A 429
  (past 20 queued exports) is retried after ``Retry-After`` where the vendor sends it, with back-off
  otherwise, and then fails naming the vendor's message.
- A recurring request's partition share is named ``<request id>@<window start>`` by the pipeline:
  its status is read from ``GET /exports/{id}`` (``recurring.slot_status``), each item's job of
  that window downloaded on its own (``download?jobId=``).
- ``POST /exports`` creates a new request every time. When its answer is lost, ``GET /exports``
  (newest first, paged) finds the request created since the submit that asks for what was sent.
"""

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from typing_extensions import override

from export_pipelines.decisions import connhex as decided
from export_pipelines.transport import (
    AnswerLimits,
    AuthenticationError,
    DownloadPolicy,
    RetryPolicy,
    VendorError,
    VendorHttp,
    VendorUnavailable,
)
from export_pipelines.vendors.base import (
    RemoteFile,
    RemoteState,
    RemoteStatus,
    SubmitOutcome,
    Submitted,
    parse_standing_slot,
)
from export_pipelines.vendors.connhex.recurring import slot_status

VENDOR = "connhex"
EXPORT_PATH = decided.EXPORTS_PATH + "/{id}"
STATUS_PATH = EXPORT_PATH + "/status"
DOWNLOAD_PATH = EXPORT_PATH + "/download"
#: The local name of a job's ZIP; its members are the items' files.
ZIP_NAME = "export.zip"
#: A standing request's answer lists every job of every run (hundreds of KB after months): the
#: slots of one request polled in one sensor tick share one read of it if it is this fresh.
STANDING_READ_REUSE_SECONDS = 5.0


def item_zip_name(index: int, items: int) -> str:
    """The local name of one job's ZIP of a recurring request's run (one ZIP per item's job)."""
    return ZIP_NAME if items == 1 else f"export-item-{index}.zip"


#: An id goes into a URL path: anything but a plain token is refused before it gets there.
_EXPORT_ID = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")
_RUNNING = frozenset(decided.STATUSES) - frozenset(decided.TERMINAL_STATUSES)
#: After a lost submit answer, requests created this long before the submit still count (the
#: vendor's clock is not ours) …
LOOKUP_CLOCK_SLACK = timedelta(minutes=5)
#: … and at most this many list pages (newest first) are read.
LOOKUP_MAX_PAGES = 5
LOOKUP_PAGE_SIZE = 100


def describe_error(text: str) -> str | None:
    """The vendor's error body as one line, in either of the shapes Connhex services use."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get(decided.ERROR_KEY)
    if isinstance(error, dict) and error.get(decided.ERROR_MESSAGE_KEY):
        return str(error[decided.ERROR_MESSAGE_KEY])
    errors = body.get("errors")
    if isinstance(errors, list):
        details = [str(e.get("detail")) for e in errors if isinstance(e, dict) and e.get("detail")]
        return "; ".join(details) or None
    return None


class _ConnhexHttp(VendorHttp):
    """``VendorHttp`` whose error messages read the vendor's error bodies."""

    @override
    def _error_for(
        self, method: str, path: str, response: httpx.Response, attempts: int
    ) -> Exception:
        error = super()._error_for(method, path, response, attempts)
        said = describe_error(response.text)
        if said is None or not isinstance(error, VendorError):
            return error
        message = f"{method} {path} answered HTTP {response.status_code}: {said}"
        if isinstance(error, AuthenticationError):
            message += " (the token was refused: missing, wrong or without permission)"
        elif isinstance(error, VendorUnavailable):
            message += f" (after {attempts} attempt(s))"
        status = getattr(error, "status", response.status_code)
        return type(error)(self.vendor, message, status=status, secrets=self.secrets)  # type: ignore[call-arg]


def checked_id(export_id: Any) -> str:
    if not isinstance(export_id, str) or not _EXPORT_ID.match(export_id):
        raise VendorError(VENDOR, f"{str(export_id)[:100]!r} is not a Connhex export id")
    return export_id


def _created(item: dict[str, Any]) -> datetime | None:
    value = item.get("createdAt")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def covers(sent: Any, echoed: Any) -> bool:
    """Whether ``echoed`` (a listed request) holds everything ``sent`` asked for: the vendor may add
    fields of its own (ids, timestamps, defaults) but may not change or drop what was sent."""
    if isinstance(sent, dict):
        return isinstance(echoed, dict) and all(covers(v, echoed.get(k)) for k, v in sent.items())
    if isinstance(sent, list):
        return (
            isinstance(echoed, list)
            and len(sent) == len(echoed)
            and all(covers(a, b) for a, b in zip(sent, echoed, strict=True))
        )
    if isinstance(sent, int | float) and not isinstance(sent, bool):
        return isinstance(echoed, int | float) and not isinstance(echoed, bool) and sent == echoed
    return bool(sent == echoed)


def parse_status(export_id: str, answer: Any, download_url: str) -> RemoteStatus:
    """``{status, jobs}`` as running / completed (with the ZIP) / failed (naming the jobs)."""
    if not isinstance(answer, dict):
        raise VendorError(
            VENDOR, f"export {export_id} status is {type(answer).__name__}, not an object"
        )
    state = answer.get("status")
    jobs = answer.get("jobs")
    if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        raise VendorError(VENDOR, f"export {export_id} status has no list of jobs")
    done = sum(1 for job in jobs if job.get("status") == "done")
    progress = (done, len(jobs)) if jobs else None
    detail = {"status": state, "jobs": {str(j.get("id")): j.get("status") for j in jobs}}
    if state in _RUNNING:
        return RemoteStatus(RemoteState.RUNNING, detail=detail, progress=progress)
    if state in ("failed", "expired"):
        bad = [f"job {j.get('id')} {j.get('status')}" for j in jobs if j.get("status") == state]
        why = "its files expired and were deleted by the vendor" if state == "expired" else state
        listed = f" ({', '.join(bad[:5])})" if bad else ""
        return RemoteStatus(
            RemoteState.FAILED,
            error=f"export {export_id} is {state}: {why}{listed}",
            detail=detail,
            progress=progress,
        )
    if state != "done":
        raise VendorError(
            VENDOR,
            f"export {export_id} has status {state!r}, none of {', '.join(decided.STATUSES)}",
        )
    unfinished = [str(j.get("id")) for j in jobs if j.get("status") != "done"]
    if unfinished:
        raise VendorError(
            VENDOR, f"export {export_id} is done but its jobs {', '.join(unfinished[:5])} are not"
        )
    file = RemoteFile(url=download_url, name=ZIP_NAME)
    return RemoteStatus(RemoteState.COMPLETED, files=(file,), detail=detail, progress=progress)


class ConnhexClient:
    #: ``GET /exports`` lists requests newest first: a submit whose answer was lost is found.
    can_find_submitted: ClassVar[bool] = True
    #: Connhex documents no way to delete or stop an export request (DECISIONS C-1 only assumes one).
    can_cancel: ClassVar[bool] = False

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout_seconds: float = 30.0,
        retry: RetryPolicy | None = None,
        download_policy: DownloadPolicy | None = None,
        limits: AnswerLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.download_policy = download_policy or DownloadPolicy.for_base_url(base_url)
        self._auth = f"{decided.AUTH_SCHEME} {token}"
        self._http = _ConnhexHttp(
            vendor=VENDOR,
            base_url=self.base_url,
            headers={decided.AUTH_HEADER: self._auth, "Accept": "application/json"},
            secrets=(token,),
            timeout_seconds=timeout_seconds,
            retry=retry,
            limits=limits,
        )
        self._standing_reads: dict[str, tuple[float, dict[str, Any]]] = {}
        self._standing_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ConnhexClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the vendor's calls -----------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._http.post_json(decided.EXPORTS_PATH, body, idempotent=False)
        if not isinstance(answer, dict):
            raise VendorError(
                VENDOR, f"POST {decided.EXPORTS_PATH} answered {type(answer).__name__}"
            )
        checked_id(answer.get("id"))
        return answer

    def get(self, export_id: str) -> dict[str, Any]:
        answer = self._http.get_json(EXPORT_PATH.format(id=checked_id(export_id)))
        if not isinstance(answer, dict) or answer.get("id") != export_id:
            shown = answer.get("id") if isinstance(answer, dict) else type(answer).__name__
            raise VendorError(VENDOR, f"asked for export {export_id}, answered {shown!r}")
        return answer

    def list(self, *, page: int, page_size: int, **filters: str) -> list[dict[str, Any]]:
        params = {"page": str(page), "pageSize": str(page_size), "sort": decided.LIST_DEFAULT_SORT}
        answer = self._http.get_json(decided.EXPORTS_PATH, params={**params, **filters})
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise VendorError(VENDOR, f"GET {decided.EXPORTS_PATH} answered no list of results")
        return [item for item in results if isinstance(item, dict)]

    def download_url(self, export_id: str, job_id: str | None = None) -> str:
        url = self.base_url + DOWNLOAD_PATH.format(id=checked_id(export_id))
        return url if job_id is None else f"{url}?jobId={checked_id(job_id)}"

    # --- the pipeline's protocol ------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> Submitted:
        answer = self.create(body)
        return Submitted(str(answer["id"]), SubmitOutcome.CREATED)

    def _standing_request(self, export_id: str) -> dict[str, Any]:
        """``GET /exports/{id}`` of a standing request, read once for the slots polled together
        (the status sensor asks about them from several threads at once)."""
        with self._standing_lock:
            kept = self._standing_reads.get(export_id)
            if kept is not None and time.monotonic() - kept[0] < STANDING_READ_REUSE_SECONDS:
                return kept[1]
            answer = self.get(export_id)
            self._standing_reads[export_id] = (time.monotonic(), answer)
            return answer

    def cancel(self, vendor_job_id: str) -> None:
        raise NotImplementedError(
            "Connhex documents no way to delete or stop an export request (DECISIONS C-1 only assumes one)"
        )

    def status(self, vendor_job_id: str) -> RemoteStatus:
        slot = parse_standing_slot(vendor_job_id)
        if slot is not None:
            export_id, window_start = slot
            return slot_status(
                export_id,
                window_start,
                self._standing_request(export_id),
                lambda job_id: self.download_url(export_id, job_id),
                item_zip_name,
            )
        answer = self._http.get_json(STATUS_PATH.format(id=checked_id(vendor_job_id)))
        return parse_status(vendor_job_id, answer, self.download_url(vendor_job_id))

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        """The oldest request created since ``submitted_after`` that asks for what ``body`` does."""
        oldest_allowed = submitted_after - LOOKUP_CLOCK_SLACK
        found: dict[str, Any] | None = None
        for page in range(LOOKUP_MAX_PAGES):
            items = self.list(page=page, page_size=LOOKUP_PAGE_SIZE, type=str(body.get("type")))
            older_seen = False
            for item in items:
                created = _created(item)
                if created is not None and created < oldest_allowed:
                    older_seen = True
                    break
                if covers(body, item):
                    found = item  # newest first: keep going, ours is the oldest match
            if older_seen or len(items) < LOOKUP_PAGE_SIZE:
                break
        if found is None:
            return None
        return Submitted(checked_id(found.get("id")), SubmitOutcome.CREATED)

    def download_headers(self, url: str) -> dict[str, str]:
        """The token for the vendor's own download route only; any other host gets nothing."""
        own, there = urlsplit(self.base_url), urlsplit(url)
        same_origin = (own.scheme, own.netloc) == (there.scheme, there.netloc)
        if same_origin and there.path.startswith(own.path + decided.EXPORTS_PATH + "/"):
            return {decided.AUTH_HEADER: self._auth}
        return {}
