"""HelloData's tables: one declared schema per export, built from its ``scopes``.

HelloData's columns depend on the query, so each export's table is declared from its request
(never inferred from a file): one Arrow column per scope, in scope order, typed from the column
catalogue (H-2): ``string`` → string, ``integer`` → int64, ``number`` → float64, ``boolean`` → bool,
``date`` → date32. Aggregates: ``Count`` / ``CountDistinct`` → int64, ``Avg`` → float64, ``Sum``
the column's type (int64 or float64), ``Min`` / ``Max`` the column's type.

Repeated header names (PROTOCOLS §1.6, H-6): a CSV from an aggregate query repeats the source
column's name for each aggregate of it (two ``number_units`` headers for Sum and Max). Each scope
becomes a distinct column named for the aggregate it holds (``number_units_sum``,
``number_units_max``), read from the n-th occurrence of the bare header (the engine's
``occurrence``); JSONL files key those values ``<column>_<suffix>`` already. Both formats are
gzip objects, which the engine's sources decompress.
"""

from typing import Final

import pyarrow as pa

from export_pipelines.decisions import hellodata as decided
from export_pipelines.normalize.readers import Csv, JsonLines, TabularNormalizer
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.vendors.hellodata.request import HelloDataRequest, Scope

TYPES: Final = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}


def scope_type(scope: Scope) -> pa.DataType:
    kind = TYPES[decided.COLUMNS[scope.column]]
    if scope.aggregate in ("Count", "CountDistinct"):
        return pa.int64()
    if scope.aggregate == "Avg":
        return pa.float64()
    return kind


def table_schema(request: HelloDataRequest) -> TableSchema:
    columns = []
    seen: dict[str, int] = {}
    for scope in request.dataset.scopes:
        if request.format == "csv":
            seen[scope.column] = seen.get(scope.column, 0) + 1
            columns.append(
                Column(
                    scope.key, scope_type(scope), source=scope.column, occurrence=seen[scope.column]
                )
            )
        else:
            columns.append(Column(scope.key, scope_type(scope)))
    return TableSchema(columns)


def normalizer_for(request: HelloDataRequest) -> TabularNormalizer:
    fmt = Csv() if request.format == "csv" else JsonLines()
    return TabularNormalizer(table_schema(request), fmt)
