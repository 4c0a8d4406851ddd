"""The records a Rebilly sandbox export generated, recomputed from the control endpoints.

The sandbox reports each export's resolved absolute window, date field, filter, sort, q and fields,
and the generator's parameters; ``RecordQuery`` over ``RebillyDataset`` lists the same records in
the same order: what the demo's lake must hold. Each record carries its ``id`` even when ``fields``
left it out (JSON:API files carry it as the resource object's id).
"""

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from export_pipelines.sandbox.rebilly.dataset import RebillyDataset, nest
from export_pipelines.sandbox.rebilly.query import RecordQuery
from export_pipelines.sandbox.rebilly.simulator import VENDOR


def dataset_from(parameters: Mapping[str, Any]) -> RebillyDataset:
    return RebillyDataset(
        int(parameters["seed"]),
        int(parameters["record_count"]),
        int(parameters["start"]),
        int(parameters["end"]),
    )


def query_from(summary: Mapping[str, Any]) -> RecordQuery:
    """The query of an export as ``GET /_sandbox/rebilly/exports/{id}`` reports it."""
    return RecordQuery.build(
        summary["resource"],
        summary["date_field"],
        summary["window_start"],
        summary["window_end"],
        filter_text=summary["filter"],
        sort=summary["sort"],
        q=summary["q"],
        fields=summary["fields"],
    )


def expected_records(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    control = f"{sandbox_url}/_sandbox/{VENDOR}"
    dataset = dataset_from(httpx.get(f"{control}/dataset", timeout=10).raise_for_status().json())
    summary = httpx.get(f"{control}/exports/{vendor_job_id}", timeout=10).raise_for_status().json()
    for record_id, flat in query_from(summary).rows(dataset):
        record = nest(flat)
        yield record if "id" in record else {"id": record_id, **record}
