"""The HelloData simulator observed from the wire, with a tiny webhook receiver on loopback."""

import gzip
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from export_pipelines.decisions.hellodata import COLUMNS
from export_pipelines.sandbox import SandboxConfig, SandboxServer, hellodata
from export_pipelines.sandbox.hellodata.files import csv_text, json_value
from export_pipelines.sandbox.hellodata.jsonjs import js_number
from export_pipelines.sandbox.hellodata.query import parse_query

KEY = "sandbox-hellodata-key"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers the next queued status."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.put((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def next(self, timeout: float = 30) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """Exports stay queued until a test completes them; retries back off 10 ms."""
    config = SandboxConfig(
        port=0,
        hellodata={
            "seed": 5,
            "property_count": 30,
            "month_count": 6,
            "completion_delay_seconds": 1200,
            "allow_loopback_webhooks": True,
            "webhook_backoff_seconds": 0.01,
            "fail_names": ["doomed"],
        },
    )
    with SandboxServer(config) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url("hellodata"), headers={"x-api-key": KEY}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_sandbox/hellodata", timeout=120) as client:
        yield client


def body(url: str, file_format: str = "csv", **dataset: Any) -> dict[str, Any]:
    return {
        "format": file_format,
        "name": "Monthly Rent Report",
        "webhookURL": url,
        "dataset": dataset or {"scopes": [{"column": "property_id"}, {"column": "asking_rent"}]},
    }


def submit(api: httpx.Client, payload: dict[str, Any]) -> str:
    response = api.post("/dataset/export", json=payload)
    assert response.status_code == 201, response.text
    assert response.headers["RateLimit"].startswith('"default";r=')
    assert response.headers["RateLimit-Policy"] == '"default";q=1000;w=60'
    query_uuid: str = response.json()["queryUUID"]
    return query_uuid


def complete(control: httpx.Client, query_uuid: str, wait: str = "delivery") -> dict[str, Any]:
    response = control.post(f"/exports/{query_uuid}/complete", params={"wait": wait})
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


def expected(server: SandboxServer, dataset: dict[str, Any]) -> list[list[Any]]:
    rows = server.simulator(hellodata.SANDBOX_VENDOR).dataset.rows()
    return list(parse_query(dataset).select(rows))


def download(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/gzip"
    return gzip.decompress(response.content)


def test_delivery_carries_both_signatures_and_the_csv_equals_the_generator(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    dataset = {
        "scopes": [{"column": "property_id"}, {"column": "msa"}, {"column": "asking_rent"}],
        "filters": {
            "and": [None, {"column": "number_units", "filter": {"greaterThanOrEqualTo": 50}}]
        },
        "limit": 40,
    }
    query_uuid = submit(api, body(receiver.url, **dataset))
    complete(control, query_uuid)
    headers, raw = receiver.next()
    # H-1, verified independently: header over the raw bytes, field over JSON.stringify(payload).
    assert (
        headers["SHA256-HMAC-Signature"] == hmac.new(KEY.encode(), raw, hashlib.sha256).hexdigest()
    )
    sent = json.loads(raw)
    assert list(sent) == [
        "queryUUID", "name", "format", "payload", "hmacSignature", "gcsBlob", "requestedOn", "completedOn",
    ]  # fmt: skip
    stringified = json.dumps(sent["payload"], separators=(",", ":"), ensure_ascii=False)
    assert stringified == (
        '{"scopes":[{"column":"property_id"},{"column":"msa"},{"column":"asking_rent"}],'
        '"filters":{"and":[null,{"column":"number_units","filter":{"greaterThanOrEqualTo":50}}]},'
        '"limit":40}'
    )
    assert (
        sent["hmacSignature"]
        == hmac.new(KEY.encode(), stringified.encode(), hashlib.sha256).hexdigest()
    )
    assert sent["queryUUID"] == query_uuid and sent["format"] == "csv"
    assert sent["payload"] == dataset
    rows = expected(server, dataset)
    assert sent["gcsBlob"]["numberRows"] == len(rows) == 40
    assert sent["requestedOn"].endswith("Z") and sent["gcsBlob"]["expires"].endswith("Z")
    text = download(sent["gcsBlob"]["url"]).decode()
    lines = text.split("\n")
    assert lines[0] == "property_id,msa,asking_rent" and lines[-1] == ""
    assert lines[1:-1] == [
        ",".join(f'"{csv_text(v)}"' if "," in csv_text(v) else csv_text(v) for v in row)
        for row in rows
    ]
    summary = control.get(f"/exports/{query_uuid}").json()
    assert summary["state"] == "completed" and summary["delivery"] == "delivered"
    assert [(a["kind"], a["status"]) for a in summary["attempts"]] == [("delivery", 200)]


def test_jsonl_aggregates_group_and_csv_repeats_the_column_name(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    dataset = {
        "scopes": [
            {"column": "msa"},
            {"column": "number_units", "aggregate": "Sum"},
            {"column": "number_units", "aggregate": "Max"},
            {"column": "property_id", "aggregate": "CountDistinct"},
        ],
        "filters": [
            {"column": "as_of_month", "filter": {"from": "2024-02-01", "to": "2024-03-01"}}
        ],
    }
    jsonl = submit(api, body(receiver.url, "jsonl", **dataset))
    complete(control, jsonl)
    sent = json.loads(receiver.next()[1])
    rows = [json.loads(line) for line in download(sent["gcsBlob"]["url"]).decode().splitlines()]
    groups = expected(server, dataset)
    assert rows == [
        {
            "msa": g[0],
            "number_units_sum": g[1],
            "number_units_max": g[2],
            "property_id_count_distinct": g[3],
        }
        for g in groups
    ]
    every = list(server.simulator(hellodata.SANDBOX_VENDOR).dataset.rows())
    months = [r for r in every if r["as_of_month"].isoformat() in ("2024-02-01", "2024-03-01")]
    assert sum(row["property_id_count_distinct"] for row in rows) == 30  # each property in one msa
    assert sum(row["number_units_sum"] for row in rows) == sum(r["number_units"] for r in months)
    csv_export = submit(api, body(receiver.url, "csv", **dataset))
    complete(control, csv_export)
    text = download(json.loads(receiver.next()[1])["gcsBlob"]["url"]).decode()
    assert text.split("\n")[0] == "msa,number_units,number_units,property_id"


def test_bad_requests_are_refused_with_message_and_details(
    api: httpx.Client, receiver: Receiver
) -> None:
    cases = [
        ({"x-api-key": "wrong"}, body(receiver.url), 403),
        ({"x-api-key": KEY}, body("http://hooks.example.com/x"), 400),
        ({"x-api-key": KEY}, body("https://10.1.2.3/x"), 400),
        ({"x-api-key": KEY}, body("https://192.168.0.9/x"), 400),
        ({"x-api-key": KEY}, body(receiver.url, scopes=[{"column": "rent_price"}]), 422),
        (
            {"x-api-key": KEY},
            body(
                receiver.url,
                scopes=[{"column": "lat"}],
                filters=[{"column": "lat", "filter": {"between": 1}}],
            ),
            422,
        ),
        (
            {"x-api-key": KEY},
            body(receiver.url, scopes=[{"column": "msa", "aggregate": "Avg"}]),
            422,
        ),
    ]
    for headers, payload, status in cases:
        response = httpx.post(
            f"{str(api.base_url).rstrip('/')}/dataset/export", json=payload, headers=headers
        )
        assert response.status_code == status, (payload, response.text)
        assert set(response.json()) == {"message", "details"}
        assert "RateLimit" in response.headers
    unknown = api.post(
        "/dataset/export", json=body(receiver.url, scopes=[{"column": "rent_price"}])
    )
    assert unknown.json()["details"] == "dataset.scopes[0].column: unknown column 'rent_price'"
    missing = httpx.post(f"{str(api.base_url).rstrip('/')}/dataset/export", json=body(receiver.url))
    assert missing.status_code == 401


def test_loopback_webhooks_need_the_setting() -> None:
    with SandboxServer(SandboxConfig(port=0)) as plain:
        response = httpx.post(
            f"{plain.base_url('hellodata')}/dataset/export",
            json=body("http://127.0.0.1:9/hook"),
            headers={"x-api-key": KEY},
        )
        assert response.status_code == 400
        assert "HTTPS" in response.json()["details"]


def test_retries_three_times_then_gives_up(
    api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    receiver.statuses = [500, 502, 503, 500]
    query_uuid = submit(api, body(receiver.url))
    summary = complete(control, query_uuid)
    assert summary["delivery"] == "gave_up"
    assert [(a["kind"], a["status"]) for a in summary["attempts"]] == [
        ("delivery", 500), ("retry", 502), ("retry", 503), ("retry", 500),
    ]  # fmt: skip
    bodies = [receiver.next()[1] for _ in range(4)]
    assert len(set(bodies)) == 1 and receiver.received.empty()


def test_retry_succeeds_and_replay_resends_verbatim(
    api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    query_uuid = submit(api, body(receiver.url))
    summary = complete(control, query_uuid)
    assert [a["status"] for a in summary["attempts"]] == [503, 200]
    first, second = receiver.next(), receiver.next()
    assert first == second
    replay = control.post(f"/exports/{query_uuid}/replay")
    assert replay.json()["kind"] == "replay" and replay.json()["status"] == 200
    assert receiver.next() == second


def test_silent_failure_sends_nothing(
    api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    doomed = submit(api, {**body(receiver.url), "name": "doomed"})
    assert complete(control, doomed)["state"] == "failed"
    control.post("/fail-next", json={"message": "too big"})
    armed = submit(api, body(receiver.url))
    summary = complete(control, armed)
    assert (summary["state"], summary["delivery"], summary["error"]) == (
        "failed",
        "not_sent",
        "too big",
    )
    assert summary["attempts"] == [] and receiver.received.empty()


def test_delivery_faults_drop_and_duplicate(
    api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    assert control.post("/delivery-faults", json={"kind": "drop"}).status_code == 201
    dropped = submit(api, body(receiver.url))
    assert complete(control, dropped)["delivery"] == "dropped"
    assert receiver.received.empty()
    control.post("/delivery-faults", json={"kind": "duplicate"})
    twice = submit(api, body(receiver.url))
    summary = complete(control, twice)
    assert [a["kind"] for a in summary["attempts"]] == ["delivery", "duplicate"]
    assert receiver.next() == receiver.next()


def test_cap_of_ten_running_exports(
    api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    created = [submit(api, body(receiver.url)) for _ in range(10)]
    refused = api.post("/dataset/export", json=body(receiver.url))
    assert refused.status_code == 429, refused.text
    assert refused.headers["RateLimit"].startswith('"default";r=0;t=')
    assert "10 exports" in refused.json()["details"]
    for query_uuid in created:
        complete(control, query_uuid, wait="file")
    assert api.post("/dataset/export", json=body(receiver.url)).status_code == 201


def test_signed_url_range_expiry_and_determinism(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, receiver: Receiver
) -> None:
    dataset = {"scopes": [{"column": c} for c in COLUMNS]}
    first, second = (submit(api, body(receiver.url, "jsonl", **dataset)) for _ in range(2))
    complete(control, first)
    complete(control, second)
    urls = [json.loads(receiver.next()[1])["gcsBlob"]["url"] for _ in range(2)]
    whole = [httpx.get(url).content for url in urls]
    assert whole[0] == whole[1]  # same query, same dataset: the same bytes
    part = httpx.get(urls[0], headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole[0][10:100]
    assert part.headers["accept-ranges"] == "bytes"
    expired = control.get(f"/exports/{first}/signed-url", params={"ttl_seconds": -5}).json()["url"]
    refused = httpx.get(expired)
    assert refused.status_code == 403 and "url expired" in refused.text
    tampered = urls[0].replace("expires=", "expires=9")
    assert httpx.get(tampered).status_code == 403
    lines = gzip.decompress(whole[0]).decode().splitlines()
    rows = server.simulator(hellodata.SANDBOX_VENDOR).dataset.rows()
    assert [json.loads(line) for line in lines] == [
        {k: json_value(v) for k, v in row.items()} for row in rows
    ]
    assert len(lines) == 30 * 6


def test_numbers_are_written_as_javascript_writes_them() -> None:
    assert [js_number(v) for v in (50.0, -0.0, 0.1, 1e-6, 1e-7, 1e21, 1.5e300, 123.45, 7)] == [
        "50", "0", "0.1", "0.000001", "1e-7", "1e+21", "1.5e+300", "123.45", "7",
    ]  # fmt: skip
