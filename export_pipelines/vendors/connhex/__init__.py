"""Connhex exporter: create an export request for the window, poll its status until every job is
done, download the ZIP of its items' files (CSV or XLSX, long or wide) and normalize it into one
tidy long table, plus the wide table where the export asks for the wide layout.

A ``type: recurring`` export is one standing request for all its partitions (``pipeline.standing``):
the vendor runs it every partition length, and the client finds each partition's jobs among the
request's (``recurring.py``)."""

from collections.abc import Mapping
from typing import Any, ClassVar

from export_pipelines.decisions import connhex as decided
from export_pipelines.vendors.base import (
    Normalizer,
    StandingSchedule,
    VendorAdapter,
    VendorResource,
    Window,
)
from export_pipelines.vendors.connhex.records import (
    WIDE_FIXED,
    ConnhexNormalizer,
    ConnhexWideNormalizer,
)
from export_pipelines.vendors.connhex.request import ConnhexRequest, unix_seconds
from export_pipelines.vendors.connhex.resource import ConnhexResource

#: The name of the wide form's asset (``connhex/<export>/wide``) and lake file.
WIDE_FORM = "wide"


class ConnhexAdapter(VendorAdapter[ConnhexRequest]):
    name: ClassVar[str] = "connhex"
    resource_class: ClassVar[type[VendorResource]] = ConnhexResource
    request_model = ConnhexRequest

    def normalizer_for(self, request: ConnhexRequest) -> Normalizer:
        return ConnhexNormalizer(request)

    def output_forms(self, request: ConnhexRequest) -> Mapping[str, Normalizer]:
        if request.output_format == "wide":
            return {WIDE_FORM: ConnhexWideNormalizer(request)}
        return {}

    def schema_drift_problem(self, request: ConnhexRequest, policy: str) -> str | None:
        if policy == "freeze":
            return None
        return (
            "Connhex's files hold the fixed long layout or, wide, exactly the columns the "
            "request names (C-6); a column beyond them is a file of another layout, not a new "
            f"field, so no {policy} applies: its reader refuses it (only freeze applies)"
        )

    def check_request(
        self, request: ConnhexRequest, *, partitioned: bool, windowed_by_recurrence: bool
    ) -> None:
        fmt = request.format
        if fmt.extension not in decided.TABLE_EXTENSIONS:
            raise ValueError(
                f"format.extension: {fmt.extension} cannot become a table (a PDF document has no "
                f"rows to read); choose one of {', '.join(decided.TABLE_EXTENSIONS)}"
            )
        if fmt.template != "tabular":
            raise ValueError(
                "format.template: only tabular; the vendor does not document the expanded "
                "layout, so its files could not be read with certainty"
            )
        clashing = [c.id for c in fmt.columns or [] if c.id in WIDE_FIXED]
        if clashing:
            raise ValueError(
                f"format.columns: the id {', '.join(clashing)} is a column of the wide table itself"
            )
        if request.type == "recurring" and not partitioned:
            raise ValueError(
                "type: recurring: one standing request lands each of its runs in the partition "
                "of its window, so the export must be partitioned (hourly, daily or weekly, UTC)"
            )
        if request.type == "recurring" and request.periodStart is not None:
            raise ValueError(
                "periodStart: leave it out; the first run is at the first partition's end, so "
                "that run k covers partition k (move the export's start to begin later)"
            )
        if (partitioned or windowed_by_recurrence) and request.declares_window:
            raise ValueError(
                "items[].params.from/to/period: remove them; a partitioned or recurring export "
                "asks for its own window"
            )
        if not (partitioned or windowed_by_recurrence or request.declares_window):
            raise ValueError(
                "items[].params: an unpartitioned export needs from/to (Unix seconds) or period"
            )

    def build_body(self, request: ConnhexRequest, window: Window | None) -> dict[str, Any]:
        if window is None:
            if not request.declares_window:
                raise ValueError("no window: the request declares no from/to or period")
            return request.body(None, None)
        if request.type == "recurring":
            return request.one_off_body(window.start, window.end)
        return request.body(window.start, window.end)

    def is_standing(self, request: ConnhexRequest) -> bool:
        return request.type == "recurring"

    def build_standing_body(
        self, request: ConnhexRequest, schedule: StandingSchedule
    ) -> dict[str, Any]:
        """``periodicity`` and every item's ``period`` are the partition length, and the first run
        (``periodStart``) is at the first partition's end: run k's job covers exactly partition
        k's window (C-3: ``[run time - period, run time)``)."""
        declared = request.periodicity_length
        if declared is not None and declared != schedule.length:
            raise ValueError(
                f"periodicity: {request.periodicity} is not the partition length "
                f"{schedule.length}; leave it out (the partition length is taken)"
            )
        first_run = schedule.first_start + schedule.length
        return request.standing_body(unix_seconds(first_run, "start"), schedule.length)

    def window_is_fixed(self, request: ConnhexRequest, window: Window | None) -> bool:
        # ``period`` is anchored at the vendor's run time (C-3): two submits ask for other data.
        return window is not None or request.window_is_absolute


ADAPTER = ConnhexAdapter()
