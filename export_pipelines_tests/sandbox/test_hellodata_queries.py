"""HelloData filters checked against rows selected by hand, the verifier's recomputation, faults."""

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import SandboxConfig, SandboxServer, hellodata
from export_pipelines.sandbox.cli import vendor_sections
from export_pipelines.sandbox.hellodata.files import json_value
from export_pipelines_tests.sandbox.test_hellodata_protocol import KEY, Receiver, body, complete


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0,
        hellodata={
            "seed": 8,
            "property_count": 40,
            "month_count": 3,
            "completion_delay_seconds": 1200,
            "allow_loopback_webhooks": True,
            "webhook_backoff_seconds": 0.01,
            "rate_limit": 50,
        },
    )
    with SandboxServer(config) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def run(
    server: SandboxServer, receiver: Receiver, dataset: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    response = httpx.post(
        f"{server.base_url('hellodata')}/dataset/export",
        json=body(receiver.url, "jsonl", **dataset),
        headers={"x-api-key": KEY},
    )
    assert response.status_code == 201, response.text
    query_uuid = response.json()["queryUUID"]
    with httpx.Client(base_url=f"{server.url}/_sandbox/hellodata", timeout=60) as control:
        complete(control, query_uuid)
    sent = json.loads(receiver.next()[1])
    content = gzip.decompress(httpx.get(sent["gcsBlob"]["url"]).content).decode()
    return query_uuid, [json.loads(line) for line in content.splitlines()]


def test_or_groups_nulls_and_substrings_select_what_a_hand_filter_selects(
    server: SandboxServer, receiver: Receiver
) -> None:
    dataset = {
        "scopes": [{"column": "property_id"}, {"column": "zip_code"}, {"column": "concession"}],
        "filters": {
            "or": [
                {"and": [{"column": "state", "filter": {"in": ["TX", "MA"]}},
                         {"column": "concession", "filter": {"isUnknown": True}}]},
                {"column": "street_address", "filter": {"contains": "PEÑA"}},
            ]
        },
    }  # fmt: skip
    _, rows = run(server, receiver, dataset)
    every = server.simulator(hellodata.SANDBOX_VENDOR).dataset.rows()
    wanted = [
        {"property_id": r["property_id"], "zip_code": r["zip_code"], "concession": r["concession"]}
        for r in every
        if (r["state"] in ("TX", "MA") and r["concession"] is None)
        or "peña" in r["street_address"].lower()
    ]
    assert rows == wanted and rows


def test_expected_records_recompute_an_export_from_the_control_endpoints(
    server: SandboxServer, receiver: Receiver
) -> None:
    dataset = {"scopes": [{"column": "property_id"}, {"column": "as_of_month"}], "limit": 25}
    query_uuid, rows = run(server, receiver, dataset)
    records = list(hellodata.SANDBOX_VENDOR.expected_records(server.url, query_uuid, {}))
    assert [{k: v for k, v in r.items() if k != "id"} for r in records] == rows
    assert [r["id"] for r in records] == [r["property_id"] for r in rows] and len(rows) == 25
    first = server.simulator(hellodata.SANDBOX_VENDOR).dataset.row(0)
    assert rows[0] == {
        "property_id": first["property_id"],
        "as_of_month": json_value(first["as_of_month"]),
    }


def test_export_fault_cut_download_and_delayed_delivery(
    server: SandboxServer, receiver: Receiver
) -> None:
    armed = httpx.post(
        f"{server.url}/_sandbox/faults",
        json={"vendor": "hellodata", "route": "export", "status": 503},
    )
    assert armed.status_code == 201
    refused = httpx.post(
        f"{server.base_url('hellodata')}/dataset/export",
        json=body(receiver.url),
        headers={"x-api-key": KEY},
    )
    assert refused.status_code == 503
    httpx.post(
        f"{server.url}/_sandbox/hellodata/delivery-faults",
        json={"kind": "delay", "delay_seconds": 0.2},
    )
    _, rows = run(server, receiver, {"scopes": [{"column": "property_id"}]})
    assert len(rows) == 120
    server.add_fault("hellodata", "file", cut_after_bytes=50)
    exports = httpx.get(f"{server.url}/_sandbox/hellodata/exports").json()["exports"]
    url = json.loads(exports[-1]["webhook_body"])["gcsBlob"]["url"]
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)


def test_rate_limit_headers_count_down_to_429(server: SandboxServer, receiver: Receiver) -> None:
    httpx.post(f"{server.url}/_sandbox/hellodata/rate-limit/reset")
    bad = {"x-api-key": KEY}
    url = f"{server.base_url('hellodata')}/dataset/export"
    answers = [httpx.post(url, json={"format": "xml"}, headers=bad) for _ in range(51)]
    assert answers[0].status_code == 422
    assert answers[0].headers["RateLimit"].startswith('"default";r=49;t=')
    assert answers[-1].status_code == 429 and answers[-1].headers["RateLimit"].startswith(
        '"default";r=0;'
    )
    httpx.post(f"{server.url}/_sandbox/hellodata/rate-limit/reset")


def test_an_unanswered_webhook_is_retried_then_given_up(server: SandboxServer) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more: every attempt is refused
    response = httpx.post(
        f"{server.base_url('hellodata')}/dataset/export", json=body(url), headers={"x-api-key": KEY}
    )
    assert response.status_code == 201, response.text
    with httpx.Client(base_url=f"{server.url}/_sandbox/hellodata", timeout=60) as control:
        summary = complete(control, response.json()["queryUUID"])
    assert summary["delivery"] == "gave_up"
    attempts = summary["attempts"]
    assert len(attempts) == 4 and all(
        a["status"] is None and "Connect" in a["error"] for a in attempts
    )


def test_serve_flags_set_the_hellodata_section() -> None:
    sections = vendor_sections(
        seed=4,
        completion_delay=0.5,
        flags={"hellodata_allow_loopback_webhooks": True, "hellodata_properties": 12},
    )
    config = SandboxConfig(vendors=sections).vendor_config(hellodata.SANDBOX_VENDOR)
    assert (config.seed, config.completion_delay_seconds) == (4, 0.5)
    assert config.allow_loopback_webhooks is True and config.property_count == 12
