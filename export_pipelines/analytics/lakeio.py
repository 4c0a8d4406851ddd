"""Every read and write of the analytics assets, in one module.

The lake resource builds every location (``table_path``, ``analytics_path``); this module is the
only one that opens them. Upstream tables are handed out as ``pyarrow.dataset`` datasets, which
DuckDB and pyarrow scan batch by batch (an export's partition is never read whole into memory),
and results are written to a temporary file beside the destination and renamed over it. When the
lake moves to S3 this is the module that swaps paths for URIs and a ``pyarrow.fs`` filesystem.
"""

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from export_pipelines.lake import LakeResource


@dataclass(frozen=True)
class UpstreamTables:
    """The partitions of one export an analytics partition reads: those in the lake, and those not."""

    vendor: str
    export: str
    found: tuple[str, ...]
    missing: tuple[str, ...]
    paths: tuple[Path, ...]

    def dataset(self) -> ds.Dataset:
        """The found partitions as one dataset; none found is an error naming them."""
        if not self.paths:
            raise ValueError(
                f"{self.vendor}/{self.export}: none of the partitions {', '.join(self.missing)} "
                "is in the lake; materialize the export first"
            )
        return ds.dataset([str(p) for p in self.paths], format="parquet")

    def read(self, columns: list[str]) -> pa.Table:
        """Only ``columns`` of the found partitions (analytics read a few columns of wide tables)."""
        return self.dataset().to_table(columns=columns)


def upstream_tables(
    lake: LakeResource, vendor: str, export: str, partitions: list[str]
) -> UpstreamTables:
    found, missing, paths = [], [], []
    for partition in partitions:
        path = lake.table_path(vendor, export, partition)
        if path.exists():
            found.append(partition)
            paths.append(path)
        else:
            missing.append(partition)
    return UpstreamTables(vendor, export, tuple(found), tuple(missing), tuple(paths))


def write_result(
    lake: LakeResource, vendor: str, name: str, partition: str, frame: pd.DataFrame
) -> Path:
    """Write ``frame`` as the partition's Parquet: a reader sees the old file or the new one."""
    dest = lake.analytics_path(vendor, name, partition)
    dest.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def read_result(lake: LakeResource, vendor: str, name: str, partition: str) -> pd.DataFrame:
    return pq.read_table(lake.analytics_path(vendor, name, partition)).to_pandas()
