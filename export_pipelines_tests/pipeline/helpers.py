"""Running the catalog's assets in-process against a real instance, and reading outcomes."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from export_pipelines.pipeline import keys
from export_pipelines.sandbox.server import SandboxServer


def materialize(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: list[dg.AssetKey],
    partition: str | None,
    run_config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=selection,
        partition_key=partition,
        run_config=run_config,
        raise_on_error=False,
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                messages.append(data.user_failure_data.description)
            if data.error:
                messages.append(data.error.message)
    return "\n".join(messages)


def export_keys(vendor: str, export: str) -> list[dg.AssetKey]:
    return [
        keys.request_key(vendor, export),
        keys.raw_key(vendor, export),
        keys.table_key(vendor, export),
    ]


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def expected_ids(
    sandbox: SandboxServer, start: datetime, end: datetime, filter_query: Any = None
) -> list[str]:
    return [r["id"] for r in sandbox.enterpret.dataset.records(start, end, filter_query)]


def parquet_ids(path: Path) -> list[str]:
    return pq.read_table(path, columns=["id"]).column("id").to_pylist()
