"""The webhook receiver over real HTTP and a real ledger (SQLite and PostgreSQL): signatures,
unknown jobs, replays, body caps, and what is (not) recorded each time."""

import json
import logging

import pytest

from export_pipelines.ledger import JobState
from export_pipelines.vendors.hellodata.delivery import sign
from export_pipelines.webhooks import ReceiverSettings
from export_pipelines_tests.webhooks.conftest import (
    KEY,
    Receiver,
    delivery_body,
    receiving,
    submitted_job,
)


@pytest.fixture
def receiver(ledger_url: str):  # type: ignore[no-untyped-def]
    with receiving(ReceiverSettings(ledger_url=ledger_url, secrets={"hellodata": KEY})) as r:
        yield r


def _nothing_recorded(receiver: Receiver, job_id: int) -> None:
    job = receiver.ledger.get(job_id)
    assert job.state is JobState.RUNNING
    assert job.files == ()
    assert receiver.ledger.deliveries("hellodata") == []


def test_a_signed_delivery_completes_the_job_with_its_file_and_row_count(
    receiver: Receiver,
) -> None:
    job_id = submitted_job(receiver.ledger, "q-ok")
    answer = receiver.deliver(delivery_body("q-ok", rows=42))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"queryUUID": "q-ok", "ledger_job": job_id, "outcome": "completed"}
    job = receiver.ledger.get(job_id)
    assert job.state is JobState.COMPLETED
    assert job.vendor_rows == 42
    assert [(f.name, f.url) for f in job.files] == [
        ("export.csv.gz", "https://storage.googleapis.com/x/export.csv.gz")
    ]
    assert job.files[0].expires_at is not None


def test_missing_and_bad_signatures_are_refused_with_nothing_recorded(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = submitted_job(receiver.ledger, "q-sig")
    body = delivery_body("q-sig")
    caplog.set_level(logging.DEBUG)
    missing = receiver.post(body)
    assert missing.status_code == 401
    assert "no SHA256-HMAC-Signature header" in missing.json()["error"]
    wrong_key = receiver.deliver(body, key="not-the-key")
    assert wrong_key.status_code == 401
    assert "does not match" in wrong_key.json()["error"]
    tampered = body.replace(b'"numberRows": 7', b'"numberRows": 8')
    forged = receiver.post(tampered, {"SHA256-HMAC-Signature": sign(KEY, body)})
    assert forged.status_code == 401
    _nothing_recorded(receiver, job_id)
    for text in [missing.text, wrong_key.text, forged.text, caplog.text]:
        assert KEY not in text


def test_a_payload_only_signature_is_refused_unless_allowed(receiver: Receiver) -> None:
    """``hmacSignature`` does not cover the URL: refused with the default settings."""
    job_id = submitted_job(receiver.ledger, "q-payload")
    answer = receiver.post(delivery_body("q-payload"))
    assert answer.status_code == 401
    _nothing_recorded(receiver, job_id)


def test_a_payload_only_signature_passes_only_for_allow_listed_download_hosts(
    ledger_url: str,
) -> None:
    config = ReceiverSettings(
        ledger_url=ledger_url,
        secrets={"hellodata": KEY},
        allow_payload_signature=True,
        allowed_download_hosts=("storage.googleapis.com",),
    )
    with receiving(config) as receiver:
        job_id = submitted_job(receiver.ledger, "q-allowed")
        elsewhere = delivery_body("q-allowed", url="https://attacker.example/export.csv.gz")
        refused = receiver.post(elsewhere)
        assert refused.status_code == 401
        assert "'attacker.example' is not on the allow-list" in refused.json()["error"]
        _nothing_recorded(receiver, job_id)
        accepted = receiver.post(delivery_body("q-allowed"))
        assert accepted.status_code == 200, accepted.text
        assert receiver.ledger.get(job_id).state is JobState.COMPLETED


def test_an_unknown_query_uuid_is_refused_and_nothing_is_recorded(receiver: Receiver) -> None:
    job_id = submitted_job(receiver.ledger, "q-known")
    answer = receiver.deliver(delivery_body("q-never-submitted"))
    assert answer.status_code == 404
    assert "q-never-submitted was not submitted by this ledger" in answer.json()["error"]
    _nothing_recorded(receiver, job_id)


def test_a_replayed_delivery_is_acknowledged_and_recorded_once(receiver: Receiver) -> None:
    job_id = submitted_job(receiver.ledger, "q-replay")
    body = delivery_body("q-replay", rows=3)
    outcomes = [receiver.deliver(body).json()["outcome"] for _ in range(3)]
    assert outcomes == ["completed", "duplicate", "duplicate"]
    # A vendor retry with a new URL (another body) is a duplicate too: the job keeps its first file.
    again = receiver.deliver(delivery_body("q-replay", url="https://storage.googleapis.com/y.gz"))
    assert again.json()["outcome"] == "duplicate"
    deliveries = receiver.ledger.deliveries("hellodata")
    assert len(deliveries) == 1
    assert deliveries[0][0] == "q-replay" and deliveries[0][3] == 3
    job = receiver.ledger.get(job_id)
    assert [f.url for f in job.files] == ["https://storage.googleapis.com/x/export.csv.gz"]
    completions = [h for h in job.history if h[1] == JobState.COMPLETED.value]
    assert len(completions) == 1


def test_a_delivery_for_a_timed_out_job_is_recorded_but_not_applied(receiver: Receiver) -> None:
    job_id = submitted_job(receiver.ledger, "q-late")
    receiver.ledger.mark_timed_out(job_id, "no delivery within 6 h")
    answer = receiver.deliver(delivery_body("q-late"))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "not_running"
    assert receiver.ledger.get(job_id).state is JobState.TIMED_OUT


def test_a_body_past_the_cap_is_refused_unread(ledger_url: str) -> None:
    config = ReceiverSettings(ledger_url=ledger_url, secrets={"hellodata": KEY}, max_body_bytes=256)
    with receiving(config) as receiver:
        job_id = submitted_job(receiver.ledger, "q-big")
        answer = receiver.deliver(delivery_body("q-big"))
        assert answer.status_code == 413
        _nothing_recorded(receiver, job_id)


def test_a_malformed_signed_body_names_what_is_wrong(receiver: Receiver) -> None:
    job_id = submitted_job(receiver.ledger, "q-bad")
    body = json.loads(delivery_body("q-bad"))
    body["gcsBlob"]["numberRows"] = "seven"
    answer = receiver.deliver(json.dumps(body).encode())
    assert answer.status_code == 400
    assert answer.json()["error"] == "delivery q-bad: gcsBlob.numberRows is not a count"
    _nothing_recorded(receiver, job_id)


def test_a_vendor_that_is_polled_takes_no_callbacks(receiver: Receiver) -> None:
    import httpx

    answer = httpx.post(f"{receiver.url}/webhooks/enterpret", content=b"{}")
    assert answer.status_code == 404


def test_concurrent_duplicate_deliveries_complete_the_job_once(receiver: Receiver) -> None:
    from concurrent.futures import ThreadPoolExecutor

    job_id = submitted_job(receiver.ledger, "q-race")
    body = delivery_body("q-race")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: receiver.deliver(body), range(8)))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["completed"] + ["duplicate"] * 7
    assert len(receiver.ledger.deliveries("hellodata")) == 1
    completions = [h for h in receiver.ledger.get(job_id).history if h[1] == "completed"]
    assert len(completions) == 1
