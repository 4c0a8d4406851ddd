"""The Enterpret sandbox: Data Export API v1 (submit / fetch / labels) over a synthetic dataset."""

import click

from export_pipelines.sandbox.enterpret.config import EnterpretSandboxConfig
from export_pipelines.sandbox.enterpret.control import control_routes
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.enterpret.expected import expected_records
from export_pipelines.sandbox.enterpret.filters import compile_filter_query, matches
from export_pipelines.sandbox.enterpret.routes import DOWNLOAD_ROUTES, FAULT_ROUTES, EnterpretApi
from export_pipelines.sandbox.enterpret.simulator import VENDOR, EnterpretSimulator, Job, JobState
from export_pipelines.sandbox.faults import VendorRoutes
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, ServeFlag, VendorMount

__all__ = [
    "SANDBOX_VENDOR",
    "VENDOR",
    "EnterpretSandboxConfig",
    "EnterpretSimulator",
    "FeedbackDataset",
    "Job",
    "JobState",
    "compile_filter_query",
    "matches",
    "mount",
]


def mount(config: EnterpretSandboxConfig, context: MountContext) -> VendorMount[EnterpretSimulator]:
    """The Enterpret simulator with its API routes, controls and fault routes."""
    simulator = EnterpretSimulator(config, context.work_dir)
    return VendorMount(
        name=VENDOR,
        api_key=config.api_key,
        simulator=simulator,
        routes=EnterpretApi(simulator, context.faults, context.signer).routes(),
        control_routes=control_routes(simulator),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
    )


SANDBOX_VENDOR: SandboxVendor[EnterpretSandboxConfig, EnterpretSimulator] = SandboxVendor(
    name=VENDOR,
    config_model=EnterpretSandboxConfig,
    mount=mount,
    expected_records=expected_records,
    serve_flags=(
        ServeFlag(
            option="records",
            field="record_count",
            type=click.IntRange(10, 10_000_000),
            help="Size of the Enterpret feedback universe (default 100000).",
        ),
    ),
)
