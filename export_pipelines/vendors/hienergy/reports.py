"""HiEnergy's export object, read once and checked, so the client never indexes a raw dict.

The same object comes back from create (201/200), the 409 conflict, ``GET /exports/{id}`` (E-1) and
the list; only ``id``, ``report_type`` and ``status`` are required. A value of the wrong type is an
error naming the report and the field, never a silent default.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from export_pipelines.decisions import hienergy as decided
from export_pipelines.transport import VendorError

VENDOR = "hienergy"


@dataclass(frozen=True)
class ExportReport:
    id: int
    report_type: str
    status: str
    parameters: dict[str, Any]
    download_url: str | None
    download_expires_in_seconds: int | None
    error_message: str | None
    #: ``(parts_ready, total_parts)`` of a chunked parent; None otherwise.
    progress: tuple[int, int] | None
    parent_report_id: int | None
    chunked_export: bool
    created_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in decided.TERMINAL_STATUSES


def _bad(report: Any, field: str, why: str) -> VendorError:
    return VendorError(VENDOR, f"export report {report}: field {field!r} {why}")


def _optional(raw: dict[str, Any], field: str, kind: type, rid: Any) -> Any:
    value = raw.get(field)
    if value is None:
        return None
    # bool is an int to Python, not to JSON: ``true`` is no count of seconds.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _bad(rid, field, f"is {type(value).__name__}, expected {kind.__name__}")
    return value


def _timestamp(raw: dict[str, Any], field: str, rid: Any) -> datetime | None:
    value = _optional(raw, field, str, rid)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(rid, field, f"is not an ISO-8601 date-time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise _bad(rid, field, f"has no time zone: {value[:40]!r}")
    return parsed


def _progress(raw: dict[str, Any], rid: Any) -> tuple[int, int] | None:
    progress = _optional(raw, "progress", dict, rid)
    if progress is None:
        return None
    ready, total = progress.get("parts_ready"), progress.get("total_parts")
    for name, value in (("parts_ready", ready), ("total_parts", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _bad(rid, f"progress.{name}", f"is {value!r}, not a count")
    assert isinstance(ready, int) and isinstance(total, int)
    if ready > total:
        raise _bad(rid, "progress", f"says {ready} of {total} parts are ready")
    return ready, total


def parse_report(raw: Any, *, where: str) -> ExportReport:
    """One export object; ``where`` names the answer it came in (for the error message)."""
    if not isinstance(raw, dict):
        raise VendorError(VENDOR, f"{where} answered an export that is not an object: {raw!r:.200}")
    rid = raw.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise VendorError(VENDOR, f"{where} answered an export without an integer id: {rid!r:.60}")
    report_type = raw.get("report_type")
    if not isinstance(report_type, str):
        raise _bad(rid, "report_type", "is missing")
    status = raw.get("status")
    if status not in decided.STATUSES:
        raise _bad(rid, "status", f"is {status!r}, not one of {', '.join(decided.STATUSES)}")
    return ExportReport(
        id=rid,
        report_type=report_type,
        status=status,
        parameters=_optional(raw, "parameters", dict, rid) or {},
        download_url=_optional(raw, "download_url", str, rid),
        download_expires_in_seconds=_optional(raw, "download_expires_in_seconds", int, rid),
        error_message=_optional(raw, "error_message", str, rid),
        progress=_progress(raw, rid),
        parent_report_id=_optional(raw, "parent_report_id", int, rid),
        chunked_export=bool(_optional(raw, "chunked_export", bool, rid)),
        created_at=_timestamp(raw, "created_at", rid),
    )


def envelope(answer: Any, key: str, *, where: str) -> Any:
    """The member ``key`` of a JSON object answer (``export`` or ``exports``)."""
    if not isinstance(answer, dict) or key not in answer:
        raise VendorError(VENDOR, f"{where} answered without {key!r}: {str(answer)[:200]}")
    return answer[key]
