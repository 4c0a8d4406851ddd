"""``arguments`` (``filter``, ``sort``, ``q``), ``fields`` and the window: which records, in what order.

Filter subset (PROTOCOLS §3.6): ``field:value`` conditions joined by ``;`` (AND); ``,`` separates
alternatives (OR); a field is a catalogue path with ``.`` or ``/`` (``billingAddress.lastName``);
values match exactly and case-insensitively; ``a..b``, ``a..`` and ``..b`` are inclusive ranges on
numbers, amounts and timestamps (ISO-8601); ``!value`` excludes. Values are typed by the field:
an amount or integer field needs numbers, a boolean field ``true``/``false``, a range needs an
ordered field. Predefined lists (``@list``) are not simulated and are refused.

``sort``: comma-separated fields, ``-`` for descending; ties keep primary-time order. Default
order is the primary time ascending. Sorting by the primary time streams; sorting by any other
field keeps one (key, index) pair per matching record in memory, never the records.

``q``: a case-insensitive substring of any of the resource's text fields (``catalog.TEXT_FIELDS``).

Windows are ``start ≤ value < end`` on ``dateRange.field`` (default the resource's primary time).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from export_pipelines.sandbox.rebilly.catalog import (
    CATALOGUE,
    FIELDS,
    PRIMARY_TIME,
    TEXT_FIELDS,
    Field,
    Kind,
    field_path,
    select_fields,
)
from export_pipelines.sandbox.rebilly.dataset import RebillyDataset, nest, timestamp_text

Flat = dict[str, Any]
Predicate = Callable[[Flat], bool]


class QueryError(ValueError):
    """A filter, sort or q the sandbox cannot apply; the message names the part and the reason."""


@dataclass(frozen=True)
class _Condition:
    path: str
    accept: tuple[Callable[[Any], bool], ...]
    reject: tuple[Callable[[Any], bool], ...]

    def __call__(self, record: Flat) -> bool:
        value = record.get(self.path)
        if any(test(value) for test in self.reject):
            return False
        return not self.accept or any(test(value) for test in self.accept)


def _parse_value(spec: Field, text: str) -> Any:
    kind = spec.kind
    if kind is Kind.STRING:
        return text.casefold()
    if kind is Kind.DECIMAL:
        try:
            return Decimal(text)
        except InvalidOperation:
            raise QueryError(f"{spec.path} is an amount; {text!r} is not a number") from None
    if kind is Kind.INTEGER:
        try:
            return int(text)
        except ValueError:
            raise QueryError(f"{spec.path} is an integer; {text!r} is not one") from None
    if kind is Kind.BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise QueryError(f"{spec.path} is a boolean; use true or false, not {text!r}")
        return text.lower() == "true"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{spec.path} is a timestamp; {text!r} is not ISO-8601") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return timestamp_text(int(value.timestamp()))


def _comparable(spec: Field, value: Any) -> Any:
    """A record's value in the form ``_parse_value`` produces."""
    if value is None:
        return None
    if spec.kind is Kind.STRING:
        return str(value).casefold()
    if spec.kind is Kind.DECIMAL:
        return Decimal(value)
    return value


def _test(spec: Field, item: str) -> Callable[[Any], bool]:
    if item.startswith("@"):
        raise QueryError(f"predefined lists ({item}) are not simulated by the sandbox")
    if ".." in item:
        if spec.kind not in (Kind.DECIMAL, Kind.INTEGER, Kind.TIMESTAMP):
            raise QueryError(f"{spec.path} is a {spec.kind.value}; ranges need an ordered field")
        low_text, _, high_text = item.partition("..")
        low = _parse_value(spec, low_text) if low_text else None
        high = _parse_value(spec, high_text) if high_text else None

        def in_range(value: Any) -> bool:
            value = _comparable(spec, value)
            if value is None:
                return False
            return (low is None or value >= low) and (high is None or value <= high)

        return in_range
    wanted = _parse_value(spec, item)
    return lambda value: _comparable(spec, value) == wanted


