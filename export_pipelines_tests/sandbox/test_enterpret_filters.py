"""FilterQuery over HTTP against an evaluation written here from the vendor's page alone."""

import json
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer
from export_pipelines_tests.sandbox.conftest import SUBMIT, complete, download, fetch, submit

START, END = 1704067200, 1711929600  # 2024-01-01 .. 2024-04-01


def _leaf(value: Any, typed: dict[str, list[Any]], op: str) -> bool:
    compare = {
        "EQ": lambda a, b: a == b,
        "GT": lambda a, b: a > b,
        "LT": lambda a, b: a < b,
        "GTE": lambda a, b: a >= b,
        "LTE": lambda a, b: a <= b,
    }[op]
    if isinstance(value, str):
        if any(compare(s, value) for s in typed.get("s", [])):
            return True
        try:
            value = float(value)
        except ValueError:
            return False
    return any(compare(n, value) for n in typed.get("n", []))


def evaluate(query: dict[str, Any], record: dict[str, Any]) -> bool:
    if "operation" in query:
        results = [evaluate(param, record) for param in query["operation"]["params"]]
        return all(results) if query["operation"]["op"] == "AND" else any(results)
    clause = query["filter"]
    if "source" in clause:
        return bool(record["source"] == clause["source"])
    if "languageISO6393" in clause:
        return any(lang["iso6393"] == clause["languageISO6393"] for lang in record["languages"])
    if "hasLabel" in clause:
        (kind,) = [name for name, flag in clause["hasLabel"].items() if flag]
        return any(kind in prediction for prediction in record.get("predictions", []))
    metadata = clause["metadata"]
    typed = record["metadata"]["keyValues"].get(metadata["key"])
    return typed is not None and _leaf(metadata["value"], typed, metadata.get("op", "EQ"))


def source(name: str) -> dict[str, Any]:
    return {"filter": {"source": name}}


def meta(key: str, value: Any, op: str | None = None) -> dict[str, Any]:
    clause: dict[str, Any] = {"key": key, "value": value}
    if op:
        clause["op"] = op
    return {"filter": {"metadata": clause}}


def either(*params: dict[str, Any]) -> dict[str, Any]:
    return {"operation": {"op": "OR", "params": list(params)}}


def both(*params: dict[str, Any]) -> dict[str, Any]:
    return {"operation": {"op": "AND", "params": list(params)}}


FILTERS = {
    "source": source("ZendeskSupport"),
    "vendor example 1": either(source("ZendeskSupport"), source("Twitter")),
    "vendor example 2": both(
        {"filter": {"hasLabel": {"reason": True}}},
        either(source("ZendeskSupport"), source("Twitter")),
    ),
    "language": {"filter": {"languageISO6393": "ukr"}},
    "has sentiment": {"filter": {"hasLabel": {"sentiment": True}}},
    "has aspect, other kinds false": {
        "filter": {"hasLabel": {"aspect": True, "reason": False, "sentiment": False}}
    },
    "metadata EQ string default op": meta("Country", "DE"),
    "metadata EQ multi-valued": meta("Tags", "vip", "EQ"),
    "metadata GT int": meta("Rating", 3, "GT"),
    "metadata LTE numeric string": meta("Rating", "2", "LTE"),
    "metadata GTE float": meta("Score", 7.5, "GTE"),
    "metadata LT float": meta("CSAT", 3.5, "LT"),
    "metadata GT string": meta("Priority", "low", "GT"),
    "nested": either(
        both(meta("NPS", 9, "GTE"), source("Qualtrics")),
        both({"filter": {"languageISO6393": "jpn"}}, {"filter": {"hasLabel": {"aspect": True}}}),
    ),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filter_selects_exactly_the_matching_records(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, name: str
) -> None:
    query = FILTERS[name]
    dataset = server.enterpret.dataset
    window = [dataset.record(i) for i in dataset.window_indices(START, END)]
    expected = [record for record in window if evaluate(query, record)]
    assert 0 < len(expected) < len(window), "a filter that selects all or nothing tests nothing"

    query_id = submit(
        api,
        {
            "listRecords": {"filter": query, "timerange": {"startTime": START, "endTime": END}},
            "pageSize": 300,
        },
    )
    job = complete(control, query_id)
    urls = fetch(api, query_id)["responseFiles"]
    got = [r for url in urls for r in json.loads(download(url))["records"]]
    assert got == expected
    assert job["record_count"] == len(expected)
    assert len(urls) == -(-len(expected) // 300)
    assert list(dataset.records(START, END, query)) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "exactly one of filter or operation"),
        (
            {"filter": {"source": "Twitter"}, "operation": {"op": "OR", "params": [source("x")]}},
            "exactly one of filter or operation",
        ),
        ({"operation": {"op": "XOR", "params": [source("x")]}}, "op"),
        ({"operation": {"op": "or", "params": [source("x")]}}, "op"),
        ({"operation": {"op": "AND", "params": []}}, "params"),
        ({"operation": {"op": "AND"}}, "params"),
        ({"filter": {}}, "exactly one of"),
        ({"filter": {"source": "Twitter", "languageISO6393": "eng"}}, "exactly one of"),
        ({"filter": {"sources": "Twitter"}}, "unknown field"),
        ({"filter": {"hasLabel": {}}}, "exactly one of"),
        ({"filter": {"hasLabel": {"reason": True, "aspect": True}}}, "exactly one of"),
        ({"filter": {"hasLabel": {"keyword": True}}}, "unknown field"),
        ({"filter": {"hasLabel": {"reason": "yes"}}}, "boolean"),
        ({"filter": {"metadata": {"key": "Rating", "value": 3, "op": "NE"}}}, "op"),
        ({"filter": {"metadata": {"key": "Rating"}}}, "value"),
        ({"filter": {"metadata": {"value": 3}}}, "key"),
        (
            {"filter": {"metadata": {"key": "Rating", "value": {"n": [3]}}}},
            "plain string or number",
        ),
        ({"filter": {"metadata": {"key": "Rating", "value": True}}}, "plain string or number"),
        (both(source("Twitter"), {"filter": {"source": ""}}), "params[1]"),
        ("Twitter", "object"),
    ],
)
def test_malformed_filter_is_a_400_naming_the_place(
    api: httpx.Client, query: Any, message: str
) -> None:
    body = {
        "listRecords": {"filter": query, "timerange": {"startTime": START, "endTime": END}},
        "pageSize": 10,
    }
    response = api.post(SUBMIT, json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
