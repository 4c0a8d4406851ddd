"""The demo's closing tables: one line per vendor job, then each analytics partition's headline
figures (the numbers its materialization carries, as the UI plots them)."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from export_pipelines.ledger import JobRecord

_COLUMNS = ("export", "partition", "vendor job", "files", "rows", "bytes", "seconds", "parquet")


def _seconds(job: JobRecord) -> str:
    if job.ingested_at is None:
        return "-"
    return f"{(job.ingested_at - job.created_at).total_seconds():.1f}"


def summary_rows(jobs: list[JobRecord], data: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for job in jobs:
        parquet = data / "lake" / job.vendor / job.export / job.partition_key / "data.parquet"
        rows.append(
            (
                f"{job.vendor}/{job.export}",
                job.partition_key,
                job.vendor_job_id or "-",
                str(len(job.files)),
                "-" if job.rows is None else str(job.rows),
                "-" if job.bytes is None else str(job.bytes),
                _seconds(job),
                str(parquet.relative_to(data.parent)) if parquet.exists() else job.state.value,
            )
        )
    return rows


def print_summary(jobs: list[JobRecord], data: Path) -> None:
    rows = [_COLUMNS, *summary_rows(jobs, data)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


@dataclass(frozen=True)
class AnalyticsFigures:
    label: str
    metadata: Mapping[str, Any]

    def headline(self) -> list[tuple[str, float]]:
        """The numeric figures, without Dagster's own and the bookkeeping counts."""
        return [
            (name, value.value)
            for name, value in self.metadata.items()
            if isinstance(value, dg.FloatMetadataValue) and value.value is not None
        ]


def _figure(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.2f}"


def print_analytics(figures: list[AnalyticsFigures]) -> None:
    if not figures:
        return
    print("analytics (materialized by the automation):")
    for item in figures:
        rows = item.metadata.get("dagster/row_count")
        shown = ", ".join(f"{name} {_figure(value)}" for name, value in item.headline())
        print(f"  {item.label}: {rows.value if rows else '?'} rows; {shown}")