def _spec(resource: str, name: str, part: str, fields: dict[str, Field] | None) -> Field:
    spec = (FIELDS[resource] if fields is None else fields).get(field_path(name.strip()))
    if spec is None:
        raise QueryError(f"{part}: unknown field {name!r} of {resource}")
    return spec


def compile_filter(
    resource: str, text: str, fields: dict[str, Field] | None = None
) -> Predicate | None:
    """The predicate of a filter string, or None for an empty one."""
    conditions: list[_Condition] = []
    for clause in text.split(";"):
        if not clause.strip():
            continue
        name, colon, values = clause.partition(":")
        if not colon:
            raise QueryError(f"filter clause {clause!r} is not field:value")
        spec = _spec(resource, name, "filter", fields)
        accept: list[Callable[[Any], bool]] = []
        reject: list[Callable[[Any], bool]] = []
        for item in values.split(","):
            item = item.strip()
            if not item or item == "!":
                raise QueryError(f"filter clause {clause!r} has an empty value")
            if item.startswith("!"):
                reject.append(_test(spec, item[1:]))
            else:
                accept.append(_test(spec, item))
        conditions.append(_Condition(spec.path, tuple(accept), tuple(reject)))
    if not conditions:
        return None
    return lambda record: all(condition(record) for condition in conditions)


def compile_search(resource: str, q: str) -> Predicate | None:
    needle = q.strip().casefold()
    if not needle:
        return None
    paths = TEXT_FIELDS[resource]
    return lambda record: any(
        record[path] is not None and needle in str(record[path]).casefold() for path in paths
    )


