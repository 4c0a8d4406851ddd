"""Export tables written by a test into a throw-away lake, typed as the catalog's tables are."""

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.lake import LakeResource


def write_table(
    lake: LakeResource,
    vendor: str,
    export: str,
    partition: str,
    rows: list[dict[str, Any]],
    schema: pa.Schema,
) -> Path:
    location = lake.table(vendor, export, partition)
    with lake.writing(location) as path:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    local = location.local
    assert local is not None
    return local
