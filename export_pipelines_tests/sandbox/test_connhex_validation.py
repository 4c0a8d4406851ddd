"""Every part of the Connhex create body is validated: 400 with ``{"error": {"message": ...}}``
naming the member's path, and nothing created."""

import copy
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.connhex import ConnhexGenerator
from export_pipelines_tests.sandbox.connhex_helpers import (
    HOUR,
    T0,
    api_client,
    body,
    control_client,
    generator_of,
    item,
    start_server,
)

Change = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    running = start_server(queued_seconds=1200)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def generator(server: SandboxServer) -> ConnhexGenerator:
    with control_client(server) as control:
        return generator_of(control)


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with control_client(server) as control:
        control.delete("/exports").raise_for_status()
    with api_client(server) as client:
        yield client


def valid(generator: ConnhexGenerator) -> dict[str, Any]:
    return body([item(generator, **{"from": T0, "to": T0 + HOUR})])


def params(request: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = request["items"][0]["params"]
    return result


def setter(path: str, value: Any) -> Change:
    """``a.b.0.c`` set to ``value`` (``...`` removes the member)."""

    def change(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = request
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is ...:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


CASES: list[tuple[str, Change, str]] = [
    ("no format", setter("format", ...), "format: must be an object"),
    ("no extension", setter("format.extension", ...), "format.extension: is required"),
    ("xls", setter("format.extension", "xls"), "format.extension: 'xls' is not one of csv"),
    ("pdf", setter("format.extension", "pdf"), "'pdf' cannot be exported by this sandbox"),
    ("bad zone", setter("format.timezone", "Mars/Olympus"), "format.timezone: 'Mars/Olympus'"),
    ("template", setter("format.template", "fancy"), "format.template: 'fancy' is not one of"),
    ("delimiter", setter("format.csvDelimiter", ";;"), "format.csvDelimiter: must be one"),
    ("dot delimiter", setter("format.csvDelimiter", "."), "format.csvDelimiter"),
    ("columns", setter("format.columns", [{"id": "power"}]), "format.columns[0].label"),
    ("format extra", setter("format.compress", True), "format.compress: is not a known member"),
    ("type", setter("type", "daily"), "type: 'daily' is not one of oneTime, recurring"),
    ("no items", setter("items", []), "items: is required: a non-empty array"),
    ("no params", setter("items.0.params", ...), "items[0].params: must be an object"),
    ("no target", setter("items.0.params.target", ...), "items[0].params.target: must be"),
    ("empty target", setter("items.0.params.target.value", ""), "target.value: must be a non"),
    ("labels", setter("items.0.params.target.label", "a,b"), "has 2 labels for 1 values"),
    ("no channel", setter("items.0.params.channelId", ...), "items[0].params.channelId: is req"),
    ("channel", setter("items.0.params.channelId", "nope"), "no channel 'nope'"),
    ("subtopic", setter("items.0.params.subtopic", ...), "items[0].params.subtopic: is required"),
    ("from text", setter("items.0.params.from", "today"), "items[0].params.from: must be a num"),
    ("only from", setter("items.0.params.to", ...), "items[0].params: from and to go together"),
    ("reversed", setter("items.0.params.to", T0), "items[0].params.to: must be after from"),
    (
        "no window",
        lambda r: [params(r).pop(key) for key in ("from", "to")].clear(),
        "needs from and to, or period",
    ),
    ("period", setter("items.0.params.period", "1 hour"), "items[0].params.period: '1 hour'"),
    ("ds", setter("items.0.params.decimation", {"ds": "15x", "dsf": "avg"}), "decimation.ds"),
    ("ds zero", setter("items.0.params.decimation", {"ds": "0m", "dsf": "avg"}), "decimation.ds"),
    ("ds number", setter("items.0.params.decimation", {"ds": 15, "dsf": "avg"}), "decimation.ds"),
    ("dsf", setter("items.0.params.decimation", {"ds": "1h", "dsf": "p99"}), "'p99' is not one"),
    ("no dsf", setter("items.0.params.decimation", {"ds": "1h"}), "decimation.dsf: is required"),
    ("transform", setter("items.0.params.transform", "rate"), "transform: 'rate' is not one of"),
    ("output", setter("items.0.params.outputFormat", "tall"), "outputFormat: 'tall' is not one"),
    ("wide", setter("items.0.params.outputFormat", "wide"), "wide needs format.columns"),
    ("param extra", setter("items.0.params.limit", 5), "items[0].params.limit: is not a known"),
    ("no notification", setter("notification", ...), "notification: must be an object"),
    ("one message", setter("notification.messages", []), "must be exactly two messages"),
    (
        "two successes",
        setter("notification.messages.1.policy", "onSuccess"),
        "must be exactly two messages: one onSuccess, one onFailure",
    ),
    ("policy", setter("notification.messages.0.policy", "always"), "messages[0].policy"),
    ("medium", setter("notification.messages.0.medium", "sms"), "messages[0].medium: 'sms'"),
    ("title", setter("notification.messages.1.title", ...), "messages[1].title: is required"),
    ("text", setter("notification.messages.1.text", ""), "messages[1].text: must be a non-empty"),
    ("extra", setter("tags", []), "body.tags: is not a known member"),
]


@pytest.mark.parametrize(("change", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_create_body_is_refused_with_its_path(
    change: Change, message: str, api: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = copy.deepcopy(valid(generator))
    change(request)
    refused = api.post("/exports", json=request)
    assert refused.status_code == 400, refused.text
    assert set(refused.json()) == {"error"} and set(refused.json()["error"]) == {"message"}
    assert message in refused.json()["error"]["message"]
    assert api.get("/exports").json()["results"] == []


def test_every_problem_is_reported_at_once(api: httpx.Client, generator: ConnhexGenerator) -> None:
    request = valid(generator)
    request["format"]["extension"] = "doc"
    params(request)["decimation"] = {"ds": "1y", "dsf": "avg"}
    request["notification"]["messages"].pop()
    message = api.post("/exports", json=request).json()["error"]["message"]
    assert "format.extension" in message
    assert "items[0].params.decimation.ds" in message
    assert "notification.messages" in message


def test_wide_takes_a_single_target(api: httpx.Client, generator: ConnhexGenerator) -> None:
    request = valid(generator)
    request["format"]["columns"] = [{"id": "power", "label": "P"}]
    params(request)["outputFormat"] = "wide"
    params(request)["target"]["value"] = ",".join(generator.publishers[:2])
    refused = api.post("/exports", json=request)
    assert refused.status_code == 400
    assert "wide takes one target" in refused.json()["error"]["message"]
    params(request)["target"]["value"] = generator.publishers[0]
    assert api.post("/exports", json=request).status_code == 201


def test_malformed_json_and_non_objects(api: httpx.Client) -> None:
    broken = api.post("/exports", content=b"{nope", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]
    listed = api.post("/exports", json=[1, 2])
    assert listed.status_code == 400
    assert listed.json() == {"error": {"message": "body: must be an object"}}


def test_the_accepted_body_is_echoed_with_defaults(
    api: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = valid(generator)
    request["format"].update(
        {"timezone": "Europe/Rome", "csvDelimiter": ";", "columns": [{"id": "power", "label": "P"}]}
    )
    params(request)["decimation"] = {"ds": "2w", "dsf": "variance"}
    params(request)["transform"] = "delta"
    request["notification"]["messages"][0]["target"] = "ops@example.com"
    created = api.post("/exports", json=request)
    assert created.status_code == 201
    answer = created.json()
    for key in ("format", "items", "notification"):
        expected = copy.deepcopy(request[key])
        if key == "format":
            expected["template"] = "tabular"
        if key == "items":
            expected[0]["params"]["outputFormat"] = "long"
        assert answer[key] == expected
    assert set(answer) >= {"id", "createdAt", "updatedAt", "deletedAt", "jobs", "status"}
