"""The demo's closing table: one line per vendor job."""

from pathlib import Path

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
