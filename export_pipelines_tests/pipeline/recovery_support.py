"""Driving a Rebilly catalog through failures as the daemon would: status sensor ticks (real
instance, sandbox over HTTP) and each run a tick requests executed in-process with its tags."""

import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from export_pipelines import settings
from export_pipelines.ledger import IN_FLIGHT, LedgerResource
from export_pipelines.pipeline import keys
from export_pipelines.vendors.rebilly.resource import RebillyResource
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import failure_messages
from export_pipelines_tests.pipeline.rebilly_support import (
    load_catalog,
    sandbox_control,
    write_catalog_project,
)

DAY = "2024-03-05"


def catalog_text(connection: str) -> str:
    """A daily Rebilly invoices export under a ``VendorConnection`` with ``connection``'s extra
    attributes (YAML flow mappings, e.g. ``resubmit_failed: {max_attempts: 2}``)."""
    return textwrap.dedent(
        f"""\
        type: export_pipelines.catalog.VendorConnection
        attributes: {{vendor: rebilly, sensor_running: false, {connection}}}
        ---
        type: export_pipelines.catalog.AsyncExport
        attributes:
          vendor: rebilly
          export: invoices
          partitioning: daily
          start: "2024-01-01"
          request: {{name: invoices, resource: invoices, format: csv}}
        """
    )


@dataclass
class Driver:
    project: Project
    definitions: dg.Definitions
    #: Every run executed, by run key.
    runs: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    ticks: list[SensorExecutionData] = field(default_factory=list)

    @property
    def sensor(self) -> dg.SensorDefinition:
        return self.definitions.resolve_sensor_def(keys.status_sensor_name("rebilly"))

    def tick(self) -> SensorExecutionData:
        resource = RebillyResource(
            base_url=self.project.sandbox.base_url("rebilly"),
            api_key=self.project.sandbox.api_key("rebilly"),
        )
        with dg.build_sensor_context(
            instance=self.project.instance(),
            resources={"rebilly": resource, "ledger": LedgerResource()},
            definitions=self.definitions,
        ) as context:
            result = self.sensor.evaluate_tick(context)
        self.ticks.append(result)
        return result

    def run(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """Execute a run request as the daemon launches it: its assets, partition and tags; a run
        key already launched is not launched again (the daemon's rule)."""
        assert request.run_key is not None
        if request.run_key in self.runs:
            return self.runs[request.run_key]
        job = self.definitions.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=self.project.instance(),
            asset_selection=list(request.asset_selection or []),
            partition_key=request.partition_key,
            tags=request.tags,
            raise_on_error=False,
        )
        self.runs[request.run_key] = result
        return result

    def request(self, partition: str = DAY) -> dg.ExecuteInProcessResult:
        job = self.definitions.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=self.project.instance(),
            asset_selection=[keys.request_key("rebilly", "invoices")],
            partition_key=partition,
            raise_on_error=False,
        )
        assert result.success, failure_messages(result)
        return result

    def until_settled(self, timeout: float = 60.0) -> None:
        """Tick and run what each tick asks for until no job is in flight and a tick asks for
        nothing more."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            result = self.tick()
            for request in result.run_requests or []:
                self.run(request)
            in_flight = [j for j in self.project.ledger().jobs("rebilly") if j.state in IN_FLIGHT]
            if not in_flight and not result.run_requests:
                return
            time.sleep(0.2)
        raise AssertionError(f"still in flight after {timeout} s")

    def until(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        give_up = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < give_up, f"not done after {timeout} s"
            time.sleep(0.1)


def rebilly_catalog(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connection: str
) -> Driver:
    monkeypatch.setenv(settings.vendor_base_url_env("rebilly"), project.sandbox.base_url("rebilly"))
    monkeypatch.setenv(settings.vendor_api_key_env("rebilly"), project.sandbox.api_key("rebilly"))
    root = tmp_path / "rebilly_catalog"
    module = write_catalog_project(root, catalog_text(connection))
    monkeypatch.syspath_prepend(str(root))
    return Driver(project, load_catalog(module))


def sandbox_exports(project: Project, name: str = "invoices") -> list[dict[str, Any]]:
    """The exports the Rebilly sandbox holds for requests named ``name``, oldest first."""
    with sandbox_control(project.sandbox) as control:
        exports = control.get("/exports").json()["exports"]
    return [e for e in exports if e["request"]["name"] == name]


def arm_failures(project: Project, reason: str, times: int) -> None:
    with sandbox_control(project.sandbox) as control:
        armed = control.post("/fail-next", json={"failureReason": reason, "times": times})
        assert armed.is_success, armed.text
