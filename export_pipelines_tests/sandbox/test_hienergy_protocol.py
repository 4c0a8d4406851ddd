"""The HiEnergy simulator observed from the wire: create, dedupe, auth, errors, states, chunking."""

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer, hienergy
from export_pipelines_tests.sandbox.hienergy_helpers import (
    api_client,
    as_csv,
    as_xlsx,
    complete,
    control_client,
    create,
    csv_rows,
    expected,
    files_of,
    get,
    parts,
    start_server,
    xlsx_rows,
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """Reports stay pending until a test releases or completes them: no test waits on a timer."""
    running = start_server(completion_delay_seconds=1200)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with control_client(server) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear_faults()


def test_base_url_is_the_documented_path_under_hienergy(server: SandboxServer) -> None:
    assert server.base_url("hienergy") == f"{server.url}/hienergy/api/v1"
    assert server.api_key("hienergy") == "sandbox-hienergy-key"


def test_create_is_201_then_409_while_in_flight_then_200_deduped_once_completed(
    api: httpx.Client, control: httpx.Client
) -> None:
    body = {
        "report_type": "advertisers_csv",
        "search_params": {"country": "GB", "status": "active"},
    }
    response = api.post("/exports", json=body)
    assert response.status_code == 201
    assert response.json()["deduped"] is False
    created = response.json()["export"]
    assert created["status"] == "pending" and created["report_type"] == "advertisers_csv"
    assert isinstance(created["id"], int)
    assert created["parameters"]["search_params"] == body["search_params"]
    assert created["status_url"].endswith(f"/hienergy/api/v1/exports/{created['id']}")

    # Same parameters in another key order: identical (canonical JSON), still in flight.
    again = {
        "search_params": {"status": "active", "country": "GB"},
        "report_type": "advertisers_csv",
    }
    conflict = api.post("/exports", json=again)
    assert conflict.status_code == 409
    assert set(conflict.json()) == {"export"}
    assert conflict.json()["export"]["id"] == created["id"]

    complete(control, created["id"])
    deduped = api.post("/exports", json=again)
    assert deduped.status_code == 200
    assert deduped.json()["deduped"] is True
    assert deduped.json()["export"]["id"] == created["id"]
    assert deduped.json()["export"]["status"] == "completed"

    # Different index_params (or search_params) is another report.
    other = create(api, {**body, "index_params": {"sort": "name"}})
    assert other["id"] != created["id"]


def test_dedupe_window_zero_never_reuses_a_completed_report() -> None:
    server = start_server(completion_delay_seconds=1200, dedupe_window_seconds=0)
    try:
        with api_client(server) as api, control_client(server) as control:
            first = create(api, {"report_type": "deals_excel"})
            complete(control, first["id"])
            second = api.post("/exports", json={"report_type": "deals_excel"})
            assert second.status_code == 201 and second.json()["deduped"] is False
            assert second.json()["export"]["id"] != first["id"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}],
)
def test_unauthenticated_is_401_with_the_error_envelope(
    server: SandboxServer, headers: dict[str, str]
) -> None:
    with (
        api_client(server, **headers)
        if headers
        else httpx.Client(base_url=server.base_url("hienergy")) as client
    ):
        for response in (
            client.post("/exports", json={"report_type": "deals_excel"}),
            client.get("/exports"),
            client.get("/exports/4101"),
        ):
            assert response.status_code == 401
            error = response.json()["error"]
            assert set(error) == {"code", "message", "request_id", "details"}
            assert error["code"] == "unauthorized" and "X-Api-Key" in error["message"]
            assert error["request_id"] == response.headers["x-request-id"]
            assert "sandbox-hienergy-key" not in response.text


def test_bearer_and_the_legacy_query_parameter_authenticate(server: SandboxServer) -> None:
    key = server.api_key("hienergy")
    with api_client(server, Authorization=f"Bearer {key}") as bearer:
        assert bearer.get("/exports").status_code == 200
    with httpx.Client(base_url=server.base_url("hienergy")) as plain:
        assert plain.get("/exports", params={"api_key": key}).status_code == 200


