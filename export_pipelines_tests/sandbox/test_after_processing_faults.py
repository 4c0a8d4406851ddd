"""``after_processing`` faults: the vendor does the work, then the answer is held or replaced.

This is the submit whose outcome a client cannot know (a timeout or a 5xx after the vendor created
the export); the simulator must hold the job afterwards.
"""

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer
from export_pipelines_tests.sandbox.conftest import SUBMIT, fetch, window_body

START, END = 1704067200, 1706745600  # January 2024


def _query_ids(server: SandboxServer) -> set[str]:
    return {job.query_id for job in server.enterpret.jobs()}


def test_submit_that_times_out_after_processing_still_created_the_export(
    server: SandboxServer, control: httpx.Client
) -> None:
    armed = control.post(
        "/faults",
        json={
            "vendor": "enterpret",
            "route": "submit",
            "delay_seconds": 3,
            "after_processing": True,
        },
    )
    assert armed.status_code == 201 and armed.json()["fault"]["after_processing"] is True
    before = _query_ids(server)
    headers = {"Authorization": f"Bearer {server.api_key('enterpret')}"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            server.base_url("enterpret") + SUBMIT,
            json=window_body(START, END),
            headers=headers,
            timeout=0.5,
        )
    created = _query_ids(server) - before
    assert len(created) == 1
    job = server.enterpret.job(created.pop())
    assert job is not None and job.request.window_start == START


def test_status_after_processing_replaces_the_real_answer(
    server: SandboxServer, api: httpx.Client
) -> None:
    server.add_fault("enterpret", "submit", status=504, after_processing=True)
    before = _query_ids(server)
    response = api.post(SUBMIT, json=window_body(START, END))
    assert response.status_code == 504
    assert "queryID" not in response.text
    created = _query_ids(server) - before
    assert len(created) == 1
    # The job is real: fetching it works, and the next submit is answered normally.
    assert fetch(api, created.pop()) in ({}, {"isCompleted": False})
    assert api.post(SUBMIT, json=window_body(START, END)).status_code == 200


def test_delay_after_processing_sends_the_real_answer_late(
    server: SandboxServer, api: httpx.Client
) -> None:
    server.add_fault("enterpret", "submit", delay_seconds=0.2, after_processing=True)
    response = api.post(SUBMIT, json=window_body(START, END))
    assert response.status_code == 200
    assert server.enterpret.job(response.json()["queryID"]) is not None


def test_after_processing_excludes_cut_after_bytes(control: httpx.Client) -> None:
    response = control.post(
        "/faults",
        json={
            "vendor": "enterpret",
            "route": "file",
            "cut_after_bytes": 10,
            "after_processing": True,
        },
    )
    assert response.status_code == 400
    assert "after_processing" in response.json()["error"]
