"""``dagster dev`` on the sandbox, as ``export-pipelines dev`` runs it, in a throw-away home.

The sandbox runs in the test's process (so the test can read what it generated); ``dagster dev``
(webserver and daemon, with the project's ``dagster.yaml``) runs as a child with the environment
pointing every vendor at it, the way ``make dev`` wires them.
"""

import os
import shutil
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from export_pipelines import settings
from export_pipelines.demo import processes
from export_pipelines.ledger import Ledger
from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors import VENDORS

PROJECT = Path(__file__).resolve().parents[2]
#: Loading the code location takes most of a minute on a busy two-core machine.
STARTUP_TIMEOUT_SECONDS = 300.0
#: Dagster gives its code server 60 s per call; on a loaded machine launching a run (a fresh
#: process loading the code location) took longer and the queued run was marked failed.
GRPC_TIMEOUTS = {
    "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
    "DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS": "300",
}


@dataclass(frozen=True)
class DagsterDev:
    url: str
    home: Path
    data: Path
    log: Path
    sandbox: SandboxServer

    def ledger(self) -> Ledger:
        """The ledger ``dagster dev``'s runs write: SQLite under its home (no URL is set)."""
        return Ledger(f"sqlite:///{self.home / 'export_ledger.sqlite'}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_webserver(url: str, process_alive: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not process_alive():
            raise RuntimeError(f"dagster dev exited; see {log}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"dagster dev did not answer at {url} in time; see {log}")


@contextmanager
def dagster_dev(base: Path) -> Iterator[DagsterDev]:
    home, data = base / "dagster_home", base / "data"
    home.mkdir(parents=True)
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=0.5))
    with SandboxServer(config) as sandbox:
        env = {key: value for key, value in os.environ.items() if key != settings.LEDGER_URL_ENV}
        env.update({"DAGSTER_HOME": str(home), settings.DATA_DIR_ENV: str(data)})
        env.update(GRPC_TIMEOUTS)
        for vendor in VENDORS:
            env[settings.vendor_base_url_env(vendor)] = sandbox.base_url(vendor)
            env[settings.vendor_api_key_env(vendor)] = sandbox.api_key(vendor)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        args = [processes.dagster_executable("dagster"), "dev", "-w", "workspace.yaml"]
        log = base / "dagster-dev.log"
        with processes.running(
            [*args, "-h", "127.0.0.1", "-p", str(port)], env=env, log_path=log, cwd=PROJECT
        ) as process:
            _wait_for_webserver(url, lambda: process.poll() is None, log)
            yield DagsterDev(url=url, home=home, data=data, log=log, sandbox=sandbox)
