"""Read the demo's lake back and compare it with what the sandbox generated.

The sandbox's data is deterministic, so the truth for a vendor job is computable: the sandbox says
which window it exported, the ledger says which filter was asked, and the sandbox's own generator
lists the records of that window and filter. The Parquet must hold exactly those, in order.
"""

from collections.abc import Callable
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from export_pipelines.ledger import JobRecord
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset


def _enterpret_expected_ids(sandbox_url: str, job: JobRecord) -> list[str]:
    control = f"{sandbox_url}/_sandbox/enterpret"
    params = httpx.get(f"{control}/dataset", timeout=10).raise_for_status().json()
    dataset = FeedbackDataset(
        params["seed"], params["record_count"], int(params["start"]), int(params["end"])
    )
    exported = httpx.get(f"{control}/jobs/{job.vendor_job_id}", timeout=10).raise_for_status()
    window = exported.json()
    filter_query = job.request_body.get("listRecords", {}).get("filter")
    records = dataset.records(window["window_start"], window["window_end"], filter_query)
    return [record["id"] for record in records]


EXPECTED_IDS: dict[str, Callable[[str, JobRecord], list[str]]] = {
    "enterpret": _enterpret_expected_ids,
}


def lake_problems(jobs: list[JobRecord], data: Path, sandbox_url: str) -> list[str]:
    problems = []
    for job in jobs:
        path = data / "lake" / job.vendor / job.export / job.partition_key / "data.parquet"
        if not path.exists():
            problems.append(f"{path} is missing")
            continue
        got = pq.read_table(path, columns=["id"]).column("id").to_pylist()
        if len(got) != job.rows:
            problems.append(f"{path} holds {len(got)} rows, the ledger counted {job.rows}")
        expected = EXPECTED_IDS[job.vendor](sandbox_url, job)
        if got != expected:
            problems.append(
                f"{path} holds {len(got)} records; the sandbox generated {len(expected)} for that "
                f"window ({len(set(got) ^ set(expected))} differ)"
            )
    return problems
