"""HelloData's export request, as the catalog declares it and as it is submitted.

The vendor documents ``POST /dataset/export`` with ``format``, ``name``, ``webhookURL`` and a
``dataset`` (DatasetPayload) of ``scopes``, ``filters`` and ``limit``; the grammar beyond the
vendor's one example is DECISIONS H-2 (``decisions/hellodata.py``). The catalog declares ``format``,
``name`` and ``dataset``; ``webhookURL`` is never declared: it is the receiver's public URL setting
(the resource adds it at submit time), so one catalog serves every deployment.

HelloData has no time-window parameter. A partitioned (monthly) export asks for its partition by
filtering the ``as_of_month`` date column with ``greaterThanOrEqualTo`` / ``lessThan`` (a half-open
window; the vendor's ``from`` / ``to`` are both inclusive), ANDed with the declared filters.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from export_pipelines.decisions import hellodata as decided

#: The date column a partition window filters (one row is one property in one month).
WINDOW_COLUMN = "as_of_month"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scope(_Strict):
    """One column of the file: a plain column (a group-by key when the query aggregates) or an
    aggregate of one."""

    column: str
    aggregate: Literal[decided.AGGREGATES] | None = None  # type: ignore[valid-type]

    @field_validator("column")
    @classmethod
    def _known_column(cls, value: str) -> str:
        if value not in decided.COLUMNS:
            raise ValueError(
                f"unknown column {value!r}; HelloData's columns: {', '.join(decided.COLUMNS)}"
            )
        return value

    @model_validator(mode="after")
    def _aggregate_fits(self) -> "Scope":
        kind = decided.COLUMNS[self.column]
        if self.aggregate in ("Avg", "Sum") and kind not in ("integer", "number"):
            raise ValueError(f"{self.aggregate} of {self.column} needs a numeric column")
        if self.aggregate in ("Min", "Max") and kind not in ("integer", "number", "date"):
            raise ValueError(f"{self.aggregate} of {self.column} needs a numeric or date column")
        return self

    @property
    def key(self) -> str:
        """The output column's name: ``number_units``, or ``number_units_sum`` for an aggregate
        (the JSONL key of H-6; CSV repeats the bare name, so its columns are read by position)."""
        if self.aggregate is None:
            return self.column
        return f"{self.column}_{decided.AGGREGATE_KEY_SUFFIXES[self.aggregate]}"


def _check_filters(node: Any, where: str, depth: int = 0) -> None:
    """The H-2 filter grammar, checked at load time so a typo fails ``dg check defs``."""
    if depth > decided.MAX_FILTER_DEPTH:
        raise ValueError(f"{where}: filter groups nest deeper than {decided.MAX_FILTER_DEPTH}")
    if node is None:
        return
    if isinstance(node, list):
        for index, item in enumerate(node):
            _check_filters(item, f"{where}[{index}]", depth + 1)
        return
    if not isinstance(node, dict):
        raise ValueError(f"{where}: a filter is a group, a node or an array, not {node!r}")
    groups = [g for g in decided.FILTER_GROUPS if g in node]
    if groups:
        if len(node) != 1:
            raise ValueError(f"{where}: a group holds only one of {decided.FILTER_GROUPS}")
        _check_filters(node[groups[0]], f"{where}.{groups[0]}", depth + 1)
        return
    if set(node) != {"column", "filter"}:
        raise ValueError(f"{where}: a filter node is {{column, filter}}; got {sorted(node)}")
    if node["column"] not in decided.COLUMNS:
        raise ValueError(f"{where}.column: unknown column {node['column']!r}")
    ops = node["filter"]
    if not isinstance(ops, dict) or not ops:
        raise ValueError(f"{where}.filter: an object of operator: value")
    for op in ops:
        if op not in decided.FILTER_OPERATORS:
            raise ValueError(
                f"{where}.filter: unknown operator {op!r}; one of "
                + ", ".join(decided.FILTER_OPERATORS)
            )


class Dataset(_Strict):
    scopes: list[Scope] = Field(min_length=1)
    filters: Any = None
    limit: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _valid(self) -> "Dataset":
        keys = [scope.key for scope in self.scopes]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"scopes: {', '.join(repeated)} requested twice")
        _check_filters(self.filters, "filters")
        return self

    def filters_with_window(self, start: datetime, end: datetime) -> dict[str, Any]:
        window = [
            {"column": WINDOW_COLUMN, "filter": {"greaterThanOrEqualTo": start.date().isoformat()}},
            {"column": WINDOW_COLUMN, "filter": {"lessThan": end.date().isoformat()}},
        ]
        declared = [] if self.filters is None else [self.filters]
        return {"and": [*declared, *window]}


def _columns_filtered(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_columns_filtered(item) for item in node)) if node else set()
    if isinstance(node, dict):
        if "column" in node:
            return {node["column"]}
        return set().union(*(_columns_filtered(v) for v in node.values())) if node else set()
    return set()


class HelloDataRequest(_Strict):
    format: Literal[decided.FORMATS]  # type: ignore[valid-type]
    name: str = Field(min_length=1)
    dataset: Dataset

    @model_validator(mode="after")
    def _pricing_needs_market(self) -> "HelloDataRequest":
        # A real caller quotes the vendor refusing pricing columns without a market filter (H-3).
        pricing = [s.column for s in self.dataset.scopes if s.column in decided.PRICING_COLUMNS]
        markets = _columns_filtered(self.dataset.filters) & set(decided.MARKET_COLUMNS)
        if pricing and not markets:
            raise ValueError(
                f"dataset.filters: pricing columns ({', '.join(pricing)}) need a filter on a "
                f"market column ({', '.join(decided.MARKET_COLUMNS)})"
            )
        return self

    def body(self, window: tuple[datetime, datetime] | None) -> dict[str, Any]:
        """The submitted body without ``webhookURL``, which the client adds from its setting (so
        the ledger's fingerprint does not change with the deployment's public URL)."""
        dataset = self.dataset.model_dump(exclude_none=True, mode="json")
        if window is not None:
            dataset["filters"] = self.dataset.filters_with_window(*window)
        return {"format": self.format, "name": self.name, "dataset": dataset}
