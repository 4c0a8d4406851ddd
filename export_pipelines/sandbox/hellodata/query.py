"""The ``dataset`` object (DatasetPayload) as the sandbox understands it, and what it selects.

Grammar (H-2; names and value types are ``decisions.hellodata``):

* ``scopes`` (required, non-empty): ``{"column": c}`` or ``{"column": c, "aggregate": A}``, ``A``
  one of ``AGGREGATES``; a scope repeated exactly is refused (its key would collide).
* ``filters`` (optional): null, a bare array (AND), ``{"and": [...]}`` or ``{"or": [...]}``, nested
  at most ``MAX_FILTER_DEPTH`` deep; ``null`` elements are ignored, an empty group matches all. A
  node is ``{"column": c, "filter": {operator: value, ...}}``, several operators ANDed.
* ``limit`` (optional): a positive integer; the file holds at most that many rows (after grouping).

Anything else is a ``QueryError`` (a 422) naming the path of the offending element, e.g.
``dataset.filters.and[1].filter.between: unknown operator``.

Aggregates: with at least one aggregated scope, rows are grouped by the plain scopes (no plain
scope: one row for everything), groups in order of first appearance, and each aggregated scope is
computed over the group's non-null values (``AGGREGATES``' docstring in ``decisions``). The groups
are held in memory (one accumulator set per distinct key), the rows themselves are streamed.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from export_pipelines.decisions.hellodata import (
    AGGREGATE_KEY_SUFFIXES,
    AGGREGATES,
    COLUMNS,
    DATASET_FIELDS,
    FILTER_GROUPS,
    FILTER_OPERATORS,
    MAX_FILTER_DEPTH,
)

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class QueryError(ValueError):
    """The dataset object is not one the grammar accepts; the message names where and why."""


@dataclass(frozen=True)
class Scope:
    column: str
    aggregate: str | None = None

    @property
    def key(self) -> str:
        """The JSONL key: the column, or ``<column>_<suffix>`` for an aggregate (H-6)."""
        if self.aggregate is None:
            return self.column
        return f"{self.column}_{AGGREGATE_KEY_SUFFIXES[self.aggregate]}"

    @property
    def header(self) -> str:
        """The CSV header: the bare column name, aggregate or not (as the vendor's files)."""
        return self.column


@dataclass(frozen=True)
class Query:
    scopes: tuple[Scope, ...]
    predicate: Predicate
    limit: int | None

    @property
    def aggregated(self) -> bool:
        return any(scope.aggregate is not None for scope in self.scopes)

    def select(self, rows: Iterable[Row]) -> Iterator[list[Any]]:
        """The file's rows, as value lists in scope order."""
        matching = (row for row in rows if self.predicate(row))
        produced = self._grouped(matching) if self.aggregated else self._plain(matching)
        for count, values in enumerate(produced):
            if self.limit is not None and count >= self.limit:
                return
            yield values

    def _plain(self, rows: Iterable[Row]) -> Iterator[list[Any]]:
        for row in rows:
            yield [row[scope.column] for scope in self.scopes]

    def _grouped(self, rows: Iterable[Row]) -> Iterator[list[Any]]:
        keys = [scope.column for scope in self.scopes if scope.aggregate is None]
        measures = [scope for scope in self.scopes if scope.aggregate is not None]
        groups: dict[tuple[Any, ...], list[_Accumulator]] = {}
        for row in rows:
            key = tuple(row[column] for column in keys)
            accumulators = groups.get(key)
            if accumulators is None:
                accumulators = groups[key] = [_Accumulator(m.aggregate or "") for m in measures]
            for accumulator, measure in zip(accumulators, measures, strict=True):
                accumulator.add(row[measure.column])
        for key, accumulators in groups.items():
            plain = iter(key)
            results = iter(accumulators)
            yield [
                next(plain) if scope.aggregate is None else next(results).result()
                for scope in self.scopes
            ]


@dataclass
class _Accumulator:
    aggregate: str
    count: int = 0
    total: Any = 0
    low: Any = None
    high: Any = None
    distinct: set[Any] = field(default_factory=set)

    def add(self, value: Any) -> None:
        if value is None:
            return
        self.count += 1
        if self.aggregate in ("Avg", "Sum"):
            self.total += value
        elif self.aggregate == "Min":
            self.low = value if self.low is None else min(self.low, value)
        elif self.aggregate == "Max":
            self.high = value if self.high is None else max(self.high, value)
        elif self.aggregate == "CountDistinct":
            self.distinct.add(value)

    def result(self) -> Any:
        if self.aggregate == "Count":
            return self.count
        if self.aggregate == "CountDistinct":
            return len(self.distinct)
        if self.count == 0:
            return None
        if self.aggregate == "Sum":
            return self.total
        if self.aggregate == "Avg":
            return self.total / self.count
        return self.low if self.aggregate == "Min" else self.high


_NUMERIC = ("integer", "number")
_ORDERED = ("integer", "number", "date")


def _column(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise QueryError(f"{where}: column must be a string")
    if value not in COLUMNS:
        raise QueryError(f"{where}: unknown column {value!r}")
    return value


def parse_query(dataset: Any) -> Query:
    """The dataset object checked against the grammar (``QueryError`` naming the element)."""
    where = "dataset"
    if not isinstance(dataset, dict):
        raise QueryError(f"{where}: must be an object")
    unknown = [name for name in dataset if name not in DATASET_FIELDS]
    if unknown:
        raise QueryError(f"{where}.{unknown[0]}: unknown field; known: {list(DATASET_FIELDS)}")
    scopes = _scopes(dataset.get("scopes"), f"{where}.scopes")
    predicate = _filters(dataset.get("filters"), f"{where}.filters")
    limit = dataset.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise QueryError(f"{where}.limit: must be a positive integer, got {limit!r}")
    return Query(scopes, predicate, limit)


def _scopes(value: Any, where: str) -> tuple[Scope, ...]:
    if not isinstance(value, list) or not value:
        raise QueryError(f"{where}: must be a non-empty array of {{column, aggregate?}}")
    scopes: list[Scope] = []
    for position, item in enumerate(value):
        at = f"{where}[{position}]"
        if not isinstance(item, dict):
            raise QueryError(f'{at}: must be an object like {{"column": "lat"}}')
        extra = sorted(set(item) - {"column", "aggregate"})
        if extra:
            raise QueryError(f"{at}.{extra[0]}: unknown field")
        column = _column(item.get("column"), f"{at}.column")
        aggregate = item.get("aggregate")
        if aggregate is not None:
            if aggregate not in AGGREGATES:
                raise QueryError(
                    f"{at}.aggregate: unknown aggregate {aggregate!r}; known: {list(AGGREGATES)}"
                )
            kind = COLUMNS[column]
            if aggregate in ("Avg", "Sum") and kind not in _NUMERIC:
                raise QueryError(f"{at}: {aggregate} needs a numeric column, {column} is {kind}")
            if aggregate in ("Min", "Max") and kind not in _ORDERED:
                raise QueryError(
                    f"{at}: {aggregate} needs a numeric or date column, {column} is {kind}"
                )
        scope = Scope(column, aggregate)
        if scope in scopes:
            raise QueryError(f"{at}: repeats the scope {scope.key!r}")
        scopes.append(scope)
    return tuple(scopes)


def _filters(value: Any, where: str, depth: int = 0) -> Predicate:
    if depth > MAX_FILTER_DEPTH:
        raise QueryError(f"{where}: filters nest deeper than {MAX_FILTER_DEPTH}")
    if value is None:
        return lambda row: True
    if isinstance(value, list):
        return _group("and", value, where, depth)
    if not isinstance(value, dict):
        raise QueryError(f"{where}: must be an array, a group or a filter node")
    groups = [name for name in FILTER_GROUPS if name in value]
    if groups:
        if len(value) != 1:
            raise QueryError(f"{where}: a group has exactly one key, 'and' or 'or'")
        name = groups[0]
        items = value[name]
        if not isinstance(items, list):
            raise QueryError(f"{where}.{name}: must be an array")
        return _group(name, items, f"{where}.{name}", depth)
    if "column" in value or "filter" in value:
        return _node(value, where)
    raise QueryError(
        f"{where}: unknown filter key {sorted(value)[0] if value else '{}'!r}; expected 'and', 'or' or a node"
    )


def _group(kind: str, items: list[Any], where: str, depth: int) -> Predicate:
    parts = [
        _filters(item, f"{where}[{position}]", depth + 1)
        for position, item in enumerate(items)
        if item is not None
    ]
    if not parts:
        return lambda row: True
    if kind == "and":
        return lambda row: all(part(row) for part in parts)
    return lambda row: any(part(row) for part in parts)


def _node(node: dict[str, Any], where: str) -> Predicate:
    extra = sorted(set(node) - {"column", "filter"})
    if extra:
        raise QueryError(f"{where}.{extra[0]}: unknown field of a filter node")
    column = _column(node.get("column"), f"{where}.column")
    operators = node.get("filter")
    if not isinstance(operators, dict) or not operators:
        raise QueryError(f'{where}.filter: must be an object like {{"equals": ...}}')
    tests = [
        _operator(column, name, operand, f"{where}.filter.{name}")
        for name, operand in operators.items()
    ]
    return lambda row: all(test(row[column]) for test in tests)


def _typed(column: str, value: Any, where: str) -> Any:
    """A filter value checked against the column's type; dates parsed to ``date``."""
    kind = COLUMNS[column]
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in _NUMERIC and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise QueryError(f"{where}: {value!r} is not an ISO date") from None
    raise QueryError(f"{where}: {column} is {kind}, got {value!r}")


def _operator(column: str, name: str, operand: Any, where: str) -> Callable[[Any], bool]:
    kind = COLUMNS[column]
    if name not in FILTER_OPERATORS:
        raise QueryError(f"{where}: unknown operator; known: {list(FILTER_OPERATORS)}")
    if name in ("equals", "notEquals"):
        wanted = None if operand is None else _typed(column, operand, where)
        if name == "equals":
            return lambda cell: cell == wanted
        return lambda cell: cell != wanted
    if name in ("in", "notIn"):
        if not isinstance(operand, list):
            raise QueryError(f"{where}: must be an array")
        values = [_typed(column, item, f"{where}[{i}]") for i, item in enumerate(operand)]
        if name == "in":
            return lambda cell: cell is not None and cell in values
        return lambda cell: cell not in values
    if name in (
        "greaterThan",
        "greaterThanOrEqualTo",
        "lessThan",
        "lessThanOrEqualTo",
        "from",
        "to",
    ):
        if kind not in _ORDERED:
            raise QueryError(f"{where}: needs a numeric or date column, {column} is {kind}")
        bound = _typed(column, operand, where)
        compare: dict[str, Callable[[Any], bool]] = {
            "greaterThan": lambda cell: cell > bound,
            "greaterThanOrEqualTo": lambda cell: cell >= bound,
            "from": lambda cell: cell >= bound,
            "lessThan": lambda cell: cell < bound,
            "lessThanOrEqualTo": lambda cell: cell <= bound,
            "to": lambda cell: cell <= bound,
        }
        test = compare[name]
        return lambda cell: cell is not None and test(cell)
    if name in ("contains", "notContains"):
        if kind != "string" or not isinstance(operand, str):
            raise QueryError(f"{where}: needs a string column and a string, got {column} ({kind})")
        needle = operand.casefold()
        if name == "contains":
            return lambda cell: cell is not None and needle in cell.casefold()
        return lambda cell: cell is None or needle not in cell.casefold()
    if not isinstance(operand, bool):
        raise QueryError(f"{where}: must be true or false")
    if name == "isKnown":
        return lambda cell: (cell is not None) == operand
    if name == "isUnknown":
        return lambda cell: (cell is None) == operand
    if kind != "boolean":
        raise QueryError(f"{where}: flag needs a boolean column, {column} is {kind}")
    return lambda cell: cell is operand
