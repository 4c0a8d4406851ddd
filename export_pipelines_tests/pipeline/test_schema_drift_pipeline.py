"""Schema drift end to end: Enterpret against its sandbox, runs on a real Dagster instance.

One day is ingested from the sandbox's files as they are. The next day's job is downloaded, and
one of its raw files is given a field the table does not declare (``channel``, on every other
record) before its table step runs, as a vendor adding a field would deliver it. By the export's
``schema_drift``:

- evolve/rescue: the table lands; its materialization (in the asset's history) lists the field,
  where it was first seen and where it went; the ledger job has the event; the first day's Parquet
  keeps its bytes; evolve's column reads as null for the first day through the analytics' dataset.
- freeze: the table step fails naming the raw file, the field and the row; the raw file stays, the
  job stays ``downloaded`` with the error; no table is written for the day, the first day's
  Parquet keeps its bytes.
"""

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from export_pipelines.analytics.lakeio import upstream_tables
from export_pipelines.catalog import AsyncExport
from export_pipelines.lake import lake_from_settings
from export_pipelines.ledger import JobState, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.assets import build_export_assets
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize

EXPORT = "feedback_drift"
FIRST, SECOND = "2024-03-04", "2024-03-05"
NEW = "channel"


def _definitions(project: Project, policy: str) -> dg.Definitions:
    spec = AsyncExport.model_validate(
        {
            "vendor": "enterpret",
            "export": EXPORT,
            "partitioning": "daily",
            "start": "2024-01-01",
            "request": {"pageSize": 25},
            "schema_drift": policy,
        }
    ).to_spec()
    resource = spec.adapter.resource_class(
        base_url=project.sandbox.base_url("enterpret"),
        api_key=project.sandbox.api_key("enterpret"),
    )
    return dg.Definitions(
        assets=build_export_assets(spec),
        resources={"enterpret": resource, "ledger": LedgerResource(), "lake": lake_from_settings()},
        executor=dg.in_process_executor,
    )


def _table(project: Project, partition: str) -> Path:
    return project.data / f"lake/enterpret/{EXPORT}/{partition}/data.parquet"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _add_a_field(raw: Path) -> int:
    """Give every other record of ``raw`` the field ``NEW``; return how many got it."""
    data = raw.read_bytes()
    packed = data[:2] == b"\x1f\x8b"
    document = json.loads(gzip.decompress(data) if packed else data)
    for i, record in enumerate(document["records"]):
        if i % 2 == 1:
            record[NEW] = f"email-{i}"
    text = json.dumps(document).encode()
    raw.write_bytes(gzip.compress(text) if packed else text)
    return len(document["records"]) // 2


def _first_day_then_a_drifted_second(project: Project, policy: str) -> tuple[Any, ...]:
    definitions, instance = _definitions(project, policy), project.instance()
    first = materialize(definitions, instance, export_keys("enterpret", EXPORT), FIRST)
    assert first.success, failure_messages(first)
    before = _sha(_table(project, FIRST))
    second = materialize(definitions, instance, export_keys("enterpret", EXPORT)[:2], SECOND)
    assert second.success, failure_messages(second)
    job = project.ledger().jobs(export=EXPORT)[-1]
    assert job.partition_key == SECOND and job.state is JobState.DOWNLOADED
    raw = job.files[0]
    assert raw.local_path is not None
    drifted = _add_a_field(Path(raw.local_path))
    table = materialize(definitions, instance, [keys.table_key("enterpret", EXPORT)], SECOND)
    return definitions, instance, before, job, raw, drifted, table


@pytest.mark.parametrize("policy", ["evolve", "rescue"])
def test_a_new_field_is_recorded_and_kept_by_the_policy(project: Project, policy: str) -> None:
    _, instance, before, job, raw, drifted, table = _first_day_then_a_drifted_second(
        project, policy
    )
    assert table.success, failure_messages(table)
    kept_in = "column" if policy == "evolve" else "_rescued"

    event = instance.get_latest_materialization_event(keys.table_key("enterpret", EXPORT))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["schema_drift_policy"].value == policy
    assert metadata["schema_drift_added"].value == [
        {"field": NEW, "first_seen": f"{raw.name} row 2", "kept_in": kept_in}
    ]
    columns = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert (NEW in columns) is (policy == "evolve")
    if policy == "evolve":
        evolved = [c.name for c in metadata["schema_drift_evolved_schema"].value.columns]
        assert evolved[-1] == NEW
    history = [detail or "" for _, _, detail in project.ledger().get(job.id).history]
    assert any(d.startswith(f"schema drift ({policy}): ") and NEW in d for d in history)
    assert _sha(_table(project, FIRST)) == before

    both = upstream_tables(lake_from_settings(), "enterpret", EXPORT, [FIRST, SECOND])
    frame = both.dataset().to_table().to_pandas()
    if policy == "evolve":
        counts = frame.groupby("_partition")[NEW].count().to_dict()
        assert counts == {FIRST: 0, SECOND: drifted}
        assert frame[frame[NEW].notna()]["_source_file"].unique().tolist() == [raw.name]
    else:
        rescued = frame[frame["_partition"] == SECOND]["_rescued"].dropna()
        assert len(rescued) == drifted
        assert all(NEW in json.loads(text) for text in rescued)


def test_freeze_fails_naming_file_field_and_row_and_keeps_everything(project: Project) -> None:
    _, _, before, job, raw, _, table = _first_day_then_a_drifted_second(project, "freeze")
    assert not table.success
    message = failure_messages(table)
    assert f"{raw.name}: row 2: column {NEW}: not declared by the export's schema" in message
    assert "schema_drift is freeze" in message and "left as it was" in message
    assert "email-" not in message  # the field's values are not shown
    assert not _table(project, SECOND).exists()
    assert _sha(_table(project, FIRST)) == before
    assert raw.local_path is not None and Path(raw.local_path).exists()
    after = project.ledger().get(job.id)
    assert after.state is JobState.DOWNLOADED
    assert after.error is not None and NEW in after.error and raw.name in after.error
