"""Rebilly's data-export request, as the catalog declares it and as it is submitted.

The model is the writable part of the vendor's ``DataExport`` (its OpenAPI description, 2022
generation): ``name``, ``resource``, ``format``, ``arguments`` (``filter``, ``sort``, ``q``),
``emailNotification``, ``fields``, ``recurring`` and ``dateRange``. Unknown fields are refused, so a
typo names the field in ``dg check defs``.

Quirks absorbed here:
- ``dateRange`` takes "any valid datetime" of PHP's parser, relative ones included (``yesterday``,
  ``-7 days``); a partitioned export declares no ``start``/``end`` (its window is sent as absolute
  ISO-8601 UTC times, DECISIONS R-3) but may choose the ``field`` the range applies to.
- The vendor's own ``dateRange`` requires both ``start`` and ``end``: one without the other is refused.
- ``recurring`` is passed through unchanged (R-2); the pipeline's own schedules are the recurrence.
"""

import re
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from export_pipelines.decisions import rebilly as decided

#: A pragmatic address check (the description says ``format: email``): something@host.tld.
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Arguments(_Strict):
    filter: str | None = Field(default=None, min_length=1)
    sort: str | None = Field(default=None, min_length=1)
    q: str | None = Field(default=None, min_length=1)


class Recurring(_Strict):
    instruction: str = Field(min_length=1, description="RFC 5545 RRULE, e.g. RRULE:FREQ=DAILY")
    start: str | None = None


class DateRange(_Strict):
    start: str | None = Field(default=None, min_length=1)
    end: str | None = Field(default=None, min_length=1)
    field: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.start is None) != (self.end is None):
            raise ValueError("dateRange takes both start and end, or neither")
        return self

    @property
    def bounded(self) -> bool:
        return self.start is not None and self.end is not None


def absolute_time(text: str) -> datetime | None:
    """``text`` as an absolute ISO-8601 time (UTC when it names no zone), or None if relative."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """The vendor's documented absolute form, e.g. ``2018-01-21T15:15:15Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RebillyRequest(_Strict):
    """The ``request`` block of a Rebilly export in the catalog."""

    name: str = Field(min_length=1, max_length=50)
    resource: Literal[decided.RESOURCES]  # type: ignore[valid-type]
    format: Literal[decided.FORMATS]  # type: ignore[valid-type]
    arguments: Arguments | None = None
    emailNotification: list[str] | None = None
    fields: list[str] | None = Field(default=None, min_length=1)
    recurring: Recurring | None = None
    dateRange: DateRange | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Self:
        for address in self.emailNotification or []:
            if not re.match(_EMAIL, address):
                raise ValueError(f"emailNotification: {address!r} is not an e-mail address")
        for name in self.fields or []:
            if not name.strip():
                raise ValueError("fields: an empty field name")
        if self.dateRange is not None and self.dateRange.bounded:
            start = absolute_time(self.dateRange.start or "")
            end = absolute_time(self.dateRange.end or "")
            if start is not None and end is not None and end <= start:
                raise ValueError("dateRange: end must be after start")
        return self

    @property
    def date_field(self) -> str:
        """The field the window applies to: declared, else the vendor's default for the resource."""
        declared = self.dateRange.field if self.dateRange else None
        return declared or decided.DEFAULT_DATE_FIELDS[self.resource]

    def body(self, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """The body to POST; an absolute window replaces the declared ``dateRange`` bounds.

        ``dateRange.field`` is always sent, so the body says which timestamp the window filters
        whatever the vendor's default becomes.
        """
        body = self.model_dump(exclude_none=True, exclude={"dateRange"})
        if start is not None and end is not None:
            body["dateRange"] = {
                "start": iso_utc(start),
                "end": iso_utc(end),
                "field": self.date_field,
            }
        elif self.dateRange is not None and self.dateRange.bounded:
            body["dateRange"] = {
                "start": self.dateRange.start,
                "end": self.dateRange.end,
                "field": self.date_field,
            }
        return body

    @property
    def window_is_absolute(self) -> bool:
        """Whether the declared range names two absolute times (no relative forms)."""
        dr = self.dateRange
        return (
            dr is not None
            and dr.bounded
            and absolute_time(dr.start or "") is not None
            and absolute_time(dr.end or "") is not None
        )
