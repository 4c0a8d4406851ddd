"""``export-pipelines webhooks serve`` as ``make demo`` / ``make dev`` start it: a real process,
its settings from the environment, the ledger under ``DAGSTER_HOME``; the key never in its log."""

import os
from pathlib import Path

import httpx

from export_pipelines import settings
from export_pipelines.demo import processes
from export_pipelines.ledger import JobState, Ledger
from export_pipelines.ledger.store import default_ledger_url
from export_pipelines.vendors.hellodata.delivery import sign
from export_pipelines_tests.webhooks.conftest import KEY, delivery_body, submitted_job


def test_the_serve_command_records_a_signed_delivery(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv(settings.LEDGER_URL_ENV, raising=False)
    monkeypatch.setenv(settings.vendor_api_key_env("hellodata"), KEY)
    ledger = Ledger(default_ledger_url())
    job_id = submitted_job(ledger, "q-serve")
    log = tmp_path / "logs" / "webhooks.log"
    with processes.webhook_receiver(env=dict(os.environ), log_path=log) as env:
        url = env[processes.WEBHOOK_PUBLIC_URL_ENV] + "/webhooks/hellodata"
        unsigned = httpx.post(url, content=delivery_body("q-serve"))
        body = delivery_body("q-serve", rows=11)
        signed = httpx.post(url, content=body, headers={"SHA256-HMAC-Signature": sign(KEY, body)})
    assert unsigned.status_code == 401
    assert signed.status_code == 200 and signed.json()["outcome"] == "completed"
    job = ledger.get(job_id)
    assert job.state is JobState.COMPLETED and job.vendor_rows == 11
    assert KEY not in log.read_text()
    assert "no SHA256-HMAC-Signature header" in log.read_text()
