"""Materialization metadata: schema, preview and lineage a user sees in the Dagster UI."""

from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from export_pipelines.lake import LakeLocation
from export_pipelines.normalize.drift import Drift

_PREVIEW_ROWS = 5
_PREVIEW_CELL = 60


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=str(field.type),
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
            )
            for field in schema
        ]
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= _PREVIEW_CELL else text[: _PREVIEW_CELL - 1] + "…"


def markdown_preview(location: LakeLocation, columns: list[str] | None = None) -> str:
    """The first rows of a Parquet file as a markdown table (reads one row group, not the file)."""
    parquet = pq.ParquetFile(location.path, filesystem=location.fs)
    if parquet.metadata.num_rows == 0:
        return "_no rows_"
    names = columns or [f.name for f in parquet.schema_arrow if not f.name.startswith("_")][:8]
    table = parquet.read_row_group(0, columns=names).slice(0, _PREVIEW_ROWS)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in table.to_pylist():
        lines.append("| " + " | ".join(_cell(row[name]) for name in names) + " |")
    return "\n".join(lines)


def drift_metadata(drift: Drift) -> dict[str, Any]:
    """The table's drift entries: the policy always (so a reader sees which applies), and when
    the files carried undeclared fields, which, where each was first seen and where it went; for
    ``evolve`` the partition's resulting schema (also ``dagster/column_schema``). Field names and
    places only: values may be personal data."""
    metadata: dict[str, Any] = {"schema_drift_policy": drift.policy}
    if not drift.fields:
        return metadata
    metadata["schema_drift_added"] = dg.MetadataValue.json(
        [{"field": f.name, "first_seen": f.where(), "kept_in": f.kept_in} for f in drift.fields]
    )
    metadata["schema_drift"] = drift.summary()
    if drift.evolved_schema is not None:
        metadata["schema_drift_evolved_schema"] = column_schema(drift.evolved_schema)
    return metadata
