"""Signed file URLs, Range, and every injectable fault, observed from the wire."""

import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from export_pipelines.sandbox import EnterpretSandboxConfig, SandboxConfig, SandboxServer
from export_pipelines_tests.sandbox.conftest import (
    FETCH,
    SUBMIT,
    complete,
    download,
    fetch,
    submit,
    window_body,
)

START, END = 1704067200, 1706745600  # January 2024


@pytest.fixture
def file_urls(api: httpx.Client, control: httpx.Client) -> list[str]:
    query_id = submit(api, window_body(START, END, page_size=200))
    complete(control, query_id)
    urls: list[str] = fetch(api, query_id)["responseFiles"]
    assert len(urls) >= 2
    return urls


def test_file_urls_are_signed_and_need_no_api_key(
    server: SandboxServer, file_urls: list[str]
) -> None:
    url = file_urls[0]
    parts = urlsplit(url)
    assert url.startswith(f"{server.base_url('enterpret')}/files/")
    assert set(parse_qs(parts.query)) == {"expires", "signature"}
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"].startswith("application/json")
    assert len(json.loads(response.content)["records"]) == 200

    tampered = url.replace("/0.json", "/1.json")
    assert httpx.get(tampered).status_code == 403
    assert httpx.get(url.split("?")[0]).status_code == 403
    later = url.replace(
        f"expires={parse_qs(parts.query)['expires'][0]}",
        f"expires={int(parse_qs(parts.query)['expires'][0]) + 3600}",
    )
    assert httpx.get(later).status_code == 403


def test_range_request_is_206_with_the_right_bytes(file_urls: list[str]) -> None:
    whole = download(file_urls[0])
    response = httpx.get(file_urls[0], headers={"Range": "bytes=100-1099"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert response.content == whole[100:1100]
    tail = httpx.get(file_urls[0], headers={"Range": f"bytes={len(whole) - 10}-"})
    assert tail.status_code == 206 and tail.content == whole[-10:]


def test_expired_url_is_403_and_a_new_fetch_hands_out_working_urls() -> None:
    config = SandboxConfig(
        port=0,
        enterpret=EnterpretSandboxConfig(
            record_count=1000,
            completion_delay_seconds=0,
            file_url_ttl_seconds=5,  # a loaded machine takes over 1 s
        ),
    )
    with SandboxServer(config) as server:
        headers = {"Authorization": f"Bearer {server.api_key('enterpret')}"}
        with httpx.Client(base_url=server.base_url("enterpret"), headers=headers) as api:
            query_id = submit(api, window_body(START, START + 90 * 86400, page_size=10))
            server.enterpret.wait(query_id, timeout=10)
            first = fetch(api, query_id)["responseFiles"][0]
            body = download(first)
            expires = int(parse_qs(urlsplit(first).query)["expires"][0])
            time.sleep(max(0.0, expires - time.time()) + 0.05)
            expired = httpx.get(first)
            assert expired.status_code == 403
            assert "expired" in expired.json()["error"]
            fresh = fetch(api, query_id)["responseFiles"][0]
            assert fresh != first
            assert int(parse_qs(urlsplit(fresh).query)["expires"][0]) > expires
            assert download(fresh) == body


def test_status_fault_with_retry_after_fires_times_then_clears(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    query_id = submit(api, window_body(START, END))
    armed = control.post(
        "/faults",
        json={"vendor": "enterpret", "route": "fetch", "status": 503, "times": 2, "retry_after": 1},
    )
    assert armed.status_code == 201
    listed = control.get("/faults").json()["faults"]
    assert [(f["route"], f["status"], f["remaining"]) for f in listed] == [("fetch", 503, 2)]
    for _ in range(2):
        response = api.post(FETCH, json={"queryID": query_id})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    assert api.post(FETCH, json={"queryID": query_id}).status_code == 200
    assert control.get("/faults").json()["faults"] == []


def test_fault_fires_before_auth_and_only_on_its_route(
    server: SandboxServer, api: httpx.Client
) -> None:
    server.add_fault("enterpret", "submit", status=429, retry_after=7)
    response = httpx.post(server.base_url("enterpret") + SUBMIT, json={})
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert api.post(FETCH, json={"queryID": "async-none"}).status_code == 404


def test_cut_download_really_drops_the_connection_and_range_resumes(
    control: httpx.Client, file_urls: list[str]
) -> None:
    whole = download(file_urls[1])
    armed = control.post(
        "/faults",
        json={"vendor": "enterpret", "route": "file", "cut_after_bytes": 1000, "times": 1},
    )
    assert armed.status_code == 201
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", file_urls[1]) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(whole))
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == whole[:1000]
    resumed = httpx.get(file_urls[1], headers={"Range": f"bytes={len(received)}-"})
    assert resumed.status_code == 206
    assert bytes(received) + resumed.content == whole


def test_file_403_fault_looks_like_an_expired_url(
    server: SandboxServer, file_urls: list[str]
) -> None:
    server.add_fault("enterpret", "file", status=403)
    assert httpx.get(file_urls[0]).status_code == 403
    assert httpx.get(file_urls[0]).status_code == 200


def test_delay_fault_holds_the_request(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    control.post("/faults", json={"vendor": "enterpret", "route": "submit", "delay_seconds": 1.0})
    started = time.monotonic()
    submit(api, window_body(START, END))
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    submit(api, window_body(START, END))
    assert time.monotonic() - started < 1.0


def test_labels_route_fault_and_clearing(
    server: SandboxServer, control: httpx.Client, api: httpx.Client
) -> None:
    control.post(
        "/faults", json={"vendor": "enterpret", "route": "labels", "status": 500, "times": 5}
    )
    assert api.get("/export/external/v1/labels/x").status_code == 500
    assert control.delete("/faults").json() == {"faults": []}
    assert api.get("/export/external/v1/labels/x").status_code == 404


@pytest.mark.parametrize(
    "spec",
    [
        {"vendor": "nosuch", "route": "fetch", "status": 503},
        {"vendor": "enterpret", "route": "download", "status": 503},
        {"vendor": "enterpret", "route": "fetch", "cut_after_bytes": 10},
        {"vendor": "enterpret", "route": "fetch"},
        {"vendor": "enterpret", "route": "fetch", "status": 200},
        {"vendor": "enterpret", "route": "fetch", "status": 503, "times": 0},
        {"vendor": "enterpret", "route": "fetch", "status": 503, "colour": "red"},
        {"vendor": "enterpret", "route": "fetch", "retry_after": 3, "delay_seconds": 1},
    ],
)
def test_invalid_fault_is_a_400(control: httpx.Client, spec: dict[str, object]) -> None:
    response = control.post("/faults", json=spec)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert control.get("/faults").json()["faults"] == []
