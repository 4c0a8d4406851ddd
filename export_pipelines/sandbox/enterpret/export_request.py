"""Reading a submit body: where ``pageSize`` may sit, how numbers may be written, what a window is.

The vendor's page is inconsistent and the sandbox accepts every documented variant:

* ``pageSize`` top-level (schema, first example) or inside ``listRecords`` (every sample script),
  as an int or a numeric string (N-3); both places at once only if they agree.
* ``startTime``/``endTime``/``relative.value`` as int64 or as decimal strings (int64 in proto JSON).
* A relative range is anchored at submit time and covers ``[now - value*unit, now)``; Month and Year
  are calendar months and years, clamped to the month's last day (N-4).

Everything else is strict: unknown fields, both or neither of absolute and relative, a missing
``timerange`` are 400s with a message naming the field, so a client's misreading shows at once.
"""

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from export_pipelines.decisions.enterpret import RELATIVE_UNITS
from export_pipelines.sandbox.enterpret.errors import RequestError
from export_pipelines.sandbox.enterpret.filters import Predicate, compile_filter_query

_FIXED_UNIT_SECONDS = {"Hour": 3600, "Day": 86400, "Week": 7 * 86400}
_MONTHS_PER_UNIT = {"Month": 1, "Year": 12}
_INTEGER = re.compile(r"-?\d+")


@dataclass(frozen=True)
class ExportRequest:
    """A validated submit: the window ``[window_start, window_end)`` and the page size."""

    window_start: int
    window_end: int
    page_size: int
    filter_query: dict[str, Any] | None
    #: The request with numbers as ints and ``pageSize`` top-level: what tests inspect.
    normalized: dict[str, Any]
    predicate: Predicate | None = field(default=None, compare=False, repr=False)


def parse_submit(body: object, now: float) -> ExportRequest:
    """Validate a submit body received at ``now`` (epoch seconds); RequestError if malformed."""
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    _only(body, "request body", ("listRecords", "pageSize"))
    list_records = body.get("listRecords")
    if not isinstance(list_records, dict):
        raise RequestError("listRecords: is required and must be an object")
    _only(list_records, "listRecords", ("filter", "timerange", "pageSize"))

    page_size = _page_size(body.get("pageSize"), list_records.get("pageSize"))
    filter_query = list_records.get("filter")
    predicate = None if filter_query is None else compile_filter_query(filter_query)
    timerange, window_start, window_end = _timerange(list_records.get("timerange"), int(now))

    normalized_list: dict[str, Any] = {"timerange": timerange}
    if filter_query is not None:
        normalized_list["filter"] = filter_query
    return ExportRequest(
        window_start=window_start,
        window_end=window_end,
        page_size=page_size,
        filter_query=filter_query,
        normalized={"listRecords": normalized_list, "pageSize": page_size},
        predicate=predicate,
    )


def _only(fields: dict[str, Any], where: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise RequestError(f"{where}: unknown field(s) {unknown}; allowed: {list(allowed)}")


def _integer(value: object, where: str) -> int:
    """An int64 written as a JSON integer, an integral float, or a decimal string."""
    if isinstance(value, bool):
        raise RequestError(f"{where}: must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise RequestError(f"{where}: must be an integer or a decimal string, got {value!r}")


def _page_size(top_level: object, in_list_records: object) -> int:
    sizes = [
        _integer(value, where)
        for value, where in ((top_level, "pageSize"), (in_list_records, "listRecords.pageSize"))
        if value is not None
    ]
    if not sizes:
        raise RequestError("pageSize: is required (top-level or inside listRecords)")
    if len(set(sizes)) > 1:
        raise RequestError("pageSize: given top-level and inside listRecords with different values")
    if sizes[0] <= 0:
        raise RequestError(f"pageSize: must be a positive integer, got {sizes[0]}")
    return sizes[0]


def _timerange(value: object, now: int) -> tuple[dict[str, Any], int, int]:
    where = "listRecords.timerange"
    if not isinstance(value, dict):
        raise RequestError(f"{where}: is required and must be an object")
    _only(value, where, ("startTime", "endTime", "relative"))
    absolute = [name for name in ("startTime", "endTime") if value.get(name) is not None]
    relative = value.get("relative")
    if absolute and relative is not None:
        raise RequestError(f"{where}: give either startTime and endTime, or relative, not both")
    if relative is not None:
        return _relative(relative, now)
    if len(absolute) != 2:
        raise RequestError(
            f"{where}: needs both startTime and endTime (epoch seconds), or relative"
        )
    start = _integer(value["startTime"], f"{where}.startTime")
    end = _integer(value["endTime"], f"{where}.endTime")
    if start > end:
        raise RequestError(f"{where}: startTime {start} is after endTime {end}")
    return {"startTime": start, "endTime": end}, start, end


def _relative(value: object, now: int) -> tuple[dict[str, Any], int, int]:
    where = "listRecords.timerange.relative"
    if not isinstance(value, dict):
        raise RequestError(f"{where}: must be an object")
    _only(value, where, ("value", "unit"))
    unit = value.get("unit")
    if unit not in RELATIVE_UNITS:
        raise RequestError(f"{where}.unit: must be one of {list(RELATIVE_UNITS)}, got {unit!r}")
    if value.get("value") is None:
        raise RequestError(f"{where}.value: is required")
    amount = _integer(value["value"], f"{where}.value")
    if amount <= 0:
        raise RequestError(f"{where}.value: must be a positive integer, got {amount}")
    if unit in _FIXED_UNIT_SECONDS:
        start = now - amount * _FIXED_UNIT_SECONDS[unit]
    else:
        start = _months_before(now, amount * _MONTHS_PER_UNIT[unit], where)
    return {"relative": {"value": amount, "unit": unit}}, start, now


def _months_before(now: int, months: int, where: str) -> int:
    """``now`` moved back by calendar months, the day clamped to the month's length."""
    moment = datetime.fromtimestamp(now, UTC)
    total = moment.year * 12 + moment.month - 1 - months
    year, month0 = divmod(total, 12)
    if year < 1:
        raise RequestError(f"{where}: reaches before year 1")
    day = min(moment.day, calendar.monthrange(year, month0 + 1)[1])
    return int(moment.replace(year=year, month=month0 + 1, day=day).timestamp())
