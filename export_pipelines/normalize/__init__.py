"""Vendor files → one Parquet file per partition, streamed, typed, with lineage columns."""

from export_pipelines.normalize.lineage import LINEAGE_FIELDS, Lineage
from export_pipelines.normalize.writer import ParquetWriteResult, write_parquet

__all__ = ["LINEAGE_FIELDS", "Lineage", "ParquetWriteResult", "write_parquet"]
