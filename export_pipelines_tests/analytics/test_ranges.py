"""An analytics asset over a range of partitions, as its automation runs it after a backfill.

The Connhex device day is computed for two days in one run: each day is written on its own with
its own metadata, and a day whose export is not in the lake fails the run naming it while the
other day is recorded as landed.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from export_pipelines.analytics import lakeio
from export_pipelines.analytics.assets import build_analytics_asset, compute_partition
from export_pipelines.analytics.vendors import connhex
from export_pipelines.lake import LakeResource
from export_pipelines.vendors.connhex.records import LONG
from export_pipelines_tests.analytics.lake_tables import write_table
from export_pipelines_tests.analytics.test_lake_data import EXPORTED_HOURS, _device_points

SPEC = connhex.SPECS[0]
DAYS = ["2024-03-04", "2024-03-05"]


@pytest.fixture
def lake(tmp_path: Path) -> LakeResource:
    return LakeResource(root=str(tmp_path))


def _write_day(lake: LakeResource, shift_days: int) -> list[dict[str, Any]]:
    """The test points of 2024-03-04, moved ``shift_days`` later, as that day's hourly tables."""
    points = [
        {**point, "time": point["time"] + timedelta(days=shift_days)} for point in _device_points()
    ]
    for hour in EXPORTED_HOURS:
        rows = [p for p in points if p["time"].hour == hour]
        partition = f"{rows[0]['time']:%Y-%m-%d}-{hour:02d}:00"
        write_table(lake, "connhex", "raw_points_hourly", partition, rows, LONG.arrow())
    return points


def _run(lake: LakeResource, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_analytics_asset(SPEC)],
        resources={"lake": lake},
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
        raise_on_error=False,
    )


def _materialized(instance: dg.DagsterInstance, partition: str) -> dict[str, Any] | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SPEC.key, asset_partitions=[partition]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_a_range_computes_and_records_each_day_on_its_own(lake: LakeResource) -> None:
    _write_day(lake, 0)
    _write_day(lake, 1)
    instance = dg.DagsterInstance.ephemeral()

    result = _run(lake, instance)

    assert result.success
    for partition in DAYS:
        _, computed = compute_partition(SPEC, lake, partition)
        written = lakeio.read_result(lake, SPEC.vendor, SPEC.name, partition)
        assert len(written) == len(computed.frame) > 0
        seen = _materialized(instance, partition)
        assert seen is not None and seen["dagster/row_count"] == len(computed.frame)
        assert partition in str(seen["dagster/uri"])
        assert seen["points"] == len(_device_points())
    checks = result.get_asset_check_evaluations()
    assert checks and all(check.passed for check in checks)


def test_a_day_missing_in_a_range_fails_the_run_and_the_other_day_lands(
    lake: LakeResource,
) -> None:
    _write_day(lake, 0)  # 2024-03-05 has no export in the lake
    instance = dg.DagsterInstance.ephemeral()

    result = _run(lake, instance)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert message is not None and message.startswith("1 of the run's 2 partitions failed")
    assert "2024-03-05" in message
    landed = _materialized(instance, DAYS[0])
    assert landed is not None and landed["points"] == len(_device_points())
    assert _materialized(instance, DAYS[1]) is None
