"""HiEnergy's export request, as the catalog declares it and as it is submitted.

The vendor documents three fields for ``POST /exports``: ``report_type`` (one of four), and the
free-form objects ``search_params`` (filters "mirrored from the /reports UI") and ``index_params``
(sort and facets). Only ``report_type`` is checked against a vocabulary; the two objects pass through
unchanged, since the vendor publishes no key list for them (PROTOCOLS §6 E-8).

HiEnergy documents no date window. The window a partition asks for travels in ``search_params``
under the keys the simulator documents for a date window (``WINDOW_START_KEY`` / ``WINDOW_END_KEY``,
ISO dates, end exclusive), so a partitioned export must not set them itself.
"""

from datetime import UTC, datetime, time
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from export_pipelines.decisions import hienergy as decided

#: ``search_params`` keys carrying a report's date window: ISO dates, start inclusive, end exclusive.
WINDOW_START_KEY: Final = "start_date"
WINDOW_END_KEY: Final = "end_date"
WINDOW_KEYS: Final = (WINDOW_START_KEY, WINDOW_END_KEY)

ReportType = Literal[decided.REPORT_TYPES]  # type: ignore[valid-type]


class HiEnergyRequest(BaseModel):
    """The ``request`` block of a HiEnergy export in the catalog."""

    model_config = ConfigDict(extra="forbid")

    report_type: ReportType = Field(description="Which report to build (the vendor's enum).")
    search_params: dict[str, Any] = Field(
        default_factory=dict, description="Filters, as the vendor's /reports UI names them."
    )
    index_params: dict[str, Any] = Field(
        default_factory=dict, description="Sort and faceting parameters."
    )

    @property
    def declares_window(self) -> bool:
        return any(key in self.search_params for key in WINDOW_KEYS)

    def body(self, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """The create body; a window [start, end) of whole UTC days becomes the date keys."""
        search = dict(self.search_params)
        if start is not None and end is not None:
            search[WINDOW_START_KEY] = _whole_day(start, "start").isoformat()
            search[WINDOW_END_KEY] = _whole_day(end, "end").isoformat()
        body: dict[str, Any] = {"report_type": self.report_type}
        if search:
            body["search_params"] = search
        if self.index_params:
            body["index_params"] = dict(self.index_params)
        return body


def _whole_day(moment: datetime, bound: str) -> Any:
    """HiEnergy filters by date, not time: a window bound must be a UTC midnight."""
    utc = moment.astimezone(UTC)
    if utc.time() != time(0):
        raise ValueError(
            f"the window {bound} {moment.isoformat()} is not a UTC midnight; HiEnergy filters "
            "whole days, so use daily, weekly or monthly partitions in UTC"
        )
    return utc.date()
