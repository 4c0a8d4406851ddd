"""Lineage columns: which export, partition, vendor job and file each row came from, and when."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa

LINEAGE_FIELDS = [
    pa.field("_export", pa.string(), nullable=False),
    pa.field("_partition", pa.string(), nullable=False),
    pa.field("_vendor_job_id", pa.string(), nullable=False),
    pa.field("_source_file", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
]


@dataclass(frozen=True)
class Lineage:
    export: str
    partition: str
    vendor_job_id: str
    ingested_at: datetime
    #: The vendor job of each source file where a partition's files come from several jobs (the
    #: sub-window jobs of a split); a file not named here came from ``vendor_job_id``.
    vendor_job_ids: Mapping[str, str] = field(default_factory=dict)

    #: The last source file's columns, built at the most rows asked for and sliced (no copy)
    #: for every batch after: built for every batch (``pa.repeat`` copies a string per row), they
    #: took 0.20 CPU s of the bench's 2 M-row gzip CSV (0.01 s now), about a twelfth of its
    #: conversion. One file's only: files are written one after another, and a partition may
    #: have thousands.
    _last: dict[str, list[pa.Array]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def columns(self, source_file: str, rows: int) -> list[pa.Array]:
        """Constant columns for ``rows`` rows, in :data:`LINEAGE_FIELDS` order."""
        built = self._last.get(source_file)
        if built is not None and len(built[0]) >= rows:
            return [column.slice(0, rows) for column in built]
        vendor_job_id = self.vendor_job_ids.get(source_file, self.vendor_job_id)
        values = (self.export, self.partition, vendor_job_id, source_file, self.ingested_at)
        columns = [
            pa.repeat(pa.scalar(value, type=field.type), rows)
            for value, field in zip(values, LINEAGE_FIELDS, strict=True)
        ]
        self._last.clear()
        self._last[source_file] = columns
        return columns
