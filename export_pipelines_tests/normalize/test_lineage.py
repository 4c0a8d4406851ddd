"""Lineage columns through the writer: every row names its own file and vendor job, whatever the
sizes of the batches and in whatever order of sizes they come (the columns are built once per
file and sliced)."""

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.normalize import Lineage, write_parquet

SCHEMA = pa.schema([("n", pa.int64())])


def _batches(sizes: list[int]):
    start = 0
    for size in sizes:
        yield pa.RecordBatch.from_arrays([pa.array(range(start, start + size))], schema=SCHEMA)
        start += size


def test_each_row_names_its_file_and_job_over_batches_of_any_size(tmp_path: Path) -> None:
    at = datetime(2024, 3, 2, 8, tzinfo=UTC)
    lineage = Lineage("orders", "2024-03-01", "job-1", at, vendor_job_ids={"b.csv": "job-2"})
    sizes = {"a.csv": [3, 7, 2, 0, 7, 11], "b.csv": [5, 1, 9], "c.csv": [4]}
    result = write_parquet(
        tmp_path / "t.parquet",
        SCHEMA,
        [(name, _batches(s)) for name, s in sizes.items()],
        lineage,
    )
    table = pq.read_table(result.path)
    rows = table.select(["_source_file", "_vendor_job_id", "_export", "_partition"]).to_pylist()
    expected = [
        {
            "_source_file": name,
            "_vendor_job_id": "job-2" if name == "b.csv" else "job-1",
            "_export": "orders",
            "_partition": "2024-03-01",
        }
        for name, s in sizes.items()
        for _ in range(sum(s))
    ]
    assert rows == expected
    assert set(table.column("_ingested_at").to_pylist()) == {at}
    assert result.rows_per_source == {name: sum(s) for name, s in sizes.items()}
