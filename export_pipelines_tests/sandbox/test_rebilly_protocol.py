"""The Rebilly data-exports protocol over real HTTP: lifecycle, links, paging, PUT/DELETE, errors."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from export_pipelines.sandbox import SandboxConfig, SandboxServer
from export_pipelines.sandbox.cli import vendor_sections
from export_pipelines.sandbox.rebilly import SANDBOX_VENDOR, RebillySandboxConfig
from export_pipelines_tests.sandbox.test_rebilly_support import (
    KEY_HEADER,
    api,
    complete,
    control,
    create,
    get,
    links,
    rebilly_config,
    server,
    simulator,
)

__all__ = ["api", "control", "server"]

WINDOW = {"start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z"}


def csv_export(**extra: object) -> dict[str, object]:
    return {
        "name": "test export",
        "resource": "transactions",
        "format": "csv",
        "dateRange": WINDOW,
        **extra,
    }


def test_create_answers_201_with_location_and_the_echoed_request(
    server: SandboxServer, api: httpx.Client
) -> None:
    body = csv_export(
        name="daily transactions",
        arguments={"filter": "currency:USD", "sort": "-amount", "q": "smith"},
        fields=["id", "amount", "currency"],
        emailNotification=["ops@example.com"],
        recurring={"instruction": "RRULE:FREQ=DAILY"},
    )
    response = api.post("/data-exports", json=body)
    assert response.status_code == 201, response.text
    export = response.json()
    assert (
        response.headers["Location"] == f"{server.base_url('rebilly')}/data-exports/{export['id']}"
    )
    for key in ("name", "resource", "format", "arguments", "fields", "emailNotification"):
        assert export[key] == body[key]
    assert export["recurring"] == {"instruction": "RRULE:FREQ=DAILY"}
    assert export["dateRange"] == {**WINDOW, "field": "processedTime"}
    assert export["status"] == "queued"
    assert "recordCount" not in export and "fileId" not in export
    assert export["failureReason"] is None
    # Only self and user until completed.
    assert set(links(export)) == {"self", "user"}
    assert links(export)["self"] == response.headers["Location"]
    assert response.headers["X-RateLimit-Limit"] == "3000"
    assert get(api, export["id"]) == export


def test_the_status_sequence_and_links_once_completed(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    export = create(api, **csv_export(scheduledTime=later.isoformat()))
    seen = [export["status"]]
    assert export["scheduledTime"] == later.strftime("%Y-%m-%dT%H:%M:%SZ")
    for _ in range(3):
        assert set(links(get(api, export["id"]))) == {"self", "user"}
        response = control.post(f"/exports/{export['id']}/advance")
        assert response.status_code == 200, response.text
        seen.append(get(api, export["id"])["status"])
    assert seen == ["pending", "queued", "processing", "completed"]
    done = get(api, export["id"], expand="file,user")
    assert set(links(done)) == {"self", "user", "download", "signedLink"}
    assert links(done)["download"] == (
        f"{server.base_url('rebilly')}/files/{done['fileId']}/download"
    )
    summary = control.get(f"/exports/{export['id']}").json()
    assert done["recordCount"] == summary["record_count"] > 0
    assert done["_embedded"]["file"]["id"] == done["fileId"]
    assert done["_embedded"]["file"]["mime"] == "text/csv"
    assert done["_embedded"]["user"]["id"] == done["userId"]
    # A completed export has no next status.
    assert control.post(f"/exports/{export['id']}/advance").status_code == 409


def test_the_download_needs_the_key_and_the_signed_link_does_not(
    api: httpx.Client, control: httpx.Client
) -> None:
    export = create(api, **csv_export())
    complete(control, export["id"])
    done = get(api, export["id"])
    download, signed = links(done)["download"], links(done)["signedLink"]
    with_key = api.get(download)
    assert with_key.status_code == 200
    assert with_key.headers["content-type"].startswith("text/csv")
    assert httpx.get(download).status_code == 401
    assert httpx.get(signed).content == with_key.content
    tampered = signed.replace("expires=", "expires=1")
    refused = httpx.get(tampered)
    assert refused.status_code == 403
    assert "bad signature" in refused.json()["detail"]
    ranged = httpx.get(signed, headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.content == with_key.content[10:20]


def test_the_signed_link_expires_after_its_lifetime() -> None:
    """Validity of a fresh link is tested above with the default hour; a 1 s link would race a
    loaded machine, so here only its lifetime and its refusal after it are checked."""
    with SandboxServer(rebilly_config(signed_link_ttl_seconds=1)) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client:
            export = create(client, **csv_export())
            simulator(running).complete(export["id"], timeout=60)
            before = int(time.time())
            signed = links(get(client, export["id"]))["signedLink"]
            after = int(time.time())
            expires = int(httpx.URL(signed).params["expires"])
            assert before + 1 <= expires <= after + 1
            while time.time() < expires:
                time.sleep(0.2)
            expired = httpx.get(signed)
            assert expired.status_code == 403
            assert expired.json()["detail"] == "signed link refused: url expired"
            # A new GET signs a fresh link, valid from now.
            fresh = links(get(client, export["id"]))["signedLink"]
            assert int(httpx.URL(fresh).params["expires"]) > expires


def test_put_changes_a_pending_export_and_is_refused_after(
    api: httpx.Client, control: httpx.Client
) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    export = create(api, **csv_export(scheduledTime=later))
    assert export["status"] == "pending"
    changed = api.put(
        f"/data-exports/{export['id']}",
        json=csv_export(name="renamed", format="json", scheduledTime=later),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "renamed"
    assert changed.json()["format"] == "json"
    assert get(api, export["id"])["format"] == "json"

    control.post(f"/exports/{export['id']}/advance")
    refused = api.put(f"/data-exports/{export['id']}", json=csv_export(name="too late"))
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["invalidFields"] == [
        {"field": "status", "message": problem["invalidFields"][0]["message"]}
    ]
    assert "queued" in problem["invalidFields"][0]["message"]
    assert get(api, export["id"])["name"] == "renamed"


def test_put_with_a_new_id_creates_that_export(api: httpx.Client) -> None:
    response = api.put("/data-exports/my-own-id-1", json=csv_export(name="chosen id"))
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "my-own-id-1"
    assert response.headers["Location"].endswith("/data-exports/my-own-id-1")
    assert get(api, "my-own-id-1")["name"] == "chosen id"


def test_delete_removes_an_export_even_while_processing(
    api: httpx.Client, control: httpx.Client
) -> None:
    export = create(api, **csv_export())
    control.post(f"/exports/{export['id']}/advance")
    assert get(api, export["id"])["status"] == "processing"
    deleted = api.delete(f"/data-exports/{export['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = api.get(f"/data-exports/{export['id']}")
    assert gone.status_code == 404
    assert gone.json()["title"] == "Not Found"
    assert api.delete(f"/data-exports/{export['id']}").status_code == 404


def test_list_pages_with_pagination_headers_filter_sort_and_q() -> None:
    with SandboxServer(rebilly_config()) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client:
            created = [
                create(client, **csv_export(name=f"export {n}", format=("csv", "json")[n % 2]))
                for n in range(7)
            ]
            page = client.get("/data-exports", params={"limit": 3, "offset": 2})
            assert page.status_code == 200
            assert page.headers["Pagination-Total"] == "7"
            assert page.headers["Pagination-Limit"] == "3"
            assert page.headers["Pagination-Offset"] == "2"
            names = [item["name"] for item in page.json()]
            # Default order: newest first (same-second ties keep creation order).
            everything = client.get("/data-exports").json()
            assert client.get("/data-exports").headers["Pagination-Limit"] == "100"
            assert names == [item["name"] for item in everything[2:5]]
            assert sorted(item["id"] for item in everything) == sorted(e["id"] for e in created)

            jsons = client.get("/data-exports", params={"filter": "format:json", "sort": "name"})
            assert [item["name"] for item in jsons.json()] == ["export 1", "export 3", "export 5"]
            assert jsons.headers["Pagination-Total"] == "3"
            descending = client.get("/data-exports", params={"sort": "-name"}).json()
            assert [item["name"] for item in descending] == [
                f"export {n}" for n in range(6, -1, -1)
            ]
            assert [
                item["name"] for item in client.get("/data-exports", params={"q": "PORT 4"}).json()
            ] == ["export 4"]
            bad = client.get("/data-exports", params={"filter": "colour:red"})
            assert bad.status_code == 422
            assert bad.json()["invalidFields"][0]["field"] == "filter"


def test_401_without_the_key_and_403_for_another_organization(server: SandboxServer) -> None:
    base = server.base_url("rebilly")
    for headers in (
        {},
        {KEY_HEADER: "wrong"},
        {"Authorization": f"Bearer {server.api_key('rebilly')}"},
    ):
        response = httpx.get(f"{base}/data-exports", headers=headers)
        assert response.status_code == 401
        problem = response.json()
        assert problem["type"] == "about:blank"
        assert problem["title"] == "Unauthorized"
        assert problem["status"] == 401
        assert "REB-APIKEY" in problem["detail"]
        assert problem["instance"].endswith("/data-exports")
        assert server.api_key("rebilly") not in response.text
    other = base.replace("sandbox-organization", "someone-else")
    refused = httpx.get(f"{other}/data-exports", headers={KEY_HEADER: server.api_key("rebilly")})
    assert refused.status_code == 403
    assert "someone-else" in refused.json()["detail"]


def test_422_names_every_invalid_field(api: httpx.Client) -> None:
    response = api.post(
        "/data-exports",
        json={
            "resource": "transactions",
            "format": "pdf",
            "fields": ["id", "colour"],
            "arguments": {"filter": "amount:cheap"},
            "dateRange": {"start": "the day after", "end": "now"},
            "emailNotification": ["not-an-email"],
            "recurring": {},
        },
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid data"
    fields = {item["field"]: item["message"] for item in problem["invalidFields"]}
    assert set(fields) == {
        "name",
        "format",
        "fields.1",
        "arguments.filter",
        "dateRange.start",
        "emailNotification.0",
        "recurring.instruction",
    }
    assert "colour" in fields["fields.1"]
    assert "'the'" in fields["dateRange.start"]
    assert "amount" in fields["arguments.filter"] and "cheap" in fields["arguments.filter"]
    assert "pdf" in fields["format"]
    malformed = api.post(
        "/data-exports", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["invalidFields"][0]["field"] == "body"


def test_429_past_the_rate_limit_with_its_headers() -> None:
    with SandboxServer(rebilly_config(rate_limit_requests=2)) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client:
            first = client.post("/data-exports", json=csv_export(name="a"))
            assert first.headers["X-RateLimit-Remaining"] == "1"
            second = client.post("/data-exports", json=csv_export(name="b"))
            assert second.headers["X-RateLimit-Remaining"] == "0"
            throttled = client.post("/data-exports", json=csv_export(name="c"))
            assert throttled.status_code == 429
            assert throttled.json()["title"] == "Rate Limit Exceeded"
            assert throttled.headers["X-RateLimit-Limit"] == "2"
            assert throttled.headers["X-RateLimit-Remaining"] == "0"
            reset = int(throttled.headers["X-RateLimit-Retry-After"])
            assert time.time() < reset <= time.time() + 600 + 1
            # GETs are not counted, and are still answered.
            listed = client.get("/data-exports")
            assert listed.status_code == 200
            assert len(listed.json()) == 2
            control = f"{running.url}/_sandbox/rebilly/rate-limit/reset"
            assert httpx.post(control).status_code == 200
            assert client.post("/data-exports", json=csv_export(name="d")).status_code == 201


def test_an_armed_failure_ends_failed_with_its_reason_and_no_links(
    api: httpx.Client, control: httpx.Client
) -> None:
    armed = control.post("/fail-next", json={"failureReason": "record-limit-exceeded"})
    assert armed.status_code == 201
    export = create(api, **csv_export())
    summary = control.post(f"/exports/{export['id']}/complete")
    assert summary.json()["status"] == "failed"
    failed = get(api, export["id"])
    assert failed["status"] == "failed"
    assert failed["failureReason"] == "record-limit-exceeded"
    assert set(links(failed)) == {"self", "user"}
    assert "fileId" not in failed
    # The next export is not armed.
    assert complete(control, create(api, **csv_export())["id"])["failure_reason"] is None
    assert control.post("/fail-next", json={"failureReason": "bored"}).status_code == 400


def test_more_records_than_the_limit_fail_with_record_limit_exceeded() -> None:
    with SandboxServer(rebilly_config(max_records=50)) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client:
            export = create(client, **csv_export())
            simulator(running).complete(export["id"], timeout=60)
            failed = get(client, export["id"])
            assert (failed["status"], failed["failureReason"]) == (
                "failed",
                "record-limit-exceeded",
            )
            small = create(
                client, **csv_export(dateRange={"start": "2024-01-01", "end": "2024-01-05"})
            )
            simulator(running).complete(small["id"], timeout=60)
            assert get(client, small["id"])["status"] == "completed"


@pytest.mark.parametrize("route", ["file", "signed-file"])
def test_a_cut_download_resumes_with_range(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, route: str
) -> None:
    export = create(api, **csv_export(format="json"))
    complete(control, export["id"])
    done = get(api, export["id"])
    url = links(done)["download" if route == "file" else "signedLink"]
    whole = api.get(url).content
    server.add_fault("rebilly", route, cut_after_bytes=100)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get(url)
    rest = api.get(url, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206
    assert whole[:100] + rest.content == whole


def test_faults_on_the_api_routes(server: SandboxServer, api: httpx.Client) -> None:
    server.add_fault("rebilly", "create", status=503, retry_after=7)
    failed = api.post("/data-exports", json=csv_export())
    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "7"
    assert api.post("/data-exports", json=csv_export()).status_code == 201
    server.add_fault("rebilly", "list", status=500)
    assert api.get("/data-exports").status_code == 500
    assert api.get("/data-exports").status_code == 200


def test_serve_flags_set_the_rebilly_section() -> None:
    sections = vendor_sections(
        seed=5,
        completion_delay=0.25,
        flags={"rebilly_records": 500, "rebilly_records_per_file": 7},
    )
    config = SandboxConfig(port=0, vendors=sections).vendor_config(SANDBOX_VENDOR)
    assert (config.seed, config.record_count, config.records_per_file) == (5, 500, 7)
    assert config.completion_delay_seconds == 0.25
    assert RebillySandboxConfig().records_per_file == 1_000_000
    assert RebillySandboxConfig().signed_link_ttl_seconds == 3600


def test_an_export_runs_to_completed_by_itself_in_status_order() -> None:
    config = rebilly_config(queued_seconds=1, completion_delay_seconds=1)
    with SandboxServer(config) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client:
            soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
            export = create(client, **csv_export(scheduledTime=soon))
            seen = [export["status"]]
            deadline = time.monotonic() + 60  # a guard against hanging, not a speed check
            while seen[-1] not in ("completed", "failed") and time.monotonic() < deadline:
                status = get(client, export["id"])["status"]
                if status != seen[-1]:
                    seen.append(status)
                time.sleep(0.02)
            assert seen == ["pending", "queued", "processing", "completed"]
