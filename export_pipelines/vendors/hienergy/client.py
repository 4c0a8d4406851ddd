"""HiEnergy export reports client: create, poll, list, and the parts of a chunked report.

Vendor quirks handled here:
- Create has three documented answers (E-2): 201 a new report, 200 ``deduped: true`` a completed
  identical report reused inside the dedupe window, 409 ``{"export": …}`` an identical report still
  in flight, to be polled instead of re-created. All three yield the report's id; the outcome says
  which, so the ledger and the metadata can tell a reuse from a new report.
- ``GET /exports/{id}`` answers ``{"export": …}`` (E-1). A chunked parent has no file of its own: it
  carries ``progress {parts_ready, total_parts}`` and its parts are child reports listed by
  ``GET /exports?parent_report_id={id}`` (E-4), each with its own presigned URL.
- Presigned URLs live ``download_expires_in_seconds`` (E-5, 900 s) from the answer that handed them
  out; reading the report again hands out fresh ones, so ``status`` is also the URL refresh.
- The list (newest first, bounded by ``limit``, E-6) makes a submit whose answer was lost findable:
  the report with the same ``report_type`` and parameters created after the submit.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from export_pipelines.decisions import hienergy as decided
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
from export_pipelines.vendors.hienergy.reports import (
    VENDOR,
    ExportReport,
    envelope,
    parse_report,
)

EXPORTS_PATH = "/exports"
EXPORT_PATH = "/exports/{id}"

#: Reports created up to this long before a submit's start still count as its own (clock skew
#: between this machine and the vendor).
CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class CreateAnswer:
    """What ``POST /exports`` said: the report and whether it is new, in flight or reused."""

    report: ExportReport
    #: created (201), adopted (409: an identical report in flight), deduped (200: a reuse).
    outcome: SubmitOutcome


def file_suffix(report_type: str) -> str:
    """``*_csv`` reports are CSV files, ``*_excel`` reports XLSX (E-5)."""
    if report_type.endswith(decided.CSV_SUFFIX):
        return ".csv"
    if report_type.endswith(decided.EXCEL_SUFFIX):
        return ".xlsx"
    raise VendorError(VENDOR, f"report type {report_type!r} is neither a CSV nor an Excel report")


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except json.JSONDecodeError:
        raise VendorError(
            VENDOR, f"{where} answered HTTP {response.status_code} with a body that is not JSON"
        ) from None


def _canonical(value: Any) -> str:
    return json.dumps(value or {}, sort_keys=True, separators=(",", ":"))


def same_parameters(report: ExportReport, body: dict[str, Any]) -> bool:
    """Whether ``report`` was made from ``body``'s parameters.

    The vendor documents ``parameters`` only as an object; it is accepted as the two request objects
    nested (``{"search_params", "index_params"}``) or as the search parameters themselves.
    """
    search, index = body.get("search_params") or {}, body.get("index_params") or {}
    params = report.parameters
    if "search_params" in params or "index_params" in params:
        return _canonical(params.get("search_params")) == _canonical(search) and _canonical(
            params.get("index_params")
        ) == _canonical(index)
    return _canonical(params) in (_canonical(search), _canonical({**search, **index}))


class HiEnergyClient:
    #: The list endpoint shows the caller's recent reports, so a lost answer can be looked up.
    can_find_submitted: ClassVar[bool] = True
    #: HiEnergy documents no cancel or delete of an export (DECISIONS E-6).
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
        #: Where part URLs may point (presigned hosts, the configured API host) and how big.
        self.download_policy = download_policy or DownloadPolicy.for_base_url(base_url)
        self._http = VendorHttp(
            vendor=VENDOR,
            base_url=base_url,
            headers={decided.API_KEY_HEADER: api_key, "Accept": "application/json"},
            secrets=(api_key,),
            timeout_seconds=timeout_seconds,
            retry=retry,
            limits=limits,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "HiEnergyClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the vendor's calls -----------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> CreateAnswer:
        """``POST /exports``; a 409 is an answer here, not an error."""
        where = f"POST {EXPORTS_PATH}"
        response = self._http.request(
            "POST",
            EXPORTS_PATH,
            json_body=body,
            idempotent=False,
            accept=(decided.IN_FLIGHT_STATUS,),
        )
        answer = _json(response, where)
        report = parse_report(envelope(answer, "export", where=where), where=where)
        if response.status_code == decided.IN_FLIGHT_STATUS:
            return CreateAnswer(report, SubmitOutcome.ADOPTED)
        if isinstance(answer, dict) and answer.get("deduped") is True:
            return CreateAnswer(report, SubmitOutcome.DEDUPED)
        return CreateAnswer(report, SubmitOutcome.CREATED)

    def report(self, report_id: int | str) -> ExportReport:
        where = f"GET {EXPORTS_PATH}/{report_id}"
        answer = self._http.get_json(EXPORT_PATH.format(id=report_id))
        report = parse_report(envelope(answer, "export", where=where), where=where)
        if str(report.id) != str(report_id):
            raise VendorError(VENDOR, f"{where} answered report {report.id}")
        return report

    def reports(self, *, limit: int, parent_report_id: int | None = None) -> list[ExportReport]:
        """``GET /exports``: the caller's most recent reports (or a parent's parts), newest first."""
        params = {"limit": str(min(limit, decided.LIST_MAX_LIMIT))}
        if parent_report_id is not None:
            params["parent_report_id"] = str(parent_report_id)
        where = f"GET {EXPORTS_PATH}"
        items = envelope(self._http.get_json(EXPORTS_PATH, params=params), "exports", where=where)
        if not isinstance(items, list):
            raise VendorError(VENDOR, f"{where} answered 'exports' that is not a list")
        return [parse_report(item, where=where) for item in items]

    def parts(self, parent: ExportReport) -> list[ExportReport]:
        """The child reports of a chunked parent, in part order (ascending id)."""
        total = parent.progress[1] if parent.progress else None
        if total is not None and total > decided.LIST_MAX_LIMIT:
            raise VendorError(
                VENDOR,
                f"report {parent.id} has {total} parts; the list endpoint shows at most "
                f"{decided.LIST_MAX_LIMIT}, so its parts cannot all be found",
            )
        children = self.reports(limit=decided.LIST_MAX_LIMIT, parent_report_id=parent.id)
        strays = [c.id for c in children if c.parent_report_id != parent.id]
        if strays:
            raise VendorError(
                VENDOR, f"the parts list of report {parent.id} holds other reports: {strays[:5]}"
            )
        if total is not None and len(children) != total:
            raise VendorError(
                VENDOR,
                f"report {parent.id} is in {total} parts but the vendor lists {len(children)}",
            )
        return sorted(children, key=lambda child: child.id)

    # --- the pipeline's protocol ------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> Submitted:
        return self._submitted(self.create(body))

    def cancel(self, vendor_job_id: str) -> None:
        raise NotImplementedError(
            "HiEnergy documents no cancel or delete of an export (DECISIONS E-6)"
        )

    def status(self, vendor_job_id: str) -> RemoteStatus:
        return self.status_of(self.report(vendor_job_id), fetched_at=datetime.now(UTC))

    def status_of(self, report: ExportReport, *, fetched_at: datetime) -> RemoteStatus:
        """Map a report onto running / completed (with its files) / failed."""
        progress = report.progress
        detail: dict[str, Any] = {"status": report.status}
        if report.status == "failed":
            return RemoteStatus(
                RemoteState.FAILED,
                error=f"report {report.id}: {report.error_message or 'failed without a message'}",
                detail=detail,
                progress=progress,
            )
        if report.status != "completed":
            return RemoteStatus(RemoteState.RUNNING, detail=detail, progress=progress)
        if report.chunked_export:
            files = self._part_files(report, fetched_at)
        else:
            files = (self._file(report, report, 0, fetched_at),)
        return RemoteStatus(RemoteState.COMPLETED, files=files, detail=detail, progress=progress)

    def find_submitted(self, body: dict[str, Any], submitted_after: datetime) -> Submitted | None:
        found = self.find_created(body, submitted_after)
        return self._submitted(found) if found is not None else None

    def find_created(self, body: dict[str, Any], submitted_after: datetime) -> CreateAnswer | None:
        """The report a submit made when its answer was lost: same report type and parameters,
        created after the submit began; None when the vendor lists none."""
        since = submitted_after - CLOCK_SKEW
        matches = [
            report
            for report in self.reports(limit=decided.LIST_MAX_LIMIT)
            if report.parent_report_id is None
            and report.report_type == body.get("report_type")
            and report.created_at is not None
            and report.created_at >= since
            and same_parameters(report, body)
        ]
        if not matches:
            return None
        # Oldest first: a later identical report can only be a dedupe or a 409 of the same one.
        return CreateAnswer(min(matches, key=lambda r: r.id), SubmitOutcome.ADOPTED)

    def download_headers(self, url: str) -> dict[str, str]:
        return {}  # presigned S3-style URLs: the API key must not travel to the file host

    def _submitted(self, answer: CreateAnswer) -> Submitted:
        """The protocol's answer; what the report already says rides along (a deduped report is
        complete, so its files are known without a poll)."""
        status = self.status_of(answer.report, fetched_at=datetime.now(UTC))
        return Submitted(str(answer.report.id), answer.outcome, status)

    # --- files ------------------------------------------------------------------------------

    def _part_files(self, parent: ExportReport, fetched_at: datetime) -> tuple[RemoteFile, ...]:
        children = self.parts(parent)
        unfinished = [c.id for c in children if c.status != "completed"]
        if unfinished:
            raise VendorError(
                VENDOR,
                f"report {parent.id} is completed but its parts {unfinished[:5]} are not",
            )
        return tuple(
            self._file(parent, child, index, fetched_at) for index, child in enumerate(children)
        )

    @staticmethod
    def _file(
        parent: ExportReport, report: ExportReport, index: int, fetched_at: datetime
    ) -> RemoteFile:
        if not report.download_url:
            raise VendorError(VENDOR, f"report {report.id} is completed without a download_url")
        lifetime = report.download_expires_in_seconds
        if lifetime is None:
            lifetime = decided.DOWNLOAD_EXPIRES_IN_SECONDS
        # The vendor's file name is not trusted as a path: parts are numbered in order instead.
        return RemoteFile(
            url=report.download_url,
            name=f"part-{index:05d}{file_suffix(parent.report_type)}",
            expires_at=fetched_at + timedelta(seconds=lifetime),
        )
