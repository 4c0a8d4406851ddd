"""The whole demo, then a search for every vendor key in what it left (issue 14, secrets).

``export-pipelines demo`` runs end to end in a child process with its Dagster home and data root in
this test's folder: the sandbox, the webhook receiver, the daemon, every export of the catalog and
the analytics. It exits 0 only if every Parquet file holds what the sandbox generated and none of
the vendor keys appears in any log, the event log, run metadata, the ledger or the lake (the scan
itself is tested on planted keys in ``test_secret_scan.py``); the test then scans again itself.
"""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from export_pipelines import settings
from export_pipelines.demo import processes
from export_pipelines.demo.runner import DEMO_HOME_ENV
from export_pipelines.demo.secret_scan import secret_findings
from export_pipelines.ledger import Ledger
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.registry import VENDORS as SANDBOX_VENDORS

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.heavy
@pytest.mark.xdist_group("heavy")
@pytest.mark.timeout(1800)  # the demo is minutes; its subprocess is given up on after 1,500 s
def test_the_demo_lands_everything_and_leaks_no_vendor_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    env = {
        **os.environ,
        DEMO_HOME_ENV: str(home),
        settings.DATA_DIR_ENV: str(data),
        **processes.NO_TELEMETRY,
    }
    env.pop(settings.LEDGER_URL_ENV, None)
    demo = subprocess.run(
        [sys.executable, "-m", "export_pipelines.cli", "demo"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    assert "none of the" in demo.stdout and "vendor keys appears" in demo.stdout

    config = SandboxConfig()
    keys = {
        settings.vendor_api_key_env(vendor.name): config.vendor_config(vendor).api_key
        for vendor in SANDBOX_VENDORS
    }
    logs = processes.log_dir(home)
    vendor_side = {logs / "sandbox.log", home / "sandbox"}
    roots = [p for f in (home, logs, data) for p in sorted(f.iterdir()) if p not in vendor_side]
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        ledger = Ledger(f"sqlite:///{home / 'export_ledger.sqlite'}")
        assert ledger.jobs(), "the demo recorded no job"
        assert secret_findings(keys, roots=roots, instance=instance, ledger=ledger) == []
