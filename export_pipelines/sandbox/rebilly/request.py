"""The writable subset of a DataExport (POST and PUT bodies), validated into an ``ExportRequest``.

Every problem is collected into ``invalidFields`` (dot notation: ``dateRange.start``,
``fields.2``), so one 422 names them all. Read-only members a client sends back (``id``,
``status``, ``_links``…, as the vendor's JS SDK does on GET-then-PUT) and unknown members are
ignored and not echoed, except ``scheduledTime``, which is honoured: the export stays ``pending``
until then (R-1). With ``recurring.start`` and no ``scheduledTime``, the first run is at
``recurring.start``; ``recurring`` is otherwise echoed and not acted on (R-2).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from export_pipelines.decisions.rebilly import (
    DEFAULT_DATE_FIELDS,
    FILE_EXTENSIONS,
    FORMATS,
    RESOURCES,
)
from export_pipelines.sandbox.rebilly.catalog import (
    SIMULATED_RESOURCES,
    TIMESTAMP_FIELDS,
    select_fields,
)
from export_pipelines.sandbox.rebilly.dates import DateRangeError, resolve
from export_pipelines.sandbox.rebilly.problems import InvalidRequest
from export_pipelines.sandbox.rebilly.query import (
    QueryError,
    RecordQuery,
    compile_filter,
    parse_sort,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ExportRequest:
    """A valid request: what is echoed, and what decides the file."""

    #: The writable members as the client sent them (``dateRange.field`` filled with its default).
    echo: dict[str, Any]
    resource: str
    format: str
    #: Epoch seconds of the first run; None means now.
    scheduled_at: float | None
    date_field: str
    #: ``dateRange.start`` / ``.end`` as sent (relative ones are resolved when processing starts).
    range_start: str | None
    range_end: str | None
    filter: str
    sort: str
    q: str
    fields: tuple[str, ...] | None

    def query(self, now: datetime) -> tuple[RecordQuery, int | None, int | None]:
        """The record query with the window resolved at ``now``, and that window."""
        start = end = None
        if self.range_start is not None and self.range_end is not None:
            start = int(resolve(self.range_start, now).timestamp())
            end = int(resolve(self.range_end, now).timestamp())
        query = RecordQuery.build(
            self.resource,
            self.date_field,
            start,
            end,
            filter_text=self.filter,
            sort=self.sort,
            q=self.q,
            fields=self.fields,
        )
        return query, start, end


def _timestamp(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _string(body: dict[str, Any], key: str, path: str, errors: list[tuple[str, str]]) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        errors.append((path, "must be a string"))
        return None
    return value


def parse_export(body: Any, now: datetime) -> ExportRequest:
    """Validate a POST/PUT body (InvalidRequest lists every invalid field)."""
    if not isinstance(body, dict):
        raise InvalidRequest([("body", "must be a JSON object (a DataExport)")])
    errors: list[tuple[str, str]] = []
    echo: dict[str, Any] = {}

    for key in ("name", "resource", "format"):
        value = body.get(key)
        if value is None:
            errors.append((key, "is required"))
        elif not isinstance(value, str):
            errors.append((key, "must be a string"))
        else:
            echo[key] = value
    resource, export_format = echo.get("resource"), echo.get("format")
    if resource is not None and resource not in RESOURCES:
        errors.append(("resource", f"must be one of {', '.join(RESOURCES)}"))
        resource = None
    elif resource is not None and resource not in SIMULATED_RESOURCES:
        errors.append(
            ("resource", f"{resource} is not simulated; use {', '.join(SIMULATED_RESOURCES)}")
        )
        resource = None
    if export_format is not None and export_format not in FORMATS:
        errors.append(("format", f"must be one of {', '.join(FORMATS)}"))
    elif export_format is not None and export_format not in FILE_EXTENSIONS:
        errors.append(
            ("format", f"{export_format} is not simulated; use {', '.join(FILE_EXTENSIONS)}")
        )

    arguments = body.get("arguments")
    filter_text = sort = q = ""
    if arguments is not None:
        if not isinstance(arguments, dict):
            errors.append(("arguments", "must be an object"))
        else:
            echoed = {}
            for key in ("filter", "sort", "q"):
                value = _string(arguments, key, f"arguments.{key}", errors)
                if value is not None:
                    echoed[key] = value
            echo["arguments"] = echoed
            filter_text, sort, q = (echoed.get(key, "") for key in ("filter", "sort", "q"))

    emails = body.get("emailNotification")
    if emails is not None:
        if not isinstance(emails, list):
            errors.append(("emailNotification", "must be an array of emails"))
        else:
            for n, email in enumerate(emails):
                if not isinstance(email, str) or not _EMAIL.match(email):
                    errors.append((f"emailNotification.{n}", "must be an email address"))
            echo["emailNotification"] = emails

    fields: tuple[str, ...] | None = None
    raw_fields = body.get("fields")
    if raw_fields is not None:
        if not isinstance(raw_fields, list) or not all(isinstance(f, str) for f in raw_fields):
            errors.append(("fields", "must be an array of field names"))
        else:
            echo["fields"] = raw_fields
            if resource is not None and raw_fields:
                selected, unknown = select_fields(resource, raw_fields)
                errors += [(f"fields.{n}", message) for n, message in unknown]
                fields = tuple(selected)

    scheduled_at: float | None = None
    recurring = body.get("recurring")
    if recurring is not None:
        if not isinstance(recurring, dict):
            errors.append(("recurring", "must be an object"))
        else:
            instruction = recurring.get("instruction")
            if not isinstance(instruction, str) or not instruction.strip():
                errors.append(("recurring.instruction", "is required (an RFC 5545 RRULE)"))
            echoed_recurring: dict[str, Any] = {"instruction": instruction}
            start = recurring.get("start")
            if start is not None:
                parsed = _timestamp(start) if isinstance(start, str) else None
                if parsed is None:
                    errors.append(("recurring.start", "must be an ISO-8601 date-time"))
                else:
                    echoed_recurring["start"] = start
                    scheduled_at = parsed.timestamp()
            echo["recurring"] = echoed_recurring

    scheduled = body.get("scheduledTime")
    if scheduled is not None:
        parsed = _timestamp(scheduled) if isinstance(scheduled, str) else None
        if parsed is None:
            errors.append(("scheduledTime", "must be an ISO-8601 date-time"))
        else:
            scheduled_at = parsed.timestamp()

    date_field = DEFAULT_DATE_FIELDS.get(resource or "", "")
    range_start = range_end = None
    date_range = body.get("dateRange")
    if date_range is not None:
        if not isinstance(date_range, dict):
            errors.append(("dateRange", "must be an object with start and end"))
        else:
            bounds = []
            for key in ("start", "end"):
                value = date_range.get(key)
                if not isinstance(value, str):
                    errors.append((f"dateRange.{key}", "is required (a date-time or phrase)"))
                    continue
                try:
                    bounds.append(resolve(value, now))
                except DateRangeError as exc:
                    errors.append((f"dateRange.{key}", str(exc)))
            if len(bounds) == 2 and bounds[1] < bounds[0]:
                errors.append(("dateRange.end", "is before dateRange.start"))
            field = date_range.get("field")
            if field is not None:
                if not isinstance(field, str):
                    errors.append(("dateRange.field", "must be a string"))
                elif resource is not None and field not in TIMESTAMP_FIELDS[resource]:
                    errors.append(
                        (
                            "dateRange.field",
                            f"{field!r} is no timestamp of {resource}; use one of "
                            f"{', '.join(TIMESTAMP_FIELDS[resource])}",
                        )
                    )
                else:
                    date_field = field
            range_start, range_end = date_range.get("start"), date_range.get("end")
            echo["dateRange"] = {"start": range_start, "end": range_end, "field": date_field}

    request = ExportRequest(
        echo=echo,
        resource=resource or "",
        format=export_format or "",
        scheduled_at=scheduled_at,
        date_field=date_field,
        range_start=range_start,
        range_end=range_end,
        filter=filter_text,
        sort=sort,
        q=q,
        fields=fields,
    )
    if resource is not None:
        checks = (("filter", compile_filter, filter_text), ("sort", parse_sort, sort))
        for part, check, text in checks:
            try:
                check(resource, text)
            except QueryError as exc:
                errors.append((f"arguments.{part}", str(exc)))
    if errors:
        raise InvalidRequest(errors)
    return request
