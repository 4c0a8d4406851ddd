"""A sandbox quick to complete for Enterpret and Rebilly, and the pipeline tests' project fixture."""

from collections.abc import Iterator

import pytest

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines_tests.pipeline.conftest import project  # noqa: F401  (a fixture)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0,
        enterpret=EnterpretSandboxConfig(completion_delay_seconds=0.3),
        rebilly=RebillySandboxConfig(queued_seconds=0.1, completion_delay_seconds=0.3),
    )
    with SandboxServer(config) as server:
        yield server