def _export_ids(api: httpx.Client) -> list[int]:
    return [export["id"] for export in api.get("/exports", params={"limit": 100}).json()["exports"]]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"report_type": "payouts_csv"}, "report_type", "unknown report_type 'payouts_csv'"),
        ({}, "report_type", "report_type is required"),
        ({"report_type": "deals_excel", "search_params": []}, "search_params", "must be an object"),
        ({"report_type": "deals_excel", "colour": 1}, "colour", "unknown field"),
        (
            {"report_type": "deals_excel", "search_params": {"countrie": "US"}},
            "search_params.countrie",
            "is not a filter of deals_excel",
        ),
        (
            {"report_type": "clicks_details_excel", "search_params": {"start_date": "2024-13-01"}},
            "search_params.start_date",
            "not an ISO date",
        ),
        (
            {
                "report_type": "clicks_details_excel",
                "search_params": {"start_date": "2024-02-01", "end_date": "2024-02-01"},
            },
            "search_params.end_date",
            "after start_date",
        ),
        (
            {"report_type": "advertisers_csv", "search_params": {"min_epc": "high"}},
            "search_params.min_epc",
            "must be a number",
        ),
    ],
)
def test_bad_create_is_400_naming_the_field(
    api: httpx.Client, body: dict[str, object], field: str, words: str
) -> None:
    before = _export_ids(api)
    response = api.post("/exports", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["details"]["field"] == field
    assert words in error["message"]
    # Nothing was created (the earlier tests' exports go on completing meanwhile: ids only).
    assert _export_ids(api) == before


def test_invalid_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/exports", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_unknown_report_is_404_with_the_envelope(api: httpx.Client) -> None:
    for report_id in ("999999", "abc"):
        response = api.get(f"/exports/{report_id}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert report_id in response.json()["error"]["message"]


def test_no_cancel_or_delete(api: httpx.Client) -> None:
    report = create(api, {"report_type": "hot_advertisers_excel", "search_params": {"q": "lab"}})
    assert api.delete(f"/exports/{report['id']}").status_code == 405


def test_list_is_newest_first_top_level_with_limit(
    api: httpx.Client, control: httpx.Client
) -> None:
    ids = [
        create(api, {"report_type": "deals_excel", "search_params": {"advertiser_id": 1000 + n}})[
            "id"
        ]
        for n in range(3)
    ]
    listed = api.get("/exports", params={"limit": 2}).json()["exports"]
    assert [export["id"] for export in listed] == ids[::-1][:2]
    default = api.get("/exports").json()["exports"]
    assert len(default) <= 25
    assert all(export["parent_report_id"] is None for export in default)
    for bad in ("0", "101", "x"):
        response = api.get("/exports", params={"limit": bad})
        assert response.status_code == 400
        assert response.json()["error"]["details"]["field"] == "limit"


def test_states_under_control_pending_processing_completed(
    api: httpx.Client, control: httpx.Client
) -> None:
    # 300 advertisers, 40 rows per part: chunked into 8 parts.
    report = create(api, {"report_type": "advertisers_csv"})
    assert get(api, report["id"])["status"] == "pending"
    assert get(api, report["id"])["started_at"] is None

    released = control.post(f"/reports/{report['id']}/release", params={"parts": 1})
    assert released.status_code == 200, released.text
    processing = get(api, report["id"])
    assert processing["status"] == "processing"
    assert processing["started_at"] is not None and processing["completed_at"] is None
    assert processing["chunked_export"] is True
    assert processing["progress"] == {"parts_ready": 1, "total_parts": 8}
    assert processing["download_url"] is None

    complete(control, report["id"])
    done = get(api, report["id"])
    assert done["status"] == "completed" and done["status_display"] == "Completed"
    assert done["completed_at"] >= done["started_at"] >= done["created_at"]
    assert done["progress"] == {"parts_ready": 8, "total_parts": 8}


def test_chunked_export_progress_grows_and_parts_are_child_reports(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    search = {"network": ["Awin", "Impact", "CJ Affiliate"]}
    report = create(api, {"report_type": "deals_excel", "search_params": search})
    rows = list(expected(server, "deals_excel", search))
    total = -(-len(rows) // 40)
    assert total >= 3, len(rows)

    seen = []
    for ready in range(1, total):
        control.post(f"/reports/{report['id']}/release", params={"parts": 1}).raise_for_status()
        parent = get(api, report["id"])
        seen.append(parent["progress"]["parts_ready"])
        assert parent["status"] == "processing"
        assert parent["progress"]["total_parts"] == total
        assert parent["filename"] is None and parent["download_url"] is None
        listed = parts(api, report["id"])
        assert len(listed) == total
        assert [p["status"] for p in listed][:ready] == ["completed"] * ready
        assert all(p["status"] == "pending" for p in listed[ready + 1 :])
    assert seen == list(range(1, total))

    complete(control, report["id"])
    assert get(api, report["id"])["status"] == "completed"
    children = parts(api, report["id"])
    assert [child["parent_report_id"] for child in children] == [report["id"]] * total
    assert all(child["report_type"] == "deals_excel" for child in children)
    assert all(child["chunked_export"] is False for child in children)
    assert [child["display_name"] for child in children][
        -1
    ] == f"Deals (Excel), part {total} of {total}"
    assert all(child["download_expires_in_seconds"] == 900 for child in children)
    assert all(child["filename"].endswith(".xlsx") for child in children)
    # Every part holds at most rows_per_part rows; together they are the report, in order.
    contents = [xlsx_rows(content) for content in files_of(api, report["id"])]
    assert all(len(part) <= 40 for part in contents)
    assert [row["id"] for part in contents for row in part] == [float(r["id"]) for r in rows]
    # Unfiltered listing shows no parts.
    top = api.get("/exports", params={"limit": 100}).json()["exports"]
    assert not {child["id"] for child in children} & {export["id"] for export in top}


def test_download_urls_are_presigned_and_served_with_range(
    api: httpx.Client, control: httpx.Client
) -> None:
    report = create(api, {"report_type": "advertisers_csv", "search_params": {"country": "JP"}})
    complete(control, report["id"])
    export = get(api, report["id"])
    assert export["chunked_export"] is False and export["progress"] is None
    url = export["download_url"]
    assert set(parse_qs(urlsplit(url).query)) == {"expires", "signature"}
    whole = httpx.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("text/csv")
    assert whole.headers["accept-ranges"] == "bytes"
    assert export["filename"] in whole.headers["content-disposition"]
    ranged = httpx.get(url, headers={"Range": "bytes=10-99"})
    assert ranged.status_code == 206 and ranged.content == whole.content[10:100]
    assert httpx.get(url.split("?")[0]).status_code == 403
    tampered = url.replace(f"/files/{report['id']}/", f"/files/{report['id'] + 1}/")
    assert httpx.get(tampered).status_code == 403


def test_part_urls_expire_and_a_later_get_hands_out_fresh_ones() -> None:
    server = start_server(completion_delay_seconds=1200, download_expires_in_seconds=3)
    try:
        with api_client(server) as api, control_client(server) as control:
            report = create(api, {"report_type": "advertisers_csv"})
            complete(control, report["id"])
            first = parts(api, report["id"])[0]
            assert first["download_expires_in_seconds"] == 3
            simulated = server.simulator(hienergy.SANDBOX_VENDOR).file_of(
                first["id"], first["filename"]
            )
            assert simulated is not None
            content = simulated.read_bytes()
            expires = int(parse_qs(urlsplit(first["download_url"]).query)["expires"][0])
            while time.time() < expires:
                time.sleep(0.1)
            expired = httpx.get(first["download_url"])
            assert expired.status_code == 403 and b"expired" in expired.content
            fresh = get(api, first["id"])["download_url"]
            assert fresh != first["download_url"]
            assert httpx.get(fresh).content == content
    finally:
        server.stop()


def test_csv_contents_equal_the_generator_rows(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    search = {"min_commission_rate": 5, "start_date": "2024-01-15", "end_date": "2024-03-01"}
    report = create(api, {"report_type": "advertisers_csv", "search_params": search})
    complete(control, report["id"])
    rows = [row for content in files_of(api, report["id"]) for row in csv_rows(content)]
    wanted = [as_csv(row) for row in expected(server, "advertisers_csv", search)]
    assert rows == wanted and len(rows) > 40
    assert list(rows[0]) == [name for name, _ in hienergy.COLUMNS["advertisers_csv"]]


@pytest.mark.parametrize(
    ("report_type", "search"),
    [
        ("deals_excel", {"deal_type": ["coupon", "bogo"]}),
        ("hot_advertisers_excel", {}),
        (
            "clicks_details_excel",
            {"start_date": "2024-02-10", "end_date": "2024-02-12T12:00:00Z", "device": "mobile"},
        ),
    ],
)
def test_xlsx_contents_equal_the_generator_rows(
    server: SandboxServer,
    api: httpx.Client,
    control: httpx.Client,
    report_type: str,
    search: dict[str, object],
) -> None:
    report = create(api, {"report_type": report_type, "search_params": search})
    complete(control, report["id"])
    rows = [row for content in files_of(api, report["id"]) for row in xlsx_rows(content)]
    wanted = [as_xlsx(row) for row in expected(server, report_type, search)]
    assert rows == wanted
    assert len(rows) >= 5


def test_failures_by_control_by_fail_next_and_by_report_type(
    api: httpx.Client, control: httpx.Client
) -> None:
    armed = control.post(
        "/fail-next", json={"message": "quota exceeded", "report_type": "deals_excel"}
    )
    assert armed.status_code == 200
    untouched = create(api, {"report_type": "advertisers_csv", "search_params": {"country": "FR"}})
    doomed = create(api, {"report_type": "deals_excel", "search_params": {"currency": "EUR"}})
    control.post(f"/reports/{doomed['id']}/release").raise_for_status()
    failed = get(api, doomed["id"])
    assert failed["status"] == "failed" and failed["error_message"] == "quota exceeded"
    assert failed["download_url"] is None
    complete(control, untouched["id"])
    assert get(api, untouched["id"])["status"] == "completed"

    running = create(
        api, {"report_type": "clicks_details_excel", "search_params": {"sub_id": "pub-007"}}
    )
    response = control.post(f"/reports/{running['id']}/fail", json={"message": "upstream timeout"})
    assert response.status_code == 200
    assert get(api, running["id"])["error_message"] == "upstream timeout"
    # A failed report is never a dedupe answer: the same request makes a new one.
    retried = create(
        api, {"report_type": "clicks_details_excel", "search_params": {"sub_id": "pub-007"}}
    )
    assert retried["id"] != running["id"]
    assert control.post(f"/reports/{running['id']}/complete").status_code == 409
    assert control.post("/reports/999999/fail").status_code == 404

    server = start_server(completion_delay_seconds=0, fail_report_types=["hot_advertisers_excel"])
    try:
        with api_client(server) as other:
            report = create(other, {"report_type": "hot_advertisers_excel"})
            simulated = server.simulator(hienergy.SANDBOX_VENDOR).get(report["id"])
            assert simulated is not None and simulated.finished.wait(30)
            failed = get(other, report["id"])
            assert failed["status"] == "failed"
            assert "hot_advertisers_excel" in failed["error_message"]
    finally:
        server.stop()


def test_reports_complete_by_themselves_after_the_delay() -> None:
    server = start_server(completion_delay_seconds=0.4, part_delay_seconds=0.05)
    try:
        with api_client(server) as api:
            report = create(
                api, {"report_type": "advertisers_csv", "search_params": {"country": "US"}}
            )
            statuses = [report["status"]]
            progress = []
            deadline = time.monotonic() + 60
            while statuses[-1] not in ("completed", "failed") and time.monotonic() < deadline:
                export = get(api, report["id"])
                if export["status"] != statuses[-1]:
                    statuses.append(export["status"])
                if export["progress"]:
                    progress.append(export["progress"]["parts_ready"])
                time.sleep(0.02)
            assert statuses[0] == "pending" and statuses[-1] == "completed"
            assert statuses in (["pending", "processing", "completed"], ["pending", "completed"])
            assert progress == sorted(progress)
    finally:
        server.stop()


def test_rate_limit_headers_count_down_then_429_with_reset() -> None:
    server = start_server(rate_limit=3)
    try:
        with api_client(server) as api, control_client(server) as control:
            remaining = []
            for _ in range(3):
                response = api.get("/exports")
                assert response.status_code == 200
                assert response.headers["x-ratelimit-limit"] == "3"
                remaining.append(int(response.headers["x-ratelimit-remaining"]))
            assert remaining == [2, 1, 0]
            reset = int(response.headers["x-ratelimit-reset"])
            assert reset > time.time()
            limited = api.post("/exports", json={"report_type": "deals_excel"})
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "rate_limited"
            assert limited.json()["error"]["details"]["reset_at"] == reset
            assert 1 <= int(limited.headers["retry-after"]) <= 3600
            assert limited.headers["x-ratelimit-remaining"] == "0"
            assert server.simulator(hienergy.SANDBOX_VENDOR).reports() == []
            control.post("/rate-limit/reset").raise_for_status()
            assert api.get("/exports").status_code == 200
    finally:
        server.stop()


def test_faults_on_create_status_list_and_file(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    for route in ("create", "status", "list"):
        server.add_fault("hienergy", route, status=503, retry_after=2)
    assert api.post("/exports", json={"report_type": "deals_excel"}).status_code == 503
    assert api.get("/exports/4101").status_code == 503
    listed = api.get("/exports")
    assert listed.status_code == 503 and listed.headers["retry-after"] == "2"

    simulator = server.simulator(hienergy.SANDBOX_VENDOR)
    before = len(simulator.reports())
    server.add_fault("hienergy", "create", status=504, after_processing=True)
    body = {"report_type": "advertisers_csv", "search_params": {"category": "Pets"}}
    assert api.post("/exports", json=body).status_code == 504
    assert len(simulator.reports()) == before + 1
    report = create(api, body, status=409)

    complete(control, report["id"])
    url = get(api, report["id"])["download_url"]
    whole = httpx.get(url).content
    control_root = str(control.base_url).split("/hienergy")[0]
    armed = httpx.post(
        f"{control_root}/faults",
        json={"vendor": "hienergy", "route": "file", "cut_after_bytes": 100},
    )
    assert armed.status_code == 201
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url) as response:
        for chunk in response.iter_bytes():
            received += chunk
    assert bytes(received) == whole[:100]
    rest = httpx.get(url, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206 and bytes(received) + rest.content == whole


def test_a_report_matching_nothing_is_one_file_with_only_the_header(
    api: httpx.Client, control: httpx.Client
) -> None:
    search = {"advertiser_id": 1}  # ids start at 1000
    report = create(api, {"report_type": "advertisers_csv", "search_params": search})
    complete(control, report["id"])
    export = get(api, report["id"])
    assert export["chunked_export"] is False and export["progress"] is None
    (content,) = files_of(api, report["id"])
    header = ",".join(name for name, _ in hienergy.COLUMNS["advertisers_csv"])
    assert content.decode() == header + "\r\n"
    assert control.get(f"/reports/{report['id']}").json()["row_count"] == 0
