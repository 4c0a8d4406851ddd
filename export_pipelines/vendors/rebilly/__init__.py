"""Rebilly: create a data export, poll it until ``completed``, download its one file (or ZIP of
parts) in csv, json, json-api or xml, and normalize it into one table per resource."""

from typing import Any, ClassVar

from export_pipelines.decisions import rebilly as decided
from export_pipelines.vendors.base import (
    FailureKind,
    Normalizer,
    VendorAdapter,
    VendorResource,
    Window,
)
from export_pipelines.vendors.rebilly.records import RebillyNormalizer
from export_pipelines.vendors.rebilly.request import RebillyRequest, absolute_time
from export_pipelines.vendors.rebilly.resource import RebillyResource
from export_pipelines.vendors.rebilly.tables import TABLES


class RebillyAdapter(VendorAdapter[RebillyRequest]):
    name: ClassVar[str] = "rebilly"
    resource_class: ClassVar[type[VendorResource]] = RebillyResource
    request_model = RebillyRequest

    def check_request(
        self, request: RebillyRequest, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        if request.format not in decided.TABLE_FORMATS:
            raise ValueError(
                f"format: {request.format} cannot become a table (Rebilly delivers pdf as a ZIP "
                "with one PDF document per record, which has no rows or columns to read); "
                f"choose one of {', '.join(decided.TABLE_FORMATS)}"
            )
        table = TABLES.get(request.resource)
        if table is None:
            raise ValueError(
                f"resource: no table is declared for {request.resource} yet (declared: "
                f"{', '.join(TABLES)}); add it to export_pipelines/vendors/rebilly/tables.py"
            )
        unknown = [f for f in request.fields or [] if not table.covered_by(f)]
        if unknown:
            raise ValueError(
                f"fields: {', '.join(unknown)} not among the {request.resource} table's fields "
                f"({', '.join(c.source for c in table.columns)})"
            )
        if request.fields and "id" not in request.fields:
            raise ValueError("fields: include id; the table's rows are identified by it")
        bounded = request.dateRange is not None and request.dateRange.bounded
        if partitioned and bounded:
            raise ValueError(
                "dateRange.start/end: remove them; a partitioned export asks for its partition's "
                "window (dateRange.field may stay, to choose the timestamp it applies to)"
            )

    def normalizer_for(self, request: RebillyRequest) -> Normalizer:
        return RebillyNormalizer(request.resource, request.format, request.fields)

    def schema_drift_problem(self, request: RebillyRequest, policy: str) -> str | None:
        if policy == "freeze":
            return None
        return (
            f"Rebilly's files carry an undeclared field differently in each format (text in csv "
            f"and xml, typed and nested in json), so no {policy} could keep it the same way "
            "whatever the format; its reader refuses such a field, naming it (only freeze "
            "applies)"
        )

    def build_body(self, request: RebillyRequest, window: Window | None) -> dict[str, Any]:
        # No window and no declared range is the vendor's documented "all time".
        if window is None:
            return request.body(None, None)
        return request.body(window.start, window.end)

    def classify_failure(self, reason: str) -> FailureKind:
        """``failureReason`` as documented: a record limit (ask for a narrower window), the
        vendor's own retries spent (ask again), else permanent."""
        if reason in decided.TOO_LARGE_FAILURE_REASONS:
            return FailureKind.TOO_LARGE
        if reason in decided.TRANSIENT_FAILURE_REASONS:
            return FailureKind.TRANSIENT
        return FailureKind.PERMANENT

    def can_narrow_window(self, body: dict[str, Any]) -> bool:
        """A body with an absolute ``dateRange`` (a partition's or a recurrence's window, always
        sent as ISO-8601 UTC) asks for ``start <= field < end`` only, so its halves hold its
        records exactly once between them; a relative or absent range cannot be halved."""
        date_range = body.get("dateRange")
        if not isinstance(date_range, dict):
            return False
        return all(
            isinstance(date_range.get(k), str) and absolute_time(date_range[k]) is not None
            for k in ("start", "end")
        )

    def window_is_fixed(self, request: RebillyRequest, window: Window | None) -> bool:
        return window is not None or request.window_is_absolute


ADAPTER = RebillyAdapter()
