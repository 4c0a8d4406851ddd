"""Connhex's export request, as the catalog declares it and as it is submitted (``POST /exports``).

The model is the create body of the exporter (seed 003, v1.3.7) for message exports: ``format``
(``extension``, ``filename``, ``columns``, ``timezone``, ``template``, ``csvDelimiter``), ``type``
(``oneTime`` or ``recurring``), ``items[]`` (``params``: ``target``, ``channelId``, ``subtopic``,
``from``/``to``/``period``, ``decimation``, ``transform``, ``outputFormat``; and a ``filename``),
``periodicity``/``periodStart`` for recurring requests, and ``notification.messages``. Unknown
fields are refused, so a typo names the field in ``dg check defs``.

Quirks absorbed here:
- ``notification`` is required by the vendor with exactly one ``onSuccess`` and one ``onFailure``
  message; a catalog entry that does not care gets two e-mail messages to the creating user
  (``target`` omitted, which the vendor documents as "the user that created the rule").
- ``outputFormat: wide`` needs ``format.columns`` (the vendor says so); the columns name the
  variables (``id``) and head them in the file (``label``). Long files have the fixed columns of
  C-6, so ``columns`` there would do nothing and is refused rather than ignored.
- ``from``/``to`` are Unix *seconds* and win over ``period`` (C-3): a partitioned export declares
  neither; its window is sent as ``from``/``to`` in every item.
- ``ds`` is a positive integer and a unit letter of ``DS_UNITS`` (``w`` is the decided week letter).
- All items of one export share one ``outputFormat``: the export has one table schema.
- ``type: recurring`` is one standing request for a whole partitioned export: ``periodicity``,
  ``periodStart`` and every item's ``period`` are derived from the partitioning by the adapter
  (:meth:`ConnhexRequest.standing_body`), so the catalog leaves them out.
"""

import re
from datetime import datetime, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from export_pipelines.decisions import connhex as decided
from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.parse import parse_duration

_DS = re.compile(r"^([1-9][0-9]*)([a-z])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def exact_duration(text: str, field: str) -> timedelta:
    """An ISO-8601 duration that is a fixed length (no years or months, whose length varies)."""
    try:
        duration = parse_duration(text)
    except RecurrenceError as exc:
        raise ValueError(f"{field}: {exc}") from None
    if duration.years or duration.months:
        raise ValueError(
            f"{field}: {text!r} has years or months, which are no fixed length; "
            "write it in weeks, days, hours, minutes or seconds"
        )
    return timedelta(days=duration.days) + duration.exact


class ColumnLabel(_Strict):
    """One wide-format column: the variable ``id`` (its name) headed by ``label`` in the file."""

    id: str = Field(min_length=1)
    label: str = Field(min_length=1)


class FileFormat(_Strict):
    extension: Literal[decided.EXTENSIONS]  # type: ignore[valid-type]
    filename: str | None = Field(default=None, min_length=1)
    columns: list[ColumnLabel] | None = Field(default=None, min_length=1)
    timezone: str = decided.DEFAULT_TIMEZONE
    template: Literal[decided.TEMPLATES] = "tabular"  # type: ignore[valid-type]
    csvDelimiter: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value.lower() == "utc":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (utc or an IANA name)") from None
        return value

    @field_validator("csvDelimiter")
    @classmethod
    def _delimiter(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in '"\r\n.'):
            raise ValueError(
                f"csvDelimiter {value!r}: one character, not a quote, a line break or the "
                "decimal dot"
            )
        return value

    @model_validator(mode="after")
    def _unique_columns(self) -> Self:
        columns = self.columns or []
        for what in ("id", "label"):
            values = [getattr(c, what) for c in columns]
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"columns: the {what} {', '.join(repeated)} repeats")
        if any(c.label == "time" for c in columns):
            raise ValueError("columns: the label 'time' is the wide file's time column")
        return self

    @property
    def delimiter(self) -> str:
        return self.csvDelimiter or decided.DEFAULT_CSV_DELIMITER


class Target(_Strict):
    value: str = Field(min_length=1, description="URN(s) of the exported resource, comma-separated")
    label: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _labels_match(self) -> Self:
        if self.label is not None and len(self.label.split(",")) != len(self.value.split(",")):
            raise ValueError("target.label: as many comma-separated labels as values")
        return self


class Decimation(_Strict):
    ds: str = Field(description="a positive integer and a unit: s, m, h, d or w (e.g. 15m)")
    dsf: Literal[decided.DSF_FUNCTIONS]  # type: ignore[valid-type]

    @field_validator("ds")
    @classmethod
    def _granularity(cls, value: str) -> str:
        match = _DS.match(value)
        if not match or match.group(2) not in decided.DS_UNITS:
            units = ", ".join(decided.DS_UNITS)
            raise ValueError(f"ds {value!r}: a positive integer and one of {units} (e.g. 15m)")
        return value

    @property
    def seconds(self) -> int:
        match = _DS.match(self.ds)
        assert match is not None
        return int(match.group(1)) * decided.DS_UNITS[match.group(2)]


