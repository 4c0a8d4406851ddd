"""Vendor files → one Parquet file per partition, streamed, typed, with lineage columns.

The engine every vendor stands on, so that no vendor writes a per-row Python loop:

- :mod:`.source` opens a raw file as uncompressed bytes (gzip or ZIP detected from the bytes,
  python-isal where installed, a cap on decompressed size);
- :mod:`.jsonscan` splits one big JSON document's records array into newline-delimited runs,
  vectorized, for pyarrow's C reader (:mod:`.jsonread`);
- :mod:`.schema` declares a table (columns, vendor names, Arrow types); :mod:`.readers` reads CSV,
  JSON Lines, JSON arrays, JSON:API, XML and XLSX into it (``TabularNormalizer(schema, fmt)``);
- :mod:`.arrowops` holds the whole-array mappings vendors' nested JSON needs;
- :mod:`.writer` streams batches into Parquet atomically; :mod:`.errors` is the one error type;
- :mod:`.drift` applies an export's schema-drift policy (rescue, evolve, freeze) to any reader's
  ``_rescued`` column on the way to the writer.

A vendor with a flat table declares it and is done::

    from export_pipelines.normalize.readers import Csv, TabularNormalizer
    from export_pipelines.normalize.schema import Column, TableSchema

    normalizer = TabularNormalizer(
        TableSchema([Column("id", pa.string(), source="ID", nullable=False),
                     Column("amount", pa.decimal128(12, 2), source="Amount")]),
        Csv(),
    )

A vendor with nested JSON (Enterpret) maps pyarrow's parse of its records with :mod:`.arrowops`.
"""

from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.lineage import LINEAGE_FIELDS, Lineage
from export_pipelines.normalize.writer import (
    ParquetWriteResult,
    sweep_stale_temporaries,
    write_parquet,
)

__all__ = [
    "LINEAGE_FIELDS",
    "Lineage",
    "NormalizeError",
    "ParquetWriteResult",
    "sweep_stale_temporaries",
    "write_parquet",
]
