"""``search_params``: the filters a HiEnergy report honours, checked key by key.

The vendor documents ``search_params`` only as "filters mirrored from the /reports UI" (E-8 open), so
the sandbox accepts the keys listed in ``FILTERS`` and refuses any other with a 400 naming it: a typo
in the catalog must not silently export everything. A key set to ``null`` counts as absent.

Every report type takes ``start_date`` / ``end_date``: a window ``[start_date, end_date)`` on the
report's date column (``generator.DATE_COLUMNS``), each an ISO date (``2024-03-01``, midnight UTC) or
an ISO datetime (naive = UTC), end exclusive; either may be left out. A date column's value counts as
midnight UTC of its day.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

WINDOW_KEYS = ("start_date", "end_date")


class SearchError(ValueError):
    """A ``search_params`` entry that is unknown or of the wrong type; ``field`` is its path."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path


@dataclass(frozen=True)
class Filter:
    """One accepted key: how its value is read and which columns it tests."""

    kind: str  # "text_in" | "int_in" | "min" | "bool" | "contains"
    columns: tuple[str, ...]


def _f(kind: str, *columns: str) -> Filter:
    return Filter(kind, columns)


_COMMON = {"network": _f("text_in", "network"), "currency": _f("text_in", "currency")}

#: Report type → accepted ``search_params`` keys (besides the window keys).
FILTERS: dict[str, dict[str, Filter]] = {
    "advertisers_csv": {
        **_COMMON,
        "advertiser_id": _f("int_in", "id"),
        "category": _f("text_in", "category"),
        "country": _f("text_in", "country"),
        "status": _f("text_in", "status"),
        "min_commission_rate": _f("min", "commission_rate"),
        "min_epc": _f("min", "epc"),
        "q": _f("contains", "name", "domain"),
    },
    "deals_excel": {
        **_COMMON,
        "advertiser_id": _f("int_in", "advertiser_id"),
        "deal_type": _f("text_in", "deal_type"),
        "exclusive": _f("bool", "exclusive"),
        "min_discount_percent": _f("min", "discount_percent"),
        "q": _f("contains", "title", "advertiser_name"),
    },
    "hot_advertisers_excel": {
        **_COMMON,
        "advertiser_id": _f("int_in", "id"),
        "category": _f("text_in", "category"),
        "country": _f("text_in", "country"),
        "min_trend_score": _f("min", "trend_score"),
        "q": _f("contains", "name", "domain"),
    },
    "clicks_details_excel": {
        **_COMMON,
        "advertiser_id": _f("int_in", "advertiser_id"),
        "country": _f("text_in", "country"),
        "device": _f("text_in", "device"),
        "sub_id": _f("text_in", "sub_id"),
        "converted": _f("bool", "converted"),
    },
}


@dataclass(frozen=True)
class Condition:
    key: str
    filter: Filter
    value: Any

    def test(self, row: Mapping[str, Any]) -> bool:
        kind, columns = self.filter.kind, self.filter.columns
        if kind == "text_in":
            return str(row[columns[0]]).lower() in self.value
        if kind == "int_in":
            return bool(row[columns[0]] in self.value)
        if kind == "min":
            return bool(row[columns[0]] >= self.value)
        if kind == "bool":
            return bool(row[columns[0]] is self.value)
        return any(self.value in str(row[column]).lower() for column in columns)


@dataclass(frozen=True)
class Search:
    """A report's parsed ``search_params``."""

    start: datetime | None = None
    end: datetime | None = None
    conditions: tuple[Condition, ...] = field(default=())

    @property
    def only_window(self) -> bool:
        return not self.conditions

    @property
    def is_empty(self) -> bool:
        return not self.conditions and self.start is None and self.end is None

    def predicate(self, date_column: str) -> Callable[[Mapping[str, Any]], bool]:
        start, end, conditions = self.start, self.end, self.conditions

        def keep(row: Mapping[str, Any]) -> bool:
            if start is not None or end is not None:
                moment = as_moment(row[date_column])
                if (start is not None and moment < start) or (end is not None and moment >= end):
                    return False
            return all(condition.test(row) for condition in conditions)

        return keep


def as_moment(value: date | datetime) -> datetime:
    """A column value as a UTC datetime: a date is midnight UTC of its day."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(), UTC)


def _window_bound(key: str, value: Any) -> datetime:
    path = f"search_params.{key}"
    if not isinstance(value, str):
        raise SearchError(path, "must be an ISO date (2024-03-01) or datetime string")
    try:
        if len(value) == 10:
            return as_moment(date.fromisoformat(value))
        return as_moment(datetime.fromisoformat(value)).astimezone(UTC)
    except ValueError:
        raise SearchError(path, f"{value!r} is not an ISO date or datetime") from None


def _read(key: str, spec: Filter, value: Any) -> Any:
    path = f"search_params.{key}"
    values = value if isinstance(value, list) else [value]
    if spec.kind == "text_in":
        if not values or not all(isinstance(item, str) for item in values):
            raise SearchError(path, "must be a string or a non-empty list of strings")
        return frozenset(item.lower() for item in values)
    if spec.kind == "int_in":
        if not values or not all(isinstance(i, int) and not isinstance(i, bool) for i in values):
            raise SearchError(path, "must be an integer or a non-empty list of integers")
        return frozenset(values)
    if spec.kind == "min":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SearchError(path, "must be a number")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise SearchError(path, "must be true or false")
        return value
    if not isinstance(value, str) or not value:
        raise SearchError(path, "must be a non-empty string")
    return value.lower()


def parse_search(report_type: str, search_params: Mapping[str, Any]) -> Search:
    """The ``Search`` of a report (SearchError naming the first bad key)."""
    accepted = FILTERS[report_type]
    bounds: dict[str, datetime] = {}
    conditions: list[Condition] = []
    for key in sorted(search_params):
        value = search_params[key]
        if value is None:
            continue
        if key in WINDOW_KEYS:
            bounds[key] = _window_bound(key, value)
        elif key in accepted:
            conditions.append(Condition(key, accepted[key], _read(key, accepted[key], value)))
        else:
            known = ", ".join(sorted([*WINDOW_KEYS, *accepted]))
            raise SearchError(
                f"search_params.{key}", f"is not a filter of {report_type} (known: {known})"
            )
    start, end = bounds.get("start_date"), bounds.get("end_date")
    if start is not None and end is not None and end <= start:
        raise SearchError("search_params.end_date", "must be after start_date")
    return Search(start, end, tuple(conditions))
