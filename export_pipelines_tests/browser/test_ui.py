"""The Dagster UI in a real browser (Debian's chromium, headless) on ``dagster dev`` and the sandbox.

What a data engineer does on the first day: finds every vendor's exports in the asset graph,
backfills two days of an export by clicking (Materialize → partitions → Launch backfill), and sees
the table's row count once the status sensor has finished the vendor jobs. Everything after the
click is the daemon's own work: the backfill runs the requests, the sensor polls the sandbox and
launches the raw+table runs.
"""

import re
import time
from collections import defaultdict
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from export_pipelines.ledger import JobState
from export_pipelines.pipeline import keys
from export_pipelines_tests.browser.dagster_dev import PROJECT, DagsterDev
from export_pipelines_tests.pipeline.helpers import run_partitions

# Starting dagster dev and two runs through its daemon take minutes on a busy machine.
# Both tests share one ``dagster dev`` (a module fixture): one worker runs them (``--dist loadgroup``).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("browser"), pytest.mark.timeout(1800)]

VENDOR, EXPORT = "enterpret", "feedback_daily"
PARTITIONS = ["2024-04-01", "2024-04-02"]
#: The backfill's requests, the sensor's polls and two raw+table runs, on a busy machine.
INGEST_TIMEOUT_SECONDS = 900.0


def catalog_exports() -> dict[str, list[str]]:
    """Vendor → its exports, from the catalog YAML (what the graph must show)."""
    exports: dict[str, list[str]] = defaultdict(list)
    for defs_yaml in sorted((PROJECT / "export_pipelines" / "defs").glob("*/defs.yaml")):
        for document in yaml.safe_load_all(defs_yaml.read_text()):
            if document["type"].endswith("AsyncExport"):
                attributes = document["attributes"]
                exports[attributes["vendor"]].append(attributes["export"])
    return dict(exports)


def test_the_asset_graph_shows_every_vendors_exports(page: Any, ui: DagsterDev) -> None:
    exports = catalog_exports()
    assert len(exports) >= 4
    for vendor, names in sorted(exports.items()):
        page.goto(f"/locations/export_pipelines/asset-groups/{vendor}/lineage")
        for name in names:
            # Each export is three nodes: its request, its raw files, its table (named for it).
            node = page.get_by_text(name, exact=True)
            node.wait_for()
            assert node.count() == 1, f"{vendor}/{name}: {node.count()} nodes"
        assert page.get_by_text("request", exact=True).count() == len(names)
        assert page.get_by_text("raw", exact=True).count() == len(names)


def launch_backfill_by_clicking(page: Any, partitions: list[str]) -> None:
    page.goto(f"/assets/{VENDOR}/{EXPORT}/request")
    page.locator("button", has_text="Materialize").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"Launch runs to materialize {VENDOR} / {EXPORT} / request").wait_for()
    # The dialog starts on the last 90 days; the sandbox's data is older.
    dialog.get_by_role("button", name="Show all partitions").click()
    selection = dialog.get_by_role("textbox")
    selection.fill(f"[{partitions[0]}...{partitions[-1]}]")
    selection.press("Enter")
    dialog.get_by_text(f"{len(partitions)} partitions", exact=True).wait_for()
    dialog.get_by_role("button", name="Launch backfill").click()
    page.get_by_text(re.compile(r"Created backfill")).wait_for()


def wait_for_ingest(ui: DagsterDev) -> list[Any]:
    ledger = ui.ledger()
    deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
    jobs: list[Any] = []
    while time.monotonic() < deadline:
        jobs = ledger.jobs(export=EXPORT) if (ui.home / "export_ledger.sqlite").exists() else []
        if len(jobs) == len(PARTITIONS) and all(j.state is JobState.INGESTED for j in jobs):
            break
        time.sleep(2)
    states = {j.partition_key: j.state.value for j in jobs}
    assert sorted(states) == PARTITIONS, f"ledger jobs: {states}; see {ui.log}"
    assert set(states.values()) == {JobState.INGESTED.value}, f"{states}; see {ui.log}"
    return jobs


def wait_for_runs_to_end(ui: DagsterDev) -> list[dg.DagsterRun]:
    """The ledger says ingested a moment before the run ends; its materialization comes last."""
    instance = dg.DagsterInstance.from_config(str(ui.home))
    try:
        deadline = time.monotonic() + INGEST_TIMEOUT_SECONDS
        runs = instance.get_runs()
        while time.monotonic() < deadline and not (runs and all(r.is_finished for r in runs)):
            time.sleep(1)
            runs = instance.get_runs()
        return list(runs)
    finally:
        instance.dispose()


def test_a_backfill_launched_by_clicking_lands_and_shows_its_row_count(
    page: Any, ui: DagsterDev
) -> None:
    launch_backfill_by_clicking(page, PARTITIONS)
    wait_for_ingest(ui)
    runs = wait_for_runs_to_end(ui)
    failed = [r.run_id for r in runs if r.status is not dg.DagsterRunStatus.SUCCESS]
    assert not failed, f"runs {failed} did not succeed; see {ui.log}"
    sensor_runs = [
        r for r in runs if r.tags.get("dagster/sensor_name") == f"{VENDOR}_export_status"
    ]
    ingested = [job_id for r in sensor_runs for job_id in keys.ingested_jobs(r.tags)]
    assert len(ingested) == len(set(ingested)) == len(PARTITIONS), "one ingest per job"
    backfill_runs = [r for r in runs if "dagster/backfill" in r.tags]
    requested = sorted(p for r in backfill_runs for p in run_partitions(r, PARTITIONS))
    assert requested == PARTITIONS, "each partition requested once, alone or in a range"

    for partition in PARTITIONS:
        table = ui.data / "lake" / VENDOR / EXPORT / partition / "data.parquet"
        rows = pq.ParquetFile(table).metadata.num_rows
        assert rows > 0
        page.goto(f"/assets/{VENDOR}/{EXPORT}?view=partitions&partition={partition}")
        metadata = page.get_by_role("row").filter(has_text="dagster/row_count")
        metadata.first.wait_for()
        shown = metadata.first.inner_text()
        numbers = {int(n.replace(",", "")) for n in re.findall(r"\b\d[\d,]*\b", shown)}
        assert rows in numbers, f"{partition}: the UI shows {shown!r}, the table has {rows} rows"
