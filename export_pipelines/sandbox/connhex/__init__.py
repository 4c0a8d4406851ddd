"""The Connhex sandbox: the exporter API of seed 003 (PROTOCOLS §4, DECISIONS C-1 … C-7) over a
deterministic synthetic IoT deployment.

Base URL ``{root}/connhex`` (the exporter's routes sit at ``/exports…``), ``Authorization: Bearer
sandbox-connhex-token``. The protocol is in ``routes.py``, the create body's validation in
``request.py``, the life cycle of requests and jobs in ``simulator.py``, the data in
``generator.py``, what an item's file holds in ``points.py`` and how it is written in
``item_files.py``; test controls in ``control.py``; the demo's expected rows in ``expected.py``.

Serve flags: ``--connhex-points-per-hour``, ``--connhex-publishers``, ``--connhex-channels``,
``--connhex-queued-seconds``, ``--connhex-max-recurring-runs`` (and the shared ``--seed``, ``--completion-delay``). Recurring runs
follow the sandbox's clock, which ``POST /_sandbox/connhex/clock/advance`` moves forward.

Where the documents are silent, this sandbox chose (``decisions.connhex`` holds the shared rules):

* ``pdf`` is refused with 400 at create; ``template`` is accepted and changes nothing; long items
  ignore ``format.columns``; a wide column whose id is no variable is an empty column.
* ``from``/``to`` come together; an item needs them or ``period``; a oneTime request's run time is
  its creation second; wide takes a single target (its columns are variable names).
* An unknown ``channelId`` is a 400; an unknown device in ``target.value`` or another subtopic
  than ``events.data`` just exports nothing.
* Item indexes (``itemIndex``, the ``-<index>`` of clashing ZIP member names) count from 0.
* Raw long rows come in arrival order; decimated or delta'd long rows by target, variable, time;
  wide rows by time.
* The download without ``jobId`` holds the latest job of each item and needs them all ``done``
  (else 400, as for an expired job); a job's ``notificationStatus`` is ``notSent``, then ``sent`` once it ends.
* API date-times are ISO-8601 UTC with milliseconds (``2024-03-10T01:30:00.000Z``); 401 without a
  bearer token, 403 with a wrong one; ``GET /exports`` also answers ``page``, ``pageSize`` and
  ``total``, and refuses the tag filters (no tags are simulated).
"""

import click

from export_pipelines.sandbox.connhex.config import ConnhexSandboxConfig
from export_pipelines.sandbox.connhex.control import control_routes
from export_pipelines.sandbox.connhex.expected import expected_records, job_points
from export_pipelines.sandbox.connhex.generator import (
    SUBTOPIC,
    VARIABLES,
    ConnhexGenerator,
    GeneratorParams,
)
from export_pipelines.sandbox.connhex.routes import DOWNLOAD_ROUTES, FAULT_ROUTES, ConnhexApi
from export_pipelines.sandbox.connhex.simulator import VENDOR, ConnhexSimulator
from export_pipelines.sandbox.faults import VendorRoutes
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, ServeFlag, VendorMount

__all__ = [
    "SANDBOX_VENDOR",
    "SUBTOPIC",
    "VARIABLES",
    "VENDOR",
    "ConnhexGenerator",
    "ConnhexSandboxConfig",
    "ConnhexSimulator",
    "GeneratorParams",
    "job_points",
    "mount",
]


def mount(config: ConnhexSandboxConfig, context: MountContext) -> VendorMount[ConnhexSimulator]:
    """The Connhex simulator with its API routes, controls and fault routes."""
    simulator = ConnhexSimulator(config, context.work_dir)
    api = ConnhexApi(simulator, context.faults)
    return VendorMount(
        name=VENDOR,
        api_key=config.api_key,
        simulator=simulator,
        routes=api.routes(),
        control_routes=control_routes(simulator),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
    )


SANDBOX_VENDOR: SandboxVendor[ConnhexSandboxConfig, ConnhexSimulator] = SandboxVendor(
    name=VENDOR,
    config_model=ConnhexSandboxConfig,
    mount=mount,
    expected_records=expected_records,
    serve_flags=(
        ServeFlag(
            option="points-per-hour",
            field="points_per_hour",
            type=click.IntRange(1, 3_600),
            help="Connhex points per variable per hour, before gaps (default 12).",
        ),
        ServeFlag(
            option="publishers",
            field="publisher_count",
            type=click.IntRange(1, 1_000),
            help="Connhex devices (default 3).",
        ),
        ServeFlag(
            option="channels",
            field="channel_count",
            type=click.IntRange(1, 100),
            help="Connhex channels (default 2).",
        ),
        ServeFlag(
            option="max-recurring-runs",
            field="max_recurring_runs",
            type=click.IntRange(min=1),
            help="Runs a Connhex recurring request makes at most (default 1000).",
        ),
        ServeFlag(
            option="queued-seconds",
            field="queued_seconds",
            type=click.FloatRange(min=0),
            help="Seconds a Connhex job stays notProcessed (default 0.1).",
        ),
    ),
)
