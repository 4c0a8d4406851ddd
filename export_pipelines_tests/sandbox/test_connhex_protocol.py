"""The Connhex exporter simulator observed from the wire: create, status, jobs, download, auth,
the queue limit, listing."""

import io
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from export_pipelines.decisions import connhex as decisions
from export_pipelines.sandbox import SandboxServer, connhex
from export_pipelines.sandbox.connhex import ConnhexGenerator
from export_pipelines_tests.sandbox.connhex_helpers import (
    HOUR,
    T0,
    api_client,
    body,
    complete,
    control_client,
    create,
    csv_rows,
    download,
    export_rows,
    generator_of,
    item,
    start_server,
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """Jobs stay notProcessed until a test completes them: no test waits on a timer."""
    running = start_server(queued_seconds=1200, completion_delay_seconds=0)
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
        client.delete("/exports").raise_for_status()
        yield client
    server.clear_faults()


@pytest.fixture
def generator(control: httpx.Client) -> ConnhexGenerator:
    return generator_of(control)


def test_base_url_and_token(server: SandboxServer) -> None:
    assert server.base_url("connhex") == f"{server.url}/connhex"
    assert server.api_key("connhex") == "sandbox-connhex-token"


def test_one_time_export_runs_to_a_zip_of_long_csv(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = body([item(generator, 1, 0, **{"from": T0, "to": T0 + 2 * HOUR})])
    created = create(api, request)
    assert created["type"] == "oneTime"
    assert created["format"] == {"extension": "csv", "timezone": "utc", "template": "tabular"}
    assert created["items"][0]["params"]["outputFormat"] == "long"
    assert created["deletedAt"] is None and created["createdAt"].endswith("Z")
    assert created["status"] == "notProcessed"
    [job] = created["jobs"]
    assert job["itemIndex"] == 0 and job["status"] == "notProcessed"
    assert job["startedAt"] is None and job["completedAt"] is None

    not_yet = api.get(f"/exports/{created['id']}/download")
    assert not_yet.status_code == 400
    assert "notProcessed" in not_yet.json()["error"]["message"]

    complete(control, created["id"])
    status = api.get(f"/exports/{created['id']}/status").json()
    assert status["status"] == "done"
    assert [j["id"] for j in status["jobs"]] == [job["id"]]
    assert status["jobs"][0]["startedAt"] <= status["jobs"][0]["completedAt"]
    assert status["jobs"][0]["notificationStatus"] == "sent"
    again = api.get(f"/exports/{created['id']}").json()
    assert again["status"] == "done" and again["jobs"] == status["jobs"]

    members = download(api, created["id"])
    assert list(members) == ["export.csv"]
    rows = csv_rows(members["export.csv"])
    assert rows[0] == list(decisions.LONG_COLUMNS)
    publisher, channel = generator.publishers[1], generator.channels[0]
    frame = generator.frame([1], 0, range(4), T0, T0 + 2 * HOUR)
    expected = sorted(
        (
            publisher,
            channel,
            name,
            unit,
            datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            value,
        )
        for name, unit, t, value in zip(
            frame["name"], frame["unit"], frame["time"], frame["value"], strict=True
        )
    )
    got = sorted((r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows[1:])
    assert got == expected
    assert len(got) > 4 * 20  # 12 points an hour, a few gaps
    assert {row[2] for row in rows[1:]} == {"temperature", "humidity", "power", "energy"}
    assert {row[3] for row in rows[1:]} == {"°C", "%", "W", "kWh"}


def test_raw_points_come_in_arrival_order_not_time_order(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    _, rows = export_rows(api, control, body([item(generator, **{"from": T0, "to": T0 + 86_400})]))
    per_variable: dict[str, list[str]] = {}
    for row in rows[1:]:
        per_variable.setdefault(row[2], []).append(row[4])
    assert any(times != sorted(times) for times in per_variable.values())


def test_download_supports_range(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    created = create(api, body([item(generator, **{"from": T0, "to": T0 + 6 * HOUR})]))
    complete(control, created["id"])
    whole = api.get(f"/exports/{created['id']}/download").content
    part = api.get(f"/exports/{created['id']}/download", headers={"Range": "bytes=10-"})
    assert part.status_code == 206
    assert part.content == whole[10:]


def test_a_cut_download_is_an_incomplete_body(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    created = create(api, body([item(generator, **{"from": T0, "to": T0 + 6 * HOUR})]))
    complete(control, created["id"])
    server.add_fault("connhex", "download", cut_after_bytes=100)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(f"/exports/{created['id']}/download")
    assert zipfile.ZipFile(io.BytesIO(api.get(f"/exports/{created['id']}/download").content))


def test_member_names_follow_item_then_format_filename_with_index_on_clashes(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    window = {"from": T0, "to": T0 + HOUR}
    request = body(
        [
            item(generator, 0, **window, filename="kitchen"),
            item(generator, 1, **window),
            item(generator, 2, **window),
            item(generator, 0, 1, **window, filename="cellar"),
        ],
        fmt={"filename": "site", "extension": "xlsx"},
    )
    created = create(api, request)
    complete(control, created["id"])
    members = download(api, created["id"])
    assert list(members) == ["kitchen.xlsx", "site-1.xlsx", "site-2.xlsx", "cellar.xlsx"]
    job = created["jobs"][3]
    assert job["itemIndex"] == 3
    assert list(download(api, created["id"], job["id"])) == ["cellar.xlsx"]


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    for path in ("/exports/nope", "/exports/nope/status", "/exports/nope/download"):
        response = api.get(path)
        assert response.status_code == 404
        assert "nope" in response.json()["error"]["message"]


def test_download_of_another_requests_job_is_404(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    window = {"from": T0, "to": T0 + HOUR}
    first = create(api, body([item(generator, **window)]))
    second = create(api, body([item(generator, **window)]))
    complete(control, first["id"])
    complete(control, second["id"])
    response = api.get(
        f"/exports/{first['id']}/download", params={"jobId": second["jobs"][0]["id"]}
    )
    assert response.status_code == 404


def test_missing_or_wrong_token(server: SandboxServer) -> None:
    base = server.base_url("connhex")
    missing = httpx.get(f"{base}/exports")
    assert missing.status_code == 401
    assert "Bearer" in missing.json()["error"]["message"]
    basic = httpx.get(f"{base}/exports", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    wrong = httpx.get(f"{base}/exports", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.json() == {"error": {"message": "this token may not use the exporter"}}
    assert httpx.get(f"{base}/exports/x/download").status_code == 401


def test_queue_full_past_twenty_not_terminal_requests(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = body([item(generator, **{"from": T0, "to": T0 + HOUR})])
    ids = [create(api, request)["id"] for _ in range(decisions.MAX_QUEUED_EXPORTS)]
    refused = api.post("/exports", json=request)
    assert refused.status_code == 429
    assert refused.json() == {"error": {"message": decisions.QUEUE_FULL_MESSAGE}}
    listed = api.get("/exports", params={"pageSize": 100}).json()
    assert listed["total"] == decisions.MAX_QUEUED_EXPORTS
    complete(control, ids[0])
    assert api.post("/exports", json=request).status_code == 201


def test_a_fault_fails_a_job_and_the_request_is_failed(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    window = {"from": T0, "to": T0 + HOUR}
    assert control.post("/fail-next", json={"times": 1}).status_code == 201
    created = create(api, body([item(generator, **window), item(generator, 1, **window)]))
    summary = complete(control, created["id"])
    assert [job["status"] for job in summary["jobs"]] == ["failed", "done"]
    status = api.get(f"/exports/{created['id']}/status").json()
    assert status["status"] == "failed"
    refused = api.get(f"/exports/{created['id']}/download")
    assert refused.status_code == 400 and "failed" in refused.json()["error"]["message"]
    done_job = summary["jobs"][1]["id"]
    assert len(download(api, created["id"], done_job)) == 1


def test_a_standing_fault_fails_every_job_on_a_channel() -> None:
    probe = start_server()
    channel = probe.simulator(connhex.SANDBOX_VENDOR).generator.channels[1]
    probe.stop()
    running = start_server(
        fail_channels=frozenset({channel}), queued_seconds=0, completion_delay_seconds=0
    )
    try:
        with api_client(running) as api, control_client(running) as control:
            generator = generator_of(control)
            window = {"from": T0, "to": T0 + HOUR}
            created = create(
                api, body([item(generator, 0, 0, **window), item(generator, 0, 1, **window)])
            )
            deadline = time.monotonic() + 60
            while api.get(f"/exports/{created['id']}/status").json()["status"] != "failed":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            jobs = api.get(f"/exports/{created['id']}/status").json()["jobs"]
            while jobs[0]["status"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
                jobs = api.get(f"/exports/{created['id']}/status").json()["jobs"]
            assert [job["status"] for job in jobs] == ["done", "failed"]
    finally:
        running.stop()


def test_jobs_move_through_their_statuses_on_their_own() -> None:
    running = start_server(queued_seconds=0.3, completion_delay_seconds=0.5)
    try:
        with api_client(running) as api, control_client(running) as control:
            generator = generator_of(control)
            created = create(api, body([item(generator, **{"from": T0, "to": T0 + HOUR})]))
            seen = [created["jobs"][0]["status"]]
            deadline = time.monotonic() + 60
            while seen[-1] != "done":
                assert time.monotonic() < deadline, seen
                status = api.get(f"/exports/{created['id']}/status").json()["jobs"][0]["status"]
                if status != seen[-1]:
                    seen.append(status)
                time.sleep(0.02)
            assert seen == ["notProcessed", "inProgress", "done"]
    finally:
        running.stop()


def test_expired_jobs_cannot_be_downloaded(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    created = create(api, body([item(generator, **{"from": T0, "to": T0 + HOUR})]))
    complete(control, created["id"])
    assert control.post(f"/jobs/{created['jobs'][0]['id']}/expire").status_code == 200
    assert api.get(f"/exports/{created['id']}/status").json()["status"] == "expired"
    refused = api.get(f"/exports/{created['id']}/download")
    assert refused.status_code == 400 and "expired" in refused.json()["error"]["message"]


def test_list_filters_paging_and_sort(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    window = {"from": T0, "to": T0 + HOUR}
    one_time = [create(api, body([item(generator, **window)]))["id"] for _ in range(3)]
    recurring = create(
        api,
        body(
            [item(generator, period="PT1H")],
            type="recurring",
            periodicity="PT1H",
            periodStart=int(time.time()) + 86_400,
        ),
    )["id"]
    complete(control, one_time[0])

    def ids(**params: object) -> list[str]:
        response = api.get("/exports", params=params)
        assert response.status_code == 200, response.text
        return [result["id"] for result in response.json()["results"]]

    newest_first = ids()
    assert newest_first == [recurring, *reversed(one_time)]
    assert ids(sort="createdAt:asc") == [*one_time, recurring]
    assert ids(type="recurring") == [recurring]
    assert ids(**{"status[]": "done"}) == [one_time[0]]
    assert set(ids(**{"status[]": ["notProcessed"]})) == {*one_time[1:], recurring}
    assert ids(**{"ids[]": [one_time[1], recurring]}) == [recurring, one_time[1]]
    assert ids(sort="createdAt:asc", pageSize=2, page=1) == [one_time[2], recurring]
    assert ids(pageSize=2, page=5) == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert ids(to=future, sort="createdAt:asc") == [*one_time, recurring]
    assert ids(**{"from": future}) == []
    for bad in (
        {"status[]": "nope"},
        {"type": "weekly"},
        {"page": "-1"},
        {"sort": "id:up"},
        {"from": "yesterday"},
        {"tagLabels[]": "x"},
    ):
        refused = api.get("/exports", params=bad)
        assert refused.status_code == 400, bad
        assert next(iter(bad)) in refused.json()["error"]["message"]
