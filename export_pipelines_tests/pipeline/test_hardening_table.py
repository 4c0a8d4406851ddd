"""A raw file without the vendor's documented shape never replaces a good table (issue 6, item 1).

The partition is ingested once from good files; a second vendor export of it (``resubmit: true``)
then delivers a file whose ``records`` array is missing or is an object. The table run must fail
naming the file, record the error in the ledger (job left ``downloaded``), and leave the first
Parquet file byte for byte as it was.
"""

import json
from pathlib import Path

import dagster as dg
import pytest

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize

EXPORT = "feedback_daily"
RESUBMIT = {"ops": {"enterpret__feedback_daily__request": {"config": {"resubmit": True}}}}


def test_the_rows_check_blocks() -> None:
    from export_pipelines.definitions import defs

    graph = defs().resolve_asset_graph()
    check = dg.AssetCheckKey(keys.table_key("enterpret", EXPORT), keys.ROWS_CHECK)
    assert graph.get_check_spec(check).blocking


@pytest.mark.parametrize(
    "bad_document", [{"data": []}, {"records": {"id": "x"}}], ids=["missing", "object"]
)
def test_a_file_without_records_fails_and_keeps_the_good_table(
    project: Project, bad_document: dict[str, object]
) -> None:
    definitions, instance, partition = project.definitions(), project.instance(), "2024-03-05"
    first = materialize(definitions, instance, export_keys("enterpret", EXPORT), partition)
    assert first.success, failure_messages(first)
    table = project.data / f"lake/enterpret/{EXPORT}/{partition}/data.parquet"
    good_bytes = table.read_bytes()

    again = materialize(
        definitions,
        instance,
        [keys.request_key("enterpret", EXPORT), keys.raw_key("enterpret", EXPORT)],
        partition,
        run_config=RESUBMIT,
    )
    assert again.success, failure_messages(again)
    job = project.ledger().jobs(export=EXPORT)[-1]
    assert job.state is JobState.DOWNLOADED and len(job.files) > 1
    bad = job.files[0]
    assert bad.local_path is not None
    Path(bad.local_path).write_text(json.dumps(bad_document))

    failed = materialize(definitions, instance, [keys.table_key("enterpret", EXPORT)], partition)
    assert not failed.success
    message = failure_messages(failed)
    assert f"ledger job {job.id}" in message and bad.name in message
    assert "left as it was" in message
    assert table.read_bytes() == good_bytes
    assert not [p for p in table.parent.iterdir() if p.name != table.name]  # no leftovers
    after = project.ledger().get(job.id)
    assert after.state is JobState.DOWNLOADED
    assert after.error is not None and bad.name in after.error
    assert any((detail or "").startswith("error: ") for _, _, detail in after.history)
    assert [e.asset_key for e in failed.get_asset_check_evaluations() if not e.passed] in (
        [],
        [keys.table_key("enterpret", EXPORT)],
    )
    assert not failed.asset_materializations_for_node("enterpret__feedback_daily")
