"""Enterpret Data Export API v1 client: submit, fetch, labels.

Vendor quirks handled here:
- ``fetch`` is a POST but only reads, so it is retried like a GET; ``submit`` creates an export and
  is retried only where the vendor cannot have processed it (see ``RetryPolicy``).
- A running export answers 200 with ``{}`` (reference) or ``{"isCompleted": false}`` (the vendor's
  sample scripts); a finished one ``responseFiles`` with or without ``isCompleted: true``; a failed
  one ``isCompleted: true`` with ``error`` (DECISIONS N-2). Every shape is accepted.
- File URLs expire a few hours after each fetch (N-6); fetching again hands out fresh ones, so the
  expiry recorded is fetch time + the decided lifetime.
- There is no list endpoint and no dedupe: a submit whose answer is lost cannot be found again
  (``can_find_submitted`` is False), and every submit that reaches the vendor creates a job.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from export_pipelines.decisions import enterpret as decided
from export_pipelines.transport import (
    AnswerLimits,
    DownloadPolicy,
    RetryPolicy,
    VendorError,
    VendorHttp,
)
from export_pipelines.vendors.base import (
    RemoteFile,
    RemoteState,
    RemoteStatus,
    SubmitOutcome,
    Submitted,
)

VENDOR = "enterpret"
SUBMIT_PATH = "/export/external/v1/async/submit"
FETCH_PATH = "/export/external/v1/async/fetch"
LABEL_PATH = "/export/external/v1/labels/{label_id}"


class EnterpretClient:
    #: The API documents submit, fetch and labels only: a lost submit answer cannot be looked up.
    can_find_submitted: ClassVar[bool] = False
    #: Enterpret documents no cancel or delete of an export query.
    can_cancel: ClassVar[bool] = False

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
        self.download_policy = download_policy or DownloadPolicy.for_base_url(base_url)
        self._http = VendorHttp(
            vendor=VENDOR,
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            secrets=(api_key,),
            timeout_seconds=timeout_seconds,
            retry=retry,
            limits=limits,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EnterpretClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, body: dict[str, Any]) -> Submitted:
        answer = self._http.post_json(SUBMIT_PATH, body, idempotent=False)
        query_id = answer.get("queryID") if isinstance(answer, dict) else None
        if not isinstance(query_id, str) or not query_id:
            raise VendorError(VENDOR, f"submit answered without a queryID: {str(answer)[:200]}")
        return Submitted(query_id, SubmitOutcome.CREATED)

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        raise NotImplementedError(
            "Enterpret has no endpoint that lists exports: a submit whose answer was lost cannot "
            "be found again"
        )

    def cancel(self, vendor_job_id: str) -> None:
        raise NotImplementedError("Enterpret documents no cancel or delete of an export query")

    def status(self, vendor_job_id: str) -> RemoteStatus:
        answer = self._http.post_json(FETCH_PATH, {"queryID": vendor_job_id}, idempotent=True)
        return parse_fetch_answer(answer, fetched_at=datetime.now(UTC))

    def download_headers(self, url: str) -> dict[str, str]:
        return {}  # pre-signed URLs: the API key must not travel to the file host

    def label(self, label_id: str) -> dict[str, Any]:
        answer = self._http.get_json(LABEL_PATH.format(label_id=label_id))
        if not isinstance(answer, dict) or not isinstance(answer.get("label"), dict):
            raise VendorError(VENDOR, f"label {label_id} answered an unexpected shape")
        return answer["label"]


def parse_fetch_answer(answer: Any, *, fetched_at: datetime) -> RemoteStatus:
    """Map every documented fetch shape onto running / completed / failed."""
    if not isinstance(answer, dict):
        raise VendorError(VENDOR, f"fetch answered {type(answer).__name__}, not a JSON object")
    error = answer.get("error")
    files = answer.get("responseFiles")
    completed = answer.get("isCompleted")
    if error:
        return RemoteStatus(RemoteState.FAILED, error=str(error), detail={"error": error})
    if files is None:
        if completed is True:
            # Done with nothing to say: the reference marks responseFiles required, so zero files.
            return RemoteStatus(RemoteState.COMPLETED)
        return RemoteStatus(RemoteState.RUNNING)
    if not isinstance(files, list) or not all(isinstance(url, str) for url in files):
        raise VendorError(VENDOR, "fetch answered responseFiles that is not a list of URLs")
    expires = fetched_at + timedelta(seconds=decided.FILE_URL_TTL_SECONDS)
    return RemoteStatus(
        RemoteState.COMPLETED,
        files=tuple(
            RemoteFile(url=url, name=f"part-{index:05d}.json", expires_at=expires)
            for index, url in enumerate(files)
        ),
    )
