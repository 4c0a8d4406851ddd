"""The demo: sandbox up, a fresh Dagster instance with its daemon, every export end to end.

Each export's request asset is materialized in this process against the real instance (as a user's
launch would be), for a few partitions from a fixed date so the data is the same on every machine;
the daemon's status sensor then sees each vendor job finish and launches the raw+table runs, exactly
as in production. The demo waits for the ledger to show every job ingested (or a run to fail),
then for the daemon's automation sensor to bring every analytics partition those exports feed up to
date (the demo launches no analytics itself), prints the summary and the analytics' headline
figures, and stops what it started.
"""

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from export_pipelines import settings
from export_pipelines.analytics.automation import SENSOR_NAME as AUTOMATION_SENSOR
from export_pipelines.analytics.registry import SPECS as ANALYTICS
from export_pipelines.demo import processes
from export_pipelines.demo.secret_scan import secret_findings
from export_pipelines.demo.summary import AnalyticsFigures, print_analytics, print_summary
from export_pipelines.demo.verify import lake_problems
from export_pipelines.ledger import JobRecord, JobState, Ledger
from export_pipelines.ledger.store import default_ledger_url
from export_pipelines.pipeline import keys
from export_pipelines.vendors import VENDORS

#: The demo's partitions start here (inside the sandbox's synthetic data) …
DEMO_FROM = datetime(2024, 3, 4, tzinfo=UTC)
#: … and it runs this many of each partitioned export.
PARTITIONS_PER_EXPORT = 2
#: Sandbox settings of the demo: a day of HiEnergy clicks (~180 rows) comes in parts of 50, so the
#: demo lands a chunked export without generating 100,000-row reports.
#: HelloData refuses loopback webhook URLs; the sandbox allows the demo's own receiver.
#: Connhex's standing (recurring) export starts at DEMO_FROM, so its request's missed runs are
#: made at once: a day of them covers the demo's partitions without writing a thousand files.
SANDBOX_ARGS = [
    "--hienergy-rows-per-part",
    "50",
    "--hellodata-allow-loopback-webhooks",
    "true",
    "--connhex-max-recurring-runs",
    "24",
]
#: The in-process request runs log to the instance; the terminal shows only warnings.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: The automation ticks every few seconds; each analytics run is one small process.
ANALYTICS_TIMEOUT_SECONDS = 300.0
AUTOMATION_TAG = "dagster/from_automation_condition"
_FINAL = (JobState.INGESTED, JobState.FAILED, JobState.TIMED_OUT, JobState.SUPERSEDED)


@dataclass(frozen=True)
class Launch:
    key: dg.AssetKey
    partition: str | None

    @property
    def label(self) -> str:
        name = "/".join(self.key.path[:-1])
        return f"{name}[{self.partition}]" if self.partition else name


def plan(definitions: dg.Definitions) -> list[Launch]:
    """Every request asset of the catalog, with the demo's partitions of each."""
    graph = definitions.resolve_asset_graph()
    launches = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        if key.path[-1] != "request":
            continue
        partitions = graph.get(key).partitions_def
        if partitions is None:
            launches.append(Launch(key, None))
            continue
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
        chosen = [
            k
            for k in partitions.get_partition_keys()
            if partitions.time_window_for_partition_key(k).start >= DEMO_FROM
        ][:PARTITIONS_PER_EXPORT]
        launches.extend(Launch(key, k) for k in chosen)
    return launches


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


#: Where the demo's Dagster home goes instead of ``.dagster_home/demo`` (a test's own folder).
DEMO_HOME_ENV = "EXPORT_PIPELINES_DEMO_HOME"


def _fresh_home(root: Path) -> Path:
    home = Path(os.environ.get(DEMO_HOME_ENV) or root / ".dagster_home" / "demo").resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(root / "dagster.yaml", home / "dagster.yaml")
    return home


def _runs_failed(instance: dg.DagsterInstance, job: JobRecord) -> list[str]:
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            tags={keys.ingests_job_tag(job.id): "1"}, statuses=[dg.DagsterRunStatus.FAILURE]
        )
    )
    return [run.run_id for run in runs]


