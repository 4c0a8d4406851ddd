"""The Enterpret sandbox: Data Export API v1 (submit / fetch / labels) over a synthetic dataset."""

from pathlib import Path

from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.enterpret.control import control_routes
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.enterpret.filters import compile_filter_query, matches
from export_pipelines.sandbox.enterpret.routes import DOWNLOAD_ROUTES, FAULT_ROUTES, EnterpretApi
from export_pipelines.sandbox.enterpret.simulator import VENDOR, EnterpretSimulator, Job, JobState
from export_pipelines.sandbox.faults import FaultRegistry, VendorRoutes
from export_pipelines.sandbox.signed_urls import UrlSigner
from export_pipelines.sandbox.vendor import VendorMount

__all__ = [
    "VENDOR",
    "EnterpretSimulator",
    "FeedbackDataset",
    "Job",
    "JobState",
    "compile_filter_query",
    "matches",
    "mount",
]


def mount(
    config: SandboxConfig, work_dir: Path, faults: FaultRegistry, signer: UrlSigner
) -> VendorMount[EnterpretSimulator]:
    """The Enterpret simulator with its API routes, controls and fault routes, files under
    ``work_dir/enterpret``."""
    simulator = EnterpretSimulator(config.enterpret, work_dir / VENDOR)
    return VendorMount(
        name=VENDOR,
        api_key=config.enterpret.api_key,
        simulator=simulator,
        routes=EnterpretApi(simulator, faults, signer).routes(),
        control_routes=control_routes(simulator),
        fault_routes=VendorRoutes(FAULT_ROUTES, DOWNLOAD_ROUTES),
        close=simulator.close,
    )
