"""Read the demo's lake back and compare it with what the sandbox generated.

The sandbox's data is deterministic, so the truth for a vendor job is computable: each sandbox vendor
in the registry provides ``expected_records`` (from its control endpoints, the ledger's request body
and its own generator), and the Parquet must hold exactly those records' ``id``s, in order.
"""

from pathlib import Path

import pyarrow.parquet as pq

from export_pipelines.ledger import JobRecord
from export_pipelines.sandbox.registry import registered


def expected_ids(sandbox_url: str, job: JobRecord, vendor_job_id: str) -> list[str]:
    """The ``id`` of every record the sandbox generated for ``job``, as strings, in file order."""
    vendor = registered(job.vendor)
    records = vendor.expected_records(sandbox_url, vendor_job_id, job.request_body)
    return [str(record["id"]) for record in records]


def lake_problems(jobs: list[JobRecord], data: Path, sandbox_url: str) -> list[str]:
    problems = []
    for job in jobs:
        path = data / "lake" / job.vendor / job.export / job.partition_key / "data.parquet"
        if not path.exists():
            problems.append(f"{path} is missing")
            continue
        got = [str(value) for value in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
        if len(got) != job.rows:
            problems.append(f"{path} holds {len(got)} rows, the ledger counted {job.rows}")
        if job.vendor_job_id is None:
            problems.append(f"{path}: ledger job {job.id} has no vendor job id to verify against")
            continue
        expected = expected_ids(sandbox_url, job, job.vendor_job_id)
        if got != expected:
            problems.append(
                f"{path} holds {len(got)} records; the sandbox generated {len(expected)} for that "
                f"window ({len(set(got) ^ set(expected))} differ)"
            )
    return problems