def parse_sort(
    resource: str, text: str, fields: dict[str, Field] | None = None
) -> list[tuple[str, bool]]:
    """``"-amount,createdTime"`` → ``[("amount", True), ("createdTime", False)]`` (descending?)."""
    keys: list[tuple[str, bool]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        descending = item.startswith("-")
        spec = _spec(resource, item.lstrip("-+"), "sort", fields)
        keys.append((spec.path, descending))
    return keys


def _leaves(resource: str, names: list[str]) -> list[str]:
    selected, errors = select_fields(resource, names)
    if errors:
        raise QueryError("; ".join(message for _, message in errors))
    return selected


class _Reversed:
    """Inverts the order of a value, for descending keys of mixed types."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "_Reversed") -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def sort_key(
    fields: dict[str, Field], keys: list[tuple[str, bool]]
) -> Callable[[Flat], tuple[Any, ...]]:
    """The sort key of ``parse_sort``'s keys; nulls first ascending, last descending."""
    specs = [(fields[path], descending) for path, descending in keys]

    def key(record: Flat) -> tuple[Any, ...]:
        parts: list[Any] = []
        for spec, descending in specs:
            value = _comparable(spec, record.get(spec.path))
            part = (value is not None, value if value is not None else 0)
            parts.append(_Reversed(part) if descending else part)
        return tuple(parts)

    return key


@dataclass(frozen=True)
class RecordQuery:
    """Everything that decides an export's records and their order."""

    resource: str
    date_field: str
    window_start: int | None = None
    window_end: int | None = None
    filter: str = ""
    sort: str = ""
    q: str = ""
    #: Selected leaf paths; None exports every field.
    fields: tuple[str, ...] | None = None
    _predicates: tuple[Predicate, ...] = field(default=(), compare=False, repr=False)
    _sort_keys: tuple[tuple[str, bool], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def build(
        cls,
        resource: str,
        date_field: str,
        window_start: int | None,
        window_end: int | None,
        filter_text: str = "",
        sort: str = "",
        q: str = "",
        fields: Iterable[str] | None = None,
    ) -> "RecordQuery":
        """Compile (QueryError names the part at fault)."""
        predicates = [
            p for p in (compile_filter(resource, filter_text), compile_search(resource, q)) if p
        ]
        return cls(
            resource=resource,
            date_field=date_field,
            window_start=window_start,
            window_end=window_end,
            filter=filter_text,
            sort=sort,
            q=q,
            fields=None if fields is None else tuple(_leaves(resource, list(fields))),
            _predicates=tuple(predicates),
            _sort_keys=tuple(parse_sort(resource, sort)),
        )

    def _candidates(self, dataset: RebillyDataset) -> tuple[range, Predicate | None]:
        """Indices to scan and, for a window on a secondary time, the test of the window."""
        primary = PRIMARY_TIME[self.resource]
        start, end = self.window_start, self.window_end
        if self.date_field == primary or (start is None and end is None):
            return dataset.index_range(start, end), None
        low, high = FIELDS[self.resource][self.date_field].offset
        indices = dataset.index_range(
            None if start is None else start - high, None if end is None else end - low + 1
        )
        start_text = None if start is None else timestamp_text(start)
        end_text = None if end is None else timestamp_text(end)
        path = self.date_field

        def in_window(record: Flat) -> bool:
            value = record[path]
            if value is None:
                return False
            return (start_text is None or value >= start_text) and (
                end_text is None or value < end_text
            )

        return indices, in_window

    def _tests(self, dataset: RebillyDataset) -> list[Predicate]:
        _, in_window = self._candidates(dataset)
        return ([in_window] if in_window else []) + list(self._predicates)

    def _matching(self, dataset: RebillyDataset, indices: Iterable[int]) -> Iterator[Flat]:
        tests = self._tests(dataset)
        for index in indices:
            record = dataset.flat(self.resource, index)
            if all(test(record) for test in tests):
                yield record

    @property
    def columns(self) -> list[str]:
        """The exported leaf paths, in order."""
        if self.fields is not None:
            return list(self.fields)
        return [spec.path for spec in CATALOGUE[self.resource]]

    def flats(self, dataset: RebillyDataset) -> Iterator[Flat]:
        """The matching records as flat dicts, in export order, projected to ``fields``."""
        for record in self._ordered(dataset):
            yield self._project(record)

    def rows(self, dataset: RebillyDataset) -> Iterator[tuple[str, Flat]]:
        """``(record id, projected flat record)`` in export order: what the file writers take."""
        for record in self._ordered(dataset):
            yield record["id"], self._project(record)

    def _ordered(self, dataset: RebillyDataset) -> Iterator[Flat]:
        indices, _ = self._candidates(dataset)
        keys = self._sort_keys
        primary = PRIMARY_TIME[self.resource]
        if not keys or keys[0] == (primary, False):
            ordered: Iterable[Flat] = self._matching(dataset, indices)
        elif keys[0] == (primary, True) and len(keys) == 1:
            ordered = self._matching(dataset, reversed(indices))
        else:
            ordered = self._sorted(dataset, indices)
        yield from ordered

    def _sorted(self, dataset: RebillyDataset, indices: range) -> Iterator[Flat]:
        key = sort_key(FIELDS[self.resource], list(self._sort_keys))
        keyed = self._keyed(dataset, indices, key)
        keyed.sort(key=lambda pair: pair[0])
        for _, index in keyed:
            yield dataset.flat(self.resource, index)

    def _keyed(
        self,
        dataset: RebillyDataset,
        indices: range,
        key: Callable[[Flat], tuple[Any, ...]],
    ) -> list[tuple[tuple[Any, ...], int]]:
        tests = self._tests(dataset)
        keyed: list[tuple[tuple[Any, ...], int]] = []
        for index in indices:
            record = dataset.flat(self.resource, index)
            if all(test(record) for test in tests):
                keyed.append((key(record), index))
        return keyed

    def _project(self, record: Flat) -> Flat:
        if self.fields is None:
            return record
        return {path: record[path] for path in self.fields}

    def records(self, dataset: RebillyDataset) -> Iterator[dict[str, Any]]:
        """The nested records of the export, in file order: the test oracle."""
        for flat in self.flats(dataset):
            yield nest(flat)