class ItemParams(_Strict):
    target: Target
    channelId: str = Field(min_length=1)
    subtopic: str = Field(min_length=1)
    from_: int | None = Field(default=None, alias="from", ge=0)
    to: int | None = Field(default=None, ge=0)
    period: str | None = None
    decimation: Decimation | None = None
    transform: Literal[decided.TRANSFORMS] | None = None  # type: ignore[valid-type]
    outputFormat: Literal[decided.OUTPUT_FORMATS] = decided.DEFAULT_OUTPUT_FORMAT  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _range(self) -> Self:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("from/to: give both (Unix seconds) or neither")
        if self.from_ is not None and self.to is not None and self.to <= self.from_:
            raise ValueError("to must be after from")
        if self.period is not None:
            exact_duration(self.period, "period")
        return self

    @property
    def bounded(self) -> bool:
        return self.from_ is not None


class Item(_Strict):
    params: ItemParams
    filename: str | None = Field(default=None, min_length=1)


class Message(_Strict):
    policy: Literal[decided.NOTIFICATION_POLICIES]  # type: ignore[valid-type]
    medium: Literal[decided.NOTIFICATION_MEDIUMS] = "email"  # type: ignore[valid-type]
    title: str = Field(min_length=1)
    text: str = Field(min_length=1)
    target: str | None = Field(default=None, min_length=1)


def _default_messages() -> list[Message]:
    return [
        Message(policy="onSuccess", title="Export delivered", text="Your export is ready."),
        Message(policy="onFailure", title="Export failed", text="Your export could not be made."),
    ]


class Notification(_Strict):
    messages: list[Message] = Field(default_factory=_default_messages)

    @model_validator(mode="after")
    def _one_per_policy(self) -> Self:
        policies = sorted(m.policy for m in self.messages)
        if policies != sorted(decided.NOTIFICATION_POLICIES):
            raise ValueError(
                "messages: exactly two, one with policy onSuccess and one with onFailure "
                f"(got {', '.join(policies) or 'none'})"
            )
        return self


class ConnhexRequest(_Strict):
    """The ``request`` block of a Connhex export in the catalog."""

    format: FileFormat
    type: Literal[decided.REQUEST_TYPES] = "oneTime"  # type: ignore[valid-type]
    items: list[Item] = Field(min_length=1)
    periodicity: str | None = None
    periodStart: int | None = Field(default=None, ge=0)
    notification: Notification = Field(default_factory=Notification)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        forms = {item.params.outputFormat for item in self.items}
        if len(forms) > 1:
            raise ValueError(
                "items: all items of one export share one outputFormat (the export has one "
                "table); declare long and wide items as two exports"
            )
        if self.output_format == "wide" and not self.format.columns:
            raise ValueError("format.columns: the wide outputFormat needs the columns to write")
        if self.output_format == "long" and self.format.columns:
            raise ValueError(
                "format.columns: a long file has the fixed columns "
                f"{', '.join(decided.LONG_COLUMNS)}; columns apply to the wide outputFormat only"
            )
        if self.type == "recurring":
            # Without ``periodicity`` the pipeline takes the partition length (the adapter).
            if self.periodicity is not None:
                exact_duration(self.periodicity, "periodicity")
        elif self.periodicity is not None or self.periodStart is not None:
            raise ValueError("periodicity/periodStart: only a recurring request has them")
        return self

    @property
    def output_format(self) -> str:
        return self.items[0].params.outputFormat

    @property
    def declares_window(self) -> bool:
        return any(i.params.bounded or i.params.period is not None for i in self.items)

    @property
    def window_is_absolute(self) -> bool:
        """Every item names its own from/to (no ``period``, which is relative to the run time)."""
        return all(i.params.bounded for i in self.items)

    @property
    def periodicity_length(self) -> timedelta | None:
        return exact_duration(self.periodicity, "periodicity") if self.periodicity else None

    def body(self, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """The body to POST; a window [start, end) becomes every item's ``from``/``to`` in Unix
        seconds (and replaces any ``period``, which ``from``/``to`` would win over anyway)."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if start is None or end is None:
            return body
        for item in body["items"]:
            item["params"]["from"] = unix_seconds(start, "start")
            item["params"]["to"] = unix_seconds(end, "end")
            item["params"].pop("period", None)
        return body

    def standing_body(self, period_start: int, length: timedelta) -> dict[str, Any]:
        """The recurring body whose run k (at ``period_start + k * length``) exports, in every
        item, the ``length`` ending at the run (C-3): ``[run - length, run)``."""
        body = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        every = duration_text(length)
        body["type"] = "recurring"
        body["periodicity"] = every
        body["periodStart"] = period_start
        for item in body["items"]:
            item["params"]["period"] = every
        return body

    def one_off_body(self, start: datetime, end: datetime) -> dict[str, Any]:
        """A recurring request's window asked for once, as a oneTime request with ``from``/``to``
        (what a partition of a standing export resubmits: the vendor cannot rerun a past run)."""
        body = self.body(start, end)
        body["type"] = "oneTime"
        body.pop("periodicity", None)
        body.pop("periodStart", None)
        return body


def duration_text(length: timedelta) -> str:
    """A whole number of seconds as an ISO-8601 duration in its largest exact unit (PT1H, PT90M)."""
    seconds = int(length.total_seconds())
    for unit, size in (("H", 3_600), ("M", 60), ("S", 1)):
        if seconds % size == 0:
            return f"PT{seconds // size}{unit}"
    raise AssertionError("unreachable: a second divides every whole number of seconds")


def unix_seconds(moment: datetime, bound: str) -> int:
    """``moment`` as Unix seconds; a window bound within a second cannot be asked for."""
    stamp = moment.timestamp()
    if stamp != int(stamp):
        raise ValueError(f"the window {bound} {moment.isoformat()} is not a whole second")
    return int(stamp)
