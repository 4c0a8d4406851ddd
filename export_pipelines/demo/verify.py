"""Read the demo's lake back and compare it with what the sandbox generated.

The sandbox's data is deterministic, so the truth for a vendor job is computable: each sandbox vendor
in the registry provides ``expected_records`` (from its control endpoints, the ledger's request body
and its own generator), and the Parquet must hold exactly those records' ``id``s, in order. A
vendor whose rows have no identity (HelloData's aggregate queries: one row per group) is compared
on the text columns both sides carry (the group keys), in order, and on the row count.
Connhex's points have no id either: they are compared on (time, channel, name, value), in order,
and on publisher and unit where the table carries them (a wide file has no unit, and names no
device when its item has several); its wide form, where the export has one, must hold exactly
the table's points.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.ledger import JobRecord
from export_pipelines.sandbox.registry import registered


def expected_ids(sandbox_url: str, job: JobRecord, vendor_job_id: str) -> list[str]:
    """The ``id`` of every record the sandbox generated for ``job``, as strings, in file order."""
    vendor = registered(job.vendor)
    records = vendor.expected_records(sandbox_url, vendor_job_id, job.request_body)
    return [str(record["id"]) for record in records]


def comparable_rows(
    path: Path, records: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(rows in the Parquet at ``path``, the sandbox's ``records``), each row a tuple of the
    compared columns as text: ``id`` where both sides have it, else the text columns both carry."""
    schema = pq.read_schema(path)
    if not records or ("id" in records[0] and "id" in schema.names):
        columns = ["id"]
    else:
        columns = [
            name
            for name in records[0]
            if name in schema.names and pa.types.is_string(schema.field(name).type)
        ]
    table = pq.read_table(path, columns=columns)
    got = list(zip(*(map(str, table.column(c).to_pylist()) for c in columns), strict=True))
    if not columns:
        got = [()] * table.num_rows
    expected = [tuple(str(record[c]) for c in columns) for record in records]
    return got, expected


def connhex_rows(
    path: Path, records: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(Connhex points in the Parquet at ``path``, the sandbox's records), each point as
    (time in UTC, channel, name, value to 12 digits[, publisher][, unit]), publisher and unit
    compared only where the table carries them."""
    table = pq.read_table(path, columns=["time", "channel", "name", "value", "publisher", "unit"])
    carried = [k for k in ("publisher", "unit") if table.column(k).null_count < table.num_rows]

    def point(values: Mapping[str, Any], moment: datetime) -> tuple[str, ...]:
        value = values["value"]
        shown = "" if value is None else f"{float(value):.12g}"
        extra = [str(values[k]) for k in carried]
        return (
            moment.astimezone(UTC).isoformat(),
            values["channel"],
            values["name"],
            shown,
            *extra,
        )

    got = [point(row, row["time"]) for row in table.to_pylist()]
    expected = [point(r, datetime.fromisoformat(str(r["time"]))) for r in records]
    return got, expected


def connhex_wide_problems(path: Path, wide: Path) -> list[str]:
    """The wide form holds exactly the long table's points, cell for cell."""
    if not wide.exists():
        return [f"{wide} is missing"]
    long = pq.read_table(path, columns=["time", "channel", "name", "value"]).to_pylist()
    table = pq.read_table(wide)
    variables = [n for n in table.schema.names if n not in ("time", "channel") and n[0] != "_"]
    cells = {
        (row["time"], row["channel"], name, row[name])
        for row in table.to_pylist()
        for name in variables
        if row[name] is not None
    }
    points = {(r["time"], r["channel"], r["name"], r["value"]) for r in long}
    if cells != points or len(long) != len(cells):
        return [f"{wide} holds {len(cells)} cells, the table {len(long)} points; they differ"]
    return []


def lake_problems(jobs: list[JobRecord], data: Path, sandbox_url: str) -> list[str]:
    problems = []
    for job in jobs:
        path = data / "lake" / job.vendor / job.export / job.partition_key / "data.parquet"
        if not path.exists():
            problems.append(f"{path} is missing")
            continue
        if job.vendor_job_id is None:
            problems.append(f"{path}: ledger job {job.id} has no vendor job id to verify against")
            continue
        vendor = registered(job.vendor)
        records = list(vendor.expected_records(sandbox_url, job.vendor_job_id, job.request_body))
        if job.vendor == "connhex":
            got, expected = connhex_rows(path, records)
            if any(i["params"].get("outputFormat") == "wide" for i in job.request_body["items"]):
                problems += connhex_wide_problems(path, path.with_name("wide.parquet"))
        else:
            got, expected = comparable_rows(path, records)
        if len(got) != job.rows:
            problems.append(f"{path} holds {len(got)} rows, the ledger counted {job.rows}")
        if got != expected:
            problems.append(
                f"{path} holds {len(got)} records; the sandbox generated {len(expected)} for that "
                f"window ({len(set(got) ^ set(expected))} differ)"
            )
    return problems
