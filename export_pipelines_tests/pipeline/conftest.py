"""A sandbox on a real socket and a real Dagster home pointing the project's catalog at it."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from export_pipelines import settings
from export_pipelines.ledger import Ledger
from export_pipelines.ledger.store import default_ledger_url
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors import VENDORS

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=0.5))
    with SandboxServer(config) as server:
        yield server


@dataclass
class Project:
    home: Path
    data: Path
    env: dict[str, str]
    sandbox: SandboxServer

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.get()

    def ledger(self) -> Ledger:
        return Ledger(default_ledger_url())

    def definitions(self) -> dg.Definitions:
        from export_pipelines.definitions import defs

        return defs()


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer
) -> Iterator[Project]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    env = {
        "DAGSTER_HOME": str(home),
        settings.DATA_DIR_ENV: str(data),
    }
    for vendor in VENDORS:  # every registered vendor's sensor finds its sandbox and key
        env[settings.vendor_base_url_env(vendor)] = sandbox.base_url(vendor)
        env[settings.vendor_api_key_env(vendor)] = sandbox.api_key(vendor)
    monkeypatch.delenv(settings.LEDGER_URL_ENV, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sandbox.clear_faults()
    yield Project(home=home, data=data, env=env, sandbox=sandbox)
    sandbox.clear_faults()