def _runs_active(instance: dg.DagsterInstance, job: JobRecord) -> bool:
    """Whether a run of the job is still going: the ledger says ingested when the table is
    written, before the run's later steps (an export's further forms, Connhex's wide) end."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            tags={keys.ingests_job_tag(job.id): "1"},
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    return bool(runs)


def _wait(
    ledger: Ledger,
    instance: dg.DagsterInstance,
    job_ids: list[int],
    timeout: float,
    daemon: subprocess.Popen[bytes],
) -> Iterator[str]:
    """Yield a problem per job that did not end ingested; return when all are final."""
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    while pending:
        if daemon.poll() is not None:
            yield f"the daemon exited with {daemon.returncode}; see its log"
            return
        for job_id in sorted(pending):
            job = ledger.get(job_id)
            failed_runs = _runs_failed(instance, job)
            if (job.state in _FINAL and not _runs_active(instance, job)) or failed_runs:
                pending.discard(job_id)
                if failed_runs:
                    yield (
                        f"ledger job {job_id} ({job.state.value}): run {failed_runs[0]} failed; "
                        "see its log in the Dagster home"
                    )
                elif job.state is not JobState.INGESTED:
                    yield f"ledger job {job_id} ended {job.state.value}: {job.error or ''}"
        if pending and time.monotonic() > deadline:
            for job_id in sorted(pending):
                yield f"ledger job {job_id} still {ledger.get(job_id).state.value} after {timeout}s"
            return
        time.sleep(1.0)


def analytics_targets(
    definitions: dg.Definitions, jobs: list[JobRecord]
) -> dict[dg.AssetKey, dict[str, list[tuple[dg.AssetKey, str]]]]:
    """Each analytics partition the ingested export partitions feed, with the export partitions
    feeding it (by the assets' own partition mappings)."""
    graph = definitions.resolve_asset_graph()
    targets: dict[dg.AssetKey, dict[str, list[tuple[dg.AssetKey, str]]]] = {}
    for spec in ANALYTICS:
        child = graph.get(spec.key)
        for upstream in spec.upstreams:
            parent = graph.get(upstream.key).partitions_def
            mapping = graph.get_partition_mapping(spec.key, upstream.key)
            for job in jobs:
                if (job.vendor, job.export) != (upstream.vendor, upstream.export):
                    continue
                if (
                    job.state is not JobState.INGESTED
                    or parent is None
                    or child.partitions_def is None
                ):
                    continue
                fed = mapping.get_downstream_partitions_for_partitions(
                    parent.subset_with_partition_keys([job.partition_key]),
                    parent,
                    child.partitions_def,
                )
                for partition in fed.get_partition_keys():
                    feeding = targets.setdefault(spec.key, {}).setdefault(partition, [])
                    feeding.append((upstream.key, job.partition_key))
    return targets


def _latest(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def _analytics_runs_active(instance: dg.DagsterInstance) -> bool:
    active = instance.get_runs(
        filters=dg.RunsFilter(
            tags={"dagster/sensor_name": AUTOMATION_SENSOR},
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    return bool(active)


def wait_for_analytics(
    instance: dg.DagsterInstance,
    targets: dict[dg.AssetKey, dict[str, list[tuple[dg.AssetKey, str]]]],
    timeout: float,
    daemon: subprocess.Popen[bytes],
) -> tuple[list[AnalyticsFigures], list[str]]:
    """Wait until every analytics partition was materialized by the automation after the last of
    the export partitions feeding it landed; its figures, or what is still missing."""
    deadline = time.monotonic() + timeout
    while True:
        figures, stale = [], []
        for key, partitions in sorted(targets.items(), key=lambda kv: kv[0].to_user_string()):
            for partition, feeding in sorted(partitions.items()):
                landed = [_latest(instance, k, p) for k, p in feeding]
                newest = max((r.storage_id for r in landed if r is not None), default=0)
                record = _latest(instance, key, partition)
                run = instance.get_run_by_id(record.run_id) if record else None
                label = f"{key.to_user_string()}[{partition}]"
                if record is None or record.storage_id < newest or run is None:
                    stale.append(f"{label} not materialized since its exports landed")
                elif run.tags.get(AUTOMATION_TAG) != "true":
                    stale.append(
                        f"{label} was materialized by run {run.run_id[:8]}, not the automation"
                    )
                else:
                    assert record.asset_materialization is not None
                    figures.append(AnalyticsFigures(label, record.asset_materialization.metadata))
        if not stale and not _analytics_runs_active(instance):
            return figures, []
        if daemon.poll() is not None:
            return figures, [f"the daemon exited with {daemon.returncode}; see its log", *stale]
        if time.monotonic() > deadline:
            return figures, [f"after {timeout:.0f}s: {problem}" for problem in stale]
        time.sleep(1.0)


def _leaked_secrets(
    env: dict[str, str],
    home: Path,
    logs: Path,
    data: Path,
    instance: dg.DagsterInstance,
    ledger: Ledger,
) -> list[str]:
    """Every vendor key searched for in what the pipeline's processes left: the Dagster home (event
    log, runs, compute logs), the processes' logs, the data root (ledger, raw files, Parquet), each
    run's events and each ledger job. The sandbox plays the vendors, so its own log (which prints
    the keys it accepts) and its files are not the pipeline's and are left out."""
    secrets = {
        name: env[name]
        for name in (settings.vendor_api_key_env(vendor) for vendor in VENDORS)
        if env.get(name)
    }
    vendor_side = {logs / "sandbox.log", home / "sandbox"}
    roots = [
        path
        for folder in (home, logs, data)
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path not in vendor_side
    ]
    findings = secret_findings(secrets, roots=roots, instance=instance, ledger=ledger)
    if not findings:
        print(
            f"demo: none of the {len(secrets)} vendor keys appears in the logs, the event log, "
            "the run metadata, the ledger or the lake"
        )
    return [f"a vendor key leaked: {finding}" for finding in findings]


def run_demo(timeout_seconds: float = 600.0) -> int:
    root = _project_root()
    home = _fresh_home(root)
    data = Path(os.environ.get(settings.DATA_DIR_ENV) or root / "data").resolve()
    logs = processes.log_dir(home)
    os.environ.update(processes.NO_TELEMETRY)  # this process hosts an instance too
    started = time.monotonic()
    with (
        contextlib.ExitStack() as stack,
        processes.sandbox(
            log_path=logs / "sandbox.log", work_dir=home / "sandbox", extra_args=SANDBOX_ARGS
        ) as vendor_env,
    ):
        env = dict(os.environ)
        env.update(vendor_env)
        env.update({"DAGSTER_HOME": str(home), settings.DATA_DIR_ENV: str(data)})
        receiver = processes.webhook_receiver(env=env, log_path=logs / "webhooks.log")
        env.update(stack.enter_context(receiver))
        os.environ.update(env)
        # Create the instance's and the ledger's tables before the daemon starts: two processes
        # creating one SQLite schema at once make one of them fail.
        instance = dg.DagsterInstance.get()
        ledger = Ledger(os.environ.get(settings.LEDGER_URL_ENV) or default_ledger_url())
        daemon_args = [
            processes.dagster_executable("dagster-daemon"),
            "run",
            "-w",
            str(root / "workspace.yaml"),
        ]
        with processes.running(
            daemon_args, env=env, log_path=logs / "daemon.log", cwd=root
        ) as daemon:
            from export_pipelines.definitions import defs

            definitions = defs()
            job = definitions.resolve_implicit_global_asset_job_def()
            launches = plan(definitions)
            print(f"demo: {len(launches)} export request(s); sandbox, daemon and instance up")
            problems: list[str] = []
            for launch in launches:
                result = job.execute_in_process(
                    instance=instance,
                    asset_selection=[launch.key],
                    partition_key=launch.partition,
                    run_config=QUIET,
                    raise_on_error=False,
                )
                status = "submitted" if result.success else "FAILED"
                print(f"  {launch.label}: request {status} (run {result.run_id[:8]})")
                if not result.success:
                    problems.append(f"the request run of {launch.label} failed")
            job_ids = [j.id for j in ledger.jobs() if j.state is not JobState.SUPERSEDED]
            print("demo: waiting for the status sensor to launch the downloads …")
            problems += list(_wait(ledger, instance, job_ids, timeout_seconds, daemon))
            targets = analytics_targets(definitions, [ledger.get(job_id) for job_id in job_ids])
            print(
                f"demo: waiting for the automation to update {sum(map(len, targets.values()))} "
                "analytics partition(s) …"
            )
            analytics, stale = wait_for_analytics(
                instance, targets, ANALYTICS_TIMEOUT_SECONDS, daemon
            )
            problems += stale
        jobs = [ledger.get(job_id) for job_id in job_ids]
        print_summary(jobs, data)
        print_analytics(analytics)
        problems += lake_problems(jobs, data, vendor_env[processes.SANDBOX_URL])
        problems += _leaked_secrets(env, home, logs, data, instance, ledger)
    if not jobs:
        problems.append("the catalog holds no exports")
    print(f"demo: {len(jobs)} export job(s) in {time.monotonic() - started:.0f}s")
    if not problems:
        print("demo: every Parquet file holds exactly the records the sandbox generated")
    for problem in problems:
        print(f"demo: PROBLEM: {problem}")
    return 1 if problems else 0
