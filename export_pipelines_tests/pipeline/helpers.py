"""Running the catalog's assets in-process against a real instance, and reading outcomes."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
from sqlalchemy import create_engine, update

from export_pipelines.ledger import JobRecord
from export_pipelines.ledger.models import ExportJob
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


def run_request(
    definitions: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Execute a sensor's run request as the daemon launches it: its assets, partition, tags."""
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        asset_selection=list(request.asset_selection or []),
        partition_key=request.partition_key,
        tags=request.tags,
        raise_on_error=False,
    )


def _error_chain(error: Any) -> list[str]:
    """A serialized error's message and those of its causes (a resource that refuses its
    settings fails as Dagster's wrapper error, the reason being its cause)."""
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause or error.context
    return messages


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """Every failure a run reported: step failures, and errors of resource initialisation."""
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                messages.append(data.user_failure_data.description)
            messages.extend(_error_chain(data.error))
        elif event.event_type_value in ("RESOURCE_INIT_FAILURE", "ENGINE_EVENT"):
            messages.extend(_error_chain(getattr(event.event_specific_data, "error", None)))
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


def run_partitions(run: dg.DagsterRun, in_order: list[str]) -> list[str]:
    """The partition keys a run worked on: its one partition, or each of its range's (a run of a
    ranged backfill or of the status sensor's adjacent jobs), ``in_order`` being the export's."""
    key = run.tags.get("dagster/partition")
    if key is not None:
        return [key]
    start = run.tags["dagster/asset_partition_range_start"]
    end = run.tags["dagster/asset_partition_range_end"]
    return in_order[in_order.index(start) : in_order.index(end) + 1]


def reset_passed(ledger_url: str, *jobs: JobRecord) -> None:
    """As if the vendor's spent quota had reset: the deferred jobs' ``not_before`` a second ago
    (the hours a vendor names cannot pass in a test)."""
    engine = create_engine(ledger_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(ExportJob)
                .where(ExportJob.id.in_([job.id for job in jobs]))
                .values(not_before=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()
