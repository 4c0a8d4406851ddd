"""Connhex's catalog exports through the pipeline, in-process against a real instance and the sandbox.

The hourly raw points land as the long table; the daily 15-minute averages (wide XLSX in Rome's
time) land as the long table and as the wide form, which agree with each other; the status sensor
launches the wide form in the same run as the table; the Parquet holds what the sandbox generated.
"""

import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from export_pipelines.demo.verify import lake_problems
from export_pipelines.ledger import JobState, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.pipeline.sensor import build_status_sensor
from export_pipelines.vendors.connhex.resource import ConnhexResource
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize

# The Connhex sandbox is written apart from this client (branch cx-sandbox); these tests run
# against it once it is in the tree.
pytest.importorskip("export_pipelines.sandbox.connhex")

HOUR = "2024-03-31-01:00"
#: The day of the spring DST change in Rome: 23 hours, 92 quarter-hours.
ROME_DAY = "2024-03-31"
VARIABLES = ["temperature", "humidity", "power", "energy"]


def _lake(project: Project, export: str, partition: str, form: str = "data") -> Path:
    return project.data / "lake" / "connhex" / export / partition / f"{form}.parquet"


def test_raw_points_land_as_the_long_table(project: Project) -> None:
    result = materialize(
        project.definitions(),
        project.instance(),
        export_keys("connhex", "raw_points_hourly"),
        HOUR,
    )
    assert result.success, failure_messages(result)
    (job,) = project.ledger().jobs(vendor="connhex")
    assert job.state is JobState.INGESTED
    params = job.request_body["items"][0]["params"]
    assert (params["from"], params["to"]) == (1711846800, 1711850400)
    table = pq.read_table(_lake(project, "raw_points_hourly", HOUR))
    assert table.num_rows == job.rows and table.num_rows > 0
    times = table.column("time").to_pylist()
    assert min(times).timestamp() >= 1711846800 and max(times).timestamp() < 1711850400
    assert set(table.column("publisher").to_pylist()) == {
        "urn:chx:device:sensor-001",
        "urn:chx:device:sensor-002",
    }
    # The demo's verification: the points the sandbox generated, in file order.
    assert lake_problems([job], project.data, project.sandbox.url) == []


def test_wide_averages_land_in_both_forms_which_agree(project: Project) -> None:
    export = "averages_15m_daily"
    selection = [*export_keys("connhex", export), keys.form_key("connhex", export, "wide")]
    result = materialize(project.definitions(), project.instance(), selection, ROME_DAY)
    assert result.success, failure_messages(result)
    (job,) = project.ledger().jobs(vendor="connhex")
    assert lake_problems([job], project.data, project.sandbox.url) == []
    params = job.request_body["items"][0]["params"]
    # The Rome day: 2024-03-30T23:00Z to 2024-03-31T22:00Z.
    assert (params["from"], params["to"]) == (1711839600, 1711922400)
    long = pq.read_table(_lake(project, export, ROME_DAY)).to_pandas()
    wide = pq.read_table(_lake(project, export, ROME_DAY, "wide")).to_pandas()
    assert len(wide) <= 92 and len(wide) > 0
    assert (wide["time"].dt.minute % 15 == 0).all()
    pivot = (
        long.pivot(index="time", columns="name", values="value")
        .reindex(columns=VARIABLES)
        .reset_index()
        .rename_axis(columns=None)
    )
    shown = wide[["time", *VARIABLES]].dropna(how="all", subset=VARIABLES)
    pd.testing.assert_frame_equal(pivot, shown.reset_index(drop=True), check_dtype=False)


def test_the_sensor_launches_the_wide_form_with_the_table(project: Project) -> None:
    export = "averages_15m_daily"
    definitions = project.definitions()
    request = materialize(
        definitions, project.instance(), [keys.request_key("connhex", export)], ROME_DAY
    )
    assert request.success, failure_messages(request)
    sensor = build_status_sensor("connhex", minimum_interval_seconds=1)
    resource = ConnhexResource(
        base_url=project.sandbox.base_url("connhex"), api_key=project.sandbox.api_key("connhex")
    )
    give_up = time.monotonic() + 60
    runs: list[dg.RunRequest] = []
    while not runs and time.monotonic() < give_up:
        with dg.build_sensor_context(
            instance=project.instance(),
            resources={"connhex": resource, "ledger": LedgerResource()},
            definitions=definitions,
        ) as context:
            runs = list(sensor.evaluate_tick(context).run_requests or [])
        time.sleep(0.2)
    (run,) = runs
    assert run.asset_selection == [
        keys.raw_key("connhex", export),
        keys.table_key("connhex", export),
        keys.form_key("connhex", export, "wide"),
    ]
