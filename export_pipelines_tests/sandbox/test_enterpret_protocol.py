"""The Enterpret export protocol over real HTTP: lifecycle, files, windows, page sizes, errors."""

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from dateutil.relativedelta import relativedelta

from export_pipelines.sandbox import EnterpretSandboxConfig, SandboxConfig, SandboxServer
from export_pipelines_tests.sandbox.conftest import (
    FETCH,
    LABELS,
    SUBMIT,
    complete,
    download,
    export,
    fetch,
    submit,
    window_body,
)

JAN_2024 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
FEB_2024 = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp())
MAR_2024 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())


def test_lifecycle_running_shapes_then_files_matching_the_dataset(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    query_id = submit(api, window_body(JAN_2024, MAR_2024, page_size=100))

    running = [fetch(api, query_id) for _ in range(4)]
    # Both documented "in progress" shapes (N-2).
    assert {} in running
    assert {"isCompleted": False} in running

    job = complete(control, query_id)
    answer = fetch(api, query_id)
    assert set(answer) == {"isCompleted", "responseFiles"}
    assert answer["isCompleted"] is True

    expected = list(server.enterpret.dataset.records(JAN_2024, MAR_2024))
    assert len(expected) > 500
    files = [json.loads(download(url)) for url in answer["responseFiles"]]
    assert len(files) == math.ceil(len(expected) / 100) == job["file_count"]
    assert job["record_count"] == len(expected)
    assert all(set(document) == {"records"} for document in files)
    assert [len(document["records"]) for document in files[:-1]] == [100] * (len(files) - 1)
    for n, document in enumerate(files):
        assert document["records"] == expected[n * 100 : (n + 1) * 100]
    timestamps = [int(r["sourceTimestamp"]) for document in files for r in document["records"]]
    assert timestamps == sorted(timestamps)
    assert timestamps[0] >= JAN_2024 and timestamps[-1] < MAR_2024


def test_the_job_completes_by_itself_after_the_delay() -> None:
    config = SandboxConfig(
        port=0, enterpret=EnterpretSandboxConfig(record_count=1000, completion_delay_seconds=0.5)
    )
    with SandboxServer(config) as server:
        headers = {"Authorization": f"Bearer {server.api_key('enterpret')}"}
        with httpx.Client(base_url=server.base_url("enterpret"), headers=headers) as api:
            started = time.monotonic()
            query_id = submit(
                api,
                {
                    "listRecords": {
                        "timerange": {"relative": {"unit": "Year", "value": 5}},
                        "pageSize": 5000,
                    }
                },
            )
            answers = []
            while not (answer := fetch(api, query_id)).get("isCompleted"):
                answers.append(answer)
                assert time.monotonic() - started < 10
                time.sleep(0.05)
            assert time.monotonic() - started >= 0.5
            assert answers and all(a in ({}, {"isCompleted": False}) for a in answers)
            job = server.enterpret.job(query_id)
            assert job is not None
            records = json.loads(download(answer["responseFiles"][0]))["records"]
            assert len(records) == job.record_count
            assert records == list(
                server.enterpret.dataset.records(job.request.window_start, job.request.window_end)
            )


@pytest.mark.parametrize(
    ("placement", "value"),
    [("top", 250), ("top", "250"), ("listRecords", 250), ("listRecords", "250"), ("both", 250)],
)
def test_page_size_top_level_or_in_list_records_int_or_string(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, placement: str, value: Any
) -> None:
    list_records: dict[str, Any] = {"timerange": {"startTime": str(JAN_2024), "endTime": FEB_2024}}
    body: dict[str, Any] = {"listRecords": list_records}
    if placement in ("top", "both"):
        body["pageSize"] = value
    if placement in ("listRecords", "both"):
        list_records["pageSize"] = value
    files = export(api, control, body)
    expected = list(server.enterpret.dataset.records(JAN_2024, FEB_2024))
    assert len(files) == math.ceil(len(expected) / 250)
    assert [len(records) for records in files[:-1]] == [250] * (len(files) - 1)
    assert [r for records in files for r in records] == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"listRecords": {"timerange": {"startTime": 1, "endTime": 2}}}, "pageSize"),
        (window_body(JAN_2024, FEB_2024, page_size=0), "positive"),
        (window_body(JAN_2024, FEB_2024, page_size=-5), "positive"),
        (window_body(JAN_2024, FEB_2024, page_size="abc"), "pageSize"),
        (window_body(JAN_2024, FEB_2024, page_size=1.5), "pageSize"),
        (window_body(JAN_2024, FEB_2024, page_size=True), "pageSize"),
        (window_body(JAN_2024, FEB_2024, page_size=10, pageSize=20), "different"),
        ({"pageSize": 10}, "listRecords"),
        ({"listRecords": {}, "pageSize": 10}, "timerange"),
        ({"listRecords": {"timerange": {}}, "pageSize": 10}, "timerange"),
        ({"listRecords": {"timerange": {"startTime": 1}}, "pageSize": 10}, "endTime"),
        ({"listRecords": {"timerange": {"startTime": 5, "endTime": 1}}, "pageSize": 10}, "after"),
        (
            {
                "listRecords": {
                    "timerange": {
                        "startTime": 1,
                        "endTime": 2,
                        "relative": {"value": 1, "unit": "Day"},
                    }
                },
                "pageSize": 10,
            },
            "not both",
        ),
        (
            {
                "listRecords": {"timerange": {"relative": {"value": 1, "unit": "Days"}}},
                "pageSize": 1,
            },
            "unit",
        ),
        (
            {
                "listRecords": {"timerange": {"relative": {"value": 1, "unit": "day"}}},
                "pageSize": 1,
            },
            "unit",
        ),
        (
            {
                "listRecords": {"timerange": {"relative": {"value": "x", "unit": "Day"}}},
                "pageSize": 1,
            },
            "value",
        ),
        (
            {
                "listRecords": {"timerange": {"relative": {"value": 0, "unit": "Day"}}},
                "pageSize": 1,
            },
            "value",
        ),
        ({"listRecords": {"timerange": {"relative": {"unit": "Day"}}}, "pageSize": 1}, "value"),
        (
            {"listRecords": {"timeRange": {"startTime": 1, "endTime": 2}}, "pageSize": 1},
            "timeRange",
        ),
        (
            {"listRecords": {"timerange": {"startTime": "soon", "endTime": 2}}, "pageSize": 1},
            "startTime",
        ),
        ([1, 2, 3], "object"),
    ],
)
def test_malformed_submit_is_a_400_with_a_message(
    api: httpx.Client, body: Any, message: str
) -> None:
    response = api.post(SUBMIT, json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_malformed_json_is_a_400(api: httpx.Client) -> None:
    response = api.post(SUBMIT, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_absolute_window_start_inclusive_end_exclusive(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    dataset = server.enterpret.dataset
    start, end = dataset.timestamp(1000), dataset.timestamp(1137)
    records = [r for f in export(api, control, window_body(start, end, page_size=1000)) for r in f]
    assert len(records) == 137
    assert records[0]["sourceTimestamp"] == str(start)
    assert records[-1]["sourceTimestamp"] == str(dataset.timestamp(1136))
    assert records == [dataset.record(i) for i in range(1000, 1137)]


@pytest.mark.parametrize(
    ("unit", "value"),
    [("Hour", 30), ("Day", "30"), ("Week", 2), ("Month", "2"), ("Month", 13), ("Year", 1)],
)
def test_relative_window_anchored_at_submit_time(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, unit: str, value: Any
) -> None:
    before = int(time.time())
    query_id = submit(
        api,
        {
            "listRecords": {"timerange": {"relative": {"unit": unit, "value": value}}},
            "pageSize": 5000,
        },
    )
    after = int(time.time())
    job = control.get(f"/enterpret/jobs/{query_id}").json()
    end = job["window_end"]
    assert before <= end <= after
    delta = {
        "Hour": relativedelta(hours=int(value)),
        "Day": relativedelta(days=int(value)),
        "Week": relativedelta(weeks=int(value)),
        "Month": relativedelta(months=int(value)),  # calendar months, day clamped (N-4)
        "Year": relativedelta(years=int(value)),
    }[unit]
    expected_start = datetime.fromtimestamp(end, UTC) - delta
    assert job["window_start"] == int(expected_start.timestamp())
    assert job["request"]["listRecords"]["timerange"] == {
        "relative": {"unit": unit, "value": int(value)}
    }
    complete(control, query_id)
    answer = fetch(api, query_id)
    records = [r for url in answer["responseFiles"] for r in json.loads(download(url))["records"]]
    assert records == list(server.enterpret.dataset.records(job["window_start"], end))
    assert len(records) > 0


def test_zero_matching_records_complete_with_no_files(
    api: httpx.Client, control: httpx.Client
) -> None:
    query_id = submit(api, window_body(JAN_2024 - 86400, JAN_2024))
    job = complete(control, query_id)
    assert fetch(api, query_id) == {"isCompleted": True, "responseFiles": []}
    assert job["record_count"] == 0 and job["file_count"] == 0


def test_unknown_query_id_is_404(api: httpx.Client) -> None:
    response = api.post(FETCH, json={"queryID": "async-nosuch"})
    assert response.status_code == 404
    assert "async-nosuch" in response.json()["error"]
    assert api.post(FETCH, json={}).status_code == 400


def test_failed_job_reports_the_error_and_no_files(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    query_id = submit(api, window_body(JAN_2024, FEB_2024))
    response = control.post(f"/enterpret/jobs/{query_id}/fail", json={"message": "quota exceeded"})
    assert response.status_code == 200
    assert response.json()["state"] == "failed"
    assert fetch(api, query_id) == {"isCompleted": True, "error": "quota exceeded"}
    assert control.post(f"/enterpret/jobs/{query_id}/complete").status_code == 409

    # The Python API does the same, here on an already completed job.
    other = submit(api, window_body(JAN_2024, FEB_2024))
    complete(control, other)
    urls = fetch(api, other)["responseFiles"]
    server.enterpret.fail(other)
    answer = fetch(api, other)
    assert answer["isCompleted"] is True and answer["error"] and "responseFiles" not in answer
    assert httpx.get(urls[0]).status_code == 404


def test_unauthorized_without_or_with_a_wrong_key(server: SandboxServer) -> None:
    base = server.base_url("enterpret")
    body = window_body(JAN_2024, FEB_2024)
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": server.api_key("enterpret")},  # no scheme
        {"api-key": "wrong"},
    ):
        for method, path, payload in (
            ("POST", SUBMIT, body),
            ("POST", FETCH, {"queryID": "async-x"}),
            ("GET", f"{LABELS}/whatever", None),
        ):
            response = httpx.request(method, base + path, json=payload, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert response.json() == {"error": "unauthorized"}


def test_legacy_api_key_header_and_legacy_paths(
    server: SandboxServer, control: httpx.Client
) -> None:
    base = server.base_url("enterpret")
    headers = {"api-key": server.api_key("enterpret")}
    submitted = httpx.post(
        f"{base}/external/v1/async/submit", json=window_body(JAN_2024, FEB_2024), headers=headers
    )
    assert submitted.status_code == 200
    query_id = submitted.json()["queryID"]
    complete(control, query_id)
    fetched = httpx.post(
        f"{base}/external/v1/async/fetch", json={"queryID": query_id}, headers=headers
    )
    assert fetched.status_code == 200 and fetched.json()["isCompleted"] is True
    label_id = next(iter(server.enterpret.dataset.labels.by_id))
    label = httpx.get(f"{base}/external/v1/labels/{label_id}", headers=headers)
    assert label.status_code == 200 and label.json()["label"]["id"] == label_id


def test_labels_of_every_prediction_resolve(server: SandboxServer, api: httpx.Client) -> None:
    dataset = server.enterpret.dataset
    referenced: dict[str, str] = {}
    for record in dataset.records(JAN_2024, FEB_2024):
        for prediction in record.get("predictions", []):
            kind = next(k for k in ("sentiment", "reason", "aspect") if k in prediction)
            referenced[prediction["labelID"]] = kind
    assert set(referenced.values()) == {"sentiment", "reason", "aspect"}
    for label_id, kind in referenced.items():
        response = api.get(f"{LABELS}/{label_id}")
        assert response.status_code == 200
        label = response.json()["label"]
        assert label["id"] == label_id
        assert {
            "id",
            "displayName",
            "type",
            "description",
            "createdAt",
            "isVisible",
            "metadata",
        } <= set(label)
        assert label["createdAt"].isdigit()
        assert isinstance(label["isVisible"], bool)
        if kind == "reason":
            assert label["type"] == "REASON"
            reason = label["metadata"]["reason"]
            assert reason["sentiment"] in ("POSITIVE", "NEGATIVE", "NEUTRAL")
            assert reason["representativeSentences"] and reason["type"]
    missing = api.get(f"{LABELS}/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "error" in missing.json()


def test_jobs_are_listed_with_their_window_and_request(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    query_id = submit(api, window_body(str(JAN_2024), str(FEB_2024), page_size="50"))
    jobs = {job["queryID"]: job for job in control.get("/enterpret/jobs").json()["jobs"]}
    job = jobs[query_id]
    assert job["state"] == "running"
    assert (job["window_start"], job["window_end"], job["page_size"]) == (JAN_2024, FEB_2024, 50)
    assert job["request"] == {
        "listRecords": {"timerange": {"startTime": JAN_2024, "endTime": FEB_2024}},
        "pageSize": 50,
    }
    assert job["record_count"] is None and job["file_count"] is None
    assert server.enterpret.job(query_id) is not None
    assert control.get("/enterpret/jobs/async-nosuch").status_code == 404
    assert control.post("/enterpret/jobs/async-nosuch/complete").status_code == 404
    assert control.post("/enterpret/jobs/async-nosuch/fail").status_code == 404


def test_vendors_endpoint_gives_base_url_and_key(server: SandboxServer) -> None:
    vendors = httpx.get(f"{server.url}/_sandbox/vendors").json()
    assert vendors["enterpret"] == {
        "base_url": server.base_url("enterpret"),
        "api_key": server.api_key("enterpret"),
    }
