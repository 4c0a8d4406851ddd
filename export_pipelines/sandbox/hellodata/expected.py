"""The rows a HelloData sandbox export holds, recomputed in another process (the demo's verifier).

Each record is the file's row keyed as a JSONL row (``Scope.key``), dates as ISO strings; the
export's ``property_id`` scope, when it has one, is also given as ``id``.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from export_pipelines.sandbox.hellodata.dataset import DatasetParams, PropertyDataset
from export_pipelines.sandbox.hellodata.files import json_value
from export_pipelines.sandbox.hellodata.query import parse_query
from export_pipelines.sandbox.hellodata.simulator import VENDOR


def expected_records(
    sandbox_url: str, vendor_job_id: str, request_body: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """``request_body`` is not needed: the sandbox kept the export's own dataset."""
    control = f"{sandbox_url}/_sandbox/{VENDOR}"
    params = httpx.get(f"{control}/generator", timeout=10).raise_for_status().json()
    export = httpx.get(f"{control}/exports/{vendor_job_id}", timeout=10).raise_for_status().json()
    dataset = PropertyDataset(DatasetParams.from_dict(params))
    query = parse_query(export["dataset"])
    for values in query.select(dataset.rows()):
        record = {s.key: json_value(v) for s, v in zip(query.scopes, values, strict=True)}
        if "property_id" in record:
            record["id"] = record["property_id"]
        yield record
