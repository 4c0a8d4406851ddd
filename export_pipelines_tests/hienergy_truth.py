"""What a HiEnergy table must hold: the sandbox generator's rows, in the table's declared types.

The sandbox recomputes a report's rows from its control endpoints (``expected_records``); this turns
each into the row the table declares (money to cents as decimals, an empty text to null) and
compares whole rows, column by column, so a type or a value lost on the way shows up by name.
"""

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.sandbox.registry import registered
from export_pipelines.vendors.hienergy.records import NORMALIZERS


def _as_declared(value: Any, kind: pa.DataType) -> Any:
    if value is None or value == "":
        return None
    if pa.types.is_decimal(kind):
        return Decimal(f"{value:.{kind.scale}f}")
    return value


def expected_rows(
    sandbox_url: str, vendor_job_id: str, body: Mapping[str, Any]
) -> list[dict[str, Any]]:
    schema = NORMALIZERS[str(body["report_type"])].schema
    declared = [f for f in schema if not f.name.startswith("_")]
    records = registered("hienergy").expected_records(sandbox_url, vendor_job_id, body)
    return [
        {f.name: _as_declared(record.get(f.name), f.type) for f in declared} for record in records
    ]


def table_rows(path: Path, report_type: str) -> list[dict[str, Any]]:
    schema = NORMALIZERS[report_type].schema
    names = [f.name for f in schema if not f.name.startswith("_")]
    return pq.read_table(path, columns=names).to_pylist()


def row_differences(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    """The first few cells that differ, named by row and column (empty when the rows are equal)."""
    problems = [f"{len(got)} rows, the generator has {len(want)}"] if len(got) != len(want) else []
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        for column in b:
            if a.get(column) != b[column]:
                problems.append(f"row {index} column {column}: {a.get(column)!r} != {b[column]!r}")
        if len(problems) > 5:
            break
    return problems
