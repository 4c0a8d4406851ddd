"""The records an Enterpret sandbox job exported, recomputed from the control endpoints.

The sandbox says which window a job exported and with which dataset parameters, the ledger's request
body says which filter was asked, and ``FeedbackDataset`` lists the records of that window and filter:
what the demo's lake must hold, in order.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.enterpret.simulator import VENDOR


def expected_records(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    control = f"{sandbox_url}/_sandbox/{VENDOR}"
    params = httpx.get(f"{control}/dataset", timeout=10).raise_for_status().json()
    dataset = FeedbackDataset(
        params["seed"], params["record_count"], int(params["start"]), int(params["end"])
    )
    window = httpx.get(f"{control}/jobs/{vendor_job_id}", timeout=10).raise_for_status().json()
    list_records = request_body.get("listRecords") or {}
    filter_query = list_records.get("filter") if isinstance(list_records, Mapping) else None
    return iter(dataset.records(window["window_start"], window["window_end"], filter_query))
