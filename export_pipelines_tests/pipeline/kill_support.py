"""Killing the project's processes at a chosen moment, and reading what a restart brought about.

The processes are the ones a deployment runs: ``dagster-daemon`` (with the code server it starts
and the run workers that server spawns) and the webhook receiver. A test starts them as children
(``export_pipelines.demo.processes``), holds one at the moment it wants through the sandbox's
faults, and SIGKILLs it: a run worker found by the pid its own events carry, the daemon by its
process group (a container or a systemd unit dies whole). Only descendants of a process the test
started are ever signalled.
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import dagster as dg
import httpx
import yaml

from export_pipelines.demo import processes
from export_pipelines.ledger import JobRecord, JobState, Ledger
from export_pipelines.pipeline import keys
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import PROJECT, Project

#: A guard against a wedged process, not an assertion about speed.
GIVE_UP_SECONDS = 240.0
#: States nobody moves a job out of: each is an outcome a person can read.
SETTLED = frozenset({JobState.INGESTED, JobState.FAILED, JobState.SUPERSEDED, JobState.TIMED_OUT})

T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = GIVE_UP_SECONDS) -> T:
    """``check()`` once it is truthy; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def tighten_monitoring(home: Path) -> None:
    """The shipped ``dagster.yaml`` with the daemon's slot monitor fast: a killed run's pool slot
    is freed two seconds after its run ended, not sixty (the setting under test stays on)."""
    config = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    config["run_monitoring"].update(free_slots_after_run_end_seconds=2, poll_interval_seconds=1)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return int(stat.rsplit(")", 1)[1].split()[1])


def descends_from(pid: int, ancestor: int) -> bool:
    current: int | None = pid
    while current is not None and current > 1:
        if current == ancestor:
            return True
        current = _parent(current)
    return False


def kill_descendant(pid: int, ancestor: int, sig: int = signal.SIGKILL) -> None:
    """Signal ``pid``, refusing unless it is a process the test started (or one of theirs)."""
    assert descends_from(pid, ancestor), f"pid {pid} is not a descendant of {ancestor}"
    os.kill(pid, sig)


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing the run's steps (the project runs steps in process),
    as its first step's start event recorded it."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START):
        event = record.dagster_event
        if event is not None and event.pid is not None:
            return event.pid
    return None


def runs_of_job(instance: dg.DagsterInstance, job: JobRecord) -> list[dg.DagsterRun]:
    """The raw+table runs the status sensor launched for a ledger job, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={keys.ingests_job_tag(job.id): "1"}))
    return sorted(runs, key=lambda run: int(run.tags[keys.INGEST_ATTEMPT_TAG]))


def details(job: JobRecord) -> list[str]:
    """A job's history as its events' details (what happened, in order)."""
    return [detail or "" for _, _, detail in job.history]


def assert_settled(ledger: Ledger) -> None:
    """Every job of the ledger is in a state that is an outcome (none waits on a dead process),
    none is a possible orphan, and each tells by its events how it got there."""
    for job in ledger.jobs():
        assert job.state in SETTLED, (job.id, job.state, details(job))
        assert not job.possible_orphan, (job.id, details(job))
        assert job.history and job.history[-1][1] == job.state.value, details(job)


class Meter:
    """The sandbox's per-route request counts (``/_sandbox/in-flight``), zeroed at the start."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.url = f"{sandbox.url}/_sandbox/in-flight"
        httpx.delete(self.url, timeout=10).raise_for_status()

    def route(self, vendor: str, method: str, path_end: str) -> dict[str, int]:
        """The gauge of the vendor's one route answering ``method`` whose path ends so."""
        routes = httpx.get(self.url, timeout=10).raise_for_status().json()[vendor]["routes"]
        found = [
            gauge
            for name, gauge in routes.items()
            if method in name.split(" ", 1)[0].split("|") and name.endswith(path_end)
        ]
        assert len(found) <= 1, routes
        return found[0] if found else {"in_flight": 0, "high_water": 0, "served": 0}


class Daemon:
    """``dagster-daemon run`` over a workspace, started and SIGKILLed (with its process group:
    the code server evaluating its sensors and the run workers that server spawned)."""

    def __init__(self, project: Project, workspace: Path, env: dict[str, str]) -> None:
        self.args = [processes.dagster_executable("dagster-daemon"), "run", "-w", str(workspace)]
        self.env = env
        self.log_path = project.home / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @contextmanager
    def running(self) -> Iterator["Daemon"]:
        self.starts += 1
        log_path = self.log_path.with_name(f"daemon-{self.starts}.log")
        with processes.running(self.args, env=self.env, log_path=log_path, cwd=PROJECT) as child:
            self.process = child
            self.log_path = log_path
            try:
                yield self
            finally:
                self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the daemon is not running"
        return self.process.pid

    def alive(self) -> bool:
        assert self.process is not None
        return self.process.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def wait_until_ingested(
        self,
        what: str,
        instance: dg.DagsterInstance,
        ledger: Ledger,
        job: JobRecord,
        *,
        runs: int | None = 1,
    ) -> None:
        """Until ``job`` is ingested and its raw+table runs (``runs`` of them; None: any number)
        have ended, failing at once with the log's tail if the daemon died meanwhile."""

        def landed() -> bool:
            assert self.alive(), self.log_tail()
            launched = runs_of_job(instance, job)
            return (
                ledger.get(job.id).state is JobState.INGESTED
                and (runs is None or len(launched) == runs)
                and all(r.is_finished for r in launched)
            )

        wait_for(what, landed)

    def kill(self) -> None:
        """SIGKILL the daemon's whole process group, as a dying container does."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def kill_alone(self) -> int:
        """SIGKILL the daemon process only: its code server lives on, finishing what it was
        evaluating, until it misses the daemon's heartbeats. The group to reap is returned."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        return self.process.pid


def reap_group(pgid: int) -> None:
    """SIGKILL what is left of a process group the test started (an orphaned code server)."""
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def catalog_workspace(home: Path, root: Path, module: str, location: str) -> Path:
    path = home / "workspace.yaml"
    path.write_text(
        f"load_from:\n  - python_module:\n      module_name: {module}\n"
        f"      working_directory: {root}\n      location_name: {location}\n"
    )
    return path
