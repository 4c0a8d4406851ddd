"""Every read and write of the analytics assets, in one module.

The lake resource builds every location (``table``, ``analytics``: a URI with its ``pyarrow.fs``
filesystem, local or S3); this module is the only one that opens them. Upstream tables are handed
out as ``pyarrow.dataset`` datasets, which DuckDB and pyarrow scan batch by batch (an export's
partition is never read whole into memory), and results are written through ``lake.writing``, so
a reader sees the old file or the new one (on S3: one multipart upload, completed or aborted).
"""

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from export_pipelines.lake import LakeResource
from export_pipelines.lake.location import LakeLocation
from export_pipelines.normalize.drift import unified_schema


@dataclass(frozen=True)
class UpstreamTables:
    """The partitions of one export an analytics partition reads: those in the lake, and those not."""

    vendor: str
    export: str
    found: tuple[str, ...]
    missing: tuple[str, ...]
    locations: tuple[LakeLocation, ...]

    def dataset(self) -> ds.Dataset:
        """The found partitions as one dataset; none found is an error naming them."""
        if not self.locations:
            raise ValueError(
                f"{self.vendor}/{self.export}: none of the partitions {', '.join(self.missing)} "
                "is in the lake; materialize the export first"
            )
        paths = [loc.path for loc in self.locations]
        fs = self.locations[0].fs
        found = ds.dataset(paths, format="parquet", filesystem=fs)
        # A dataset takes its schema from one file; partitions written before and after a
        # schema drift (``evolve``) differ, so read every footer and unify: a column a partition
        # lacks reads as null there, and none is dropped for being absent from the first file.
        schema = unified_schema(f.physical_schema for f in found.get_fragments())
        return ds.dataset(paths, schema=schema, format="parquet", filesystem=fs)

    def read(self, columns: list[str]) -> pa.Table:
        """Only ``columns`` of the found partitions (analytics read a few columns of wide tables)."""
        return self.dataset().to_table(columns=columns)


def upstream_tables(
    lake: LakeResource, vendor: str, export: str, partitions: list[str]
) -> UpstreamTables:
    found, missing, locations = [], [], []
    for partition in partitions:
        location = lake.table(vendor, export, partition)
        if location.exists():
            found.append(partition)
            locations.append(location)
        else:
            missing.append(partition)
    return UpstreamTables(vendor, export, tuple(found), tuple(missing), tuple(locations))


def write_result(
    lake: LakeResource, vendor: str, name: str, partition: str, frame: pd.DataFrame
) -> LakeLocation:
    """Write ``frame`` as the partition's Parquet: a reader sees the old file or the new one."""
    location = lake.analytics(vendor, name, partition)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with lake.writing(location) as path:
        pq.write_table(table, path, compression="zstd")
    return location


def read_result(lake: LakeResource, vendor: str, name: str, partition: str) -> pd.DataFrame:
    location = lake.analytics(vendor, name, partition)
    return pq.read_table(location.path, filesystem=location.fs).to_pandas()
