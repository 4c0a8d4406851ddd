"""Enterpret's export request, as the catalog declares it and as it is submitted.

The model mirrors the vendor's reference (SubmitAsync: ListRecordsRequest, FilterQuery, Filter,
TimeRange) and forbids unknown fields, so a typo in the catalog names the field in ``dg check defs``.
Two documented inconsistencies are absorbed here (DECISIONS N-3): ``pageSize`` may be written at the
top level or inside ``listRecords``, and numbers may be written as strings (``"5000"``, ``"30"``).
What is submitted is always the reference form: top-level integer ``pageSize``.
"""

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from export_pipelines.decisions import enterpret as decided

#: The vendor's numbers are int64 (epoch seconds, relative values): anything larger is refused here
#: rather than by the vendor.
INT64_MAX = 2**63 - 1
#: Records per result file. The vendor documents no bound (N-3); one file of a million records is
#: hundreds of MB of JSON, well past what a signed URL download should carry, so larger values are
#: taken for mistakes (``10^23`` once went through). Our bound, not the vendor's.
PAGE_SIZE_MAX = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _exactly_one(model: BaseModel, fields: tuple[str, ...], what: str) -> None:
    present = [name for name in fields if getattr(model, name) is not None]
    if len(present) != 1:
        raise ValueError(
            f"{what} takes exactly one of {', '.join(fields)}; got {', '.join(present) or 'none'}"
        )


class MetadataFilter(_Strict):
    key: str = Field(min_length=1)
    value: str | int | float | bool
    op: Literal[decided.METADATA_OPERATORS] = "EQ"  # type: ignore[valid-type]


class HasLabelFilter(_Strict):
    aspect: bool | None = None
    reason: bool | None = None
    sentiment: bool | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        chosen = [kind for kind in decided.HAS_LABEL_KINDS if getattr(self, kind)]
        if len(chosen) != 1:
            raise ValueError("hasLabel sets exactly one of aspect, reason, sentiment to true")
        return self


class Filter(_Strict):
    metadata: MetadataFilter | None = None
    languageISO6393: str | None = Field(default=None, min_length=3, max_length=3)
    source: str | None = Field(default=None, min_length=1)
    hasLabel: HasLabelFilter | None = None

    @model_validator(mode="after")
    def _one_clause(self) -> Self:
        _exactly_one(self, ("metadata", "languageISO6393", "source", "hasLabel"), "a filter")
        return self


class FilterQueryOperation(_Strict):
    op: Literal[decided.FILTER_OPERATIONS]  # type: ignore[valid-type]
    params: list["FilterQuery"] = Field(min_length=1)


class FilterQuery(_Strict):
    filter: Filter | None = None
    operation: FilterQueryOperation | None = None

    @model_validator(mode="after")
    def _filter_or_operation(self) -> Self:
        _exactly_one(self, ("filter", "operation"), "a filter query")
        return self


class RelativeTimeRange(_Strict):
    value: int = Field(gt=0, le=INT64_MAX)
    unit: Literal[decided.RELATIVE_UNITS]  # type: ignore[valid-type]


class TimeRange(_Strict):
    startTime: int | None = Field(default=None, ge=0, le=INT64_MAX)
    endTime: int | None = Field(default=None, ge=0, le=INT64_MAX)
    relative: RelativeTimeRange | None = None

    @model_validator(mode="after")
    def _absolute_or_relative(self) -> Self:
        absolute = self.startTime is not None or self.endTime is not None
        if absolute == (self.relative is not None):
            raise ValueError("a timerange is either startTime and endTime, or relative")
        if absolute:
            if self.startTime is None or self.endTime is None:
                raise ValueError("an absolute timerange needs both startTime and endTime")
            if self.endTime <= self.startTime:
                raise ValueError("endTime must be after startTime")
        return self


class ListRecords(_Strict):
    filter: FilterQuery | None = None
    timerange: TimeRange | None = None
    pageSize: int | None = Field(default=None, gt=0, le=PAGE_SIZE_MAX)


class EnterpretRequest(_Strict):
    """The ``request`` block of an Enterpret export in the catalog."""

    listRecords: ListRecords = Field(default_factory=ListRecords)
    pageSize: int | None = Field(default=None, gt=0, le=PAGE_SIZE_MAX)

    @model_validator(mode="after")
    def _one_page_size(self) -> Self:
        inner = self.listRecords.pageSize
        if self.pageSize is None and inner is None:
            raise ValueError("pageSize is required (records per result file)")
        if self.pageSize is not None and inner is not None and self.pageSize != inner:
            raise ValueError("pageSize is given twice with different values")
        return self

    @property
    def page_size(self) -> int:
        return self.pageSize if self.pageSize is not None else self.listRecords.pageSize or 0

    def body(self, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """The reference-form body; an absolute window replaces the declared timerange."""
        list_records: dict[str, Any] = {}
        if self.listRecords.filter is not None:
            list_records["filter"] = self.listRecords.filter.model_dump(exclude_none=True)
        if start is not None and end is not None:
            list_records["timerange"] = {
                "startTime": int(start.timestamp()),
                "endTime": int(end.timestamp()),
            }
        elif self.listRecords.timerange is not None:
            list_records["timerange"] = self.listRecords.timerange.model_dump(exclude_none=True)
        return {"listRecords": list_records, "pageSize": self.page_size}
