"""The Rebilly sandbox against the vendor's own OpenAPI description, with schemathesis.

Every operation of the description (``sandbox/rebilly/openapi.json``, a copy of
``shared/providers/rebilly-data-exports.openapi.json``) is called over HTTP on a
running sandbox with schema-valid requests (the description's examples, boundary values of the
coverage phase, then random ones), and every answer is checked by schemathesis'
built-in checks: no server error, a documented status code, a documented content type, documented
headers and a body that validates against the response schema.

Left out, and why:

* ``positive_data_acceptance`` (a schema-valid request must not be refused): the description types
  ``dateRange.start``, ``arguments.filter``, ``fields``… as free strings, but the vendor parses
  them (PHP dates, its filter grammar, its field names): a 422 with ``invalidFields`` is the
  documented answer to a random string there.
* Negative generation (schema-invalid requests): the description documents no 400 or 422 for the
  GET operations, so any rejection of an invalid ``limit`` would be "undocumented"; the sandbox's
  422s are tested by hand in ``test_rebilly_protocol.py``.
* Free-form list queries: ``GET /data-exports`` types ``filter`` and ``sort`` as free strings and
  documents no 422, yet the vendor answers a filter outside its grammar (PROTOCOLS §3.6) with an
  error; the test draws those two from the grammar and leaves out ``criteria`` (refused by the
  sandbox, which does not simulate it). ``q``, ``expand``, ``limit`` and ``offset`` stay generated.
* DECISIONS.md's allowed exceptions (``failed`` with ``failureReason``, 429) do not occur in the
  generated run (no export is made to fail, the rate limit is not reached); the second test shows
  that ``failed`` is the one thing the description refuses in a failed export's answer.
* The body of a downloaded file: the description types it, under ``application/json``, as a binary
  string, which no JSON document validates against (its status, type and headers are checked).

The description's servers are the vendor's; the base URL is the sandbox's.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

import export_pipelines.sandbox.rebilly as rebilly_sandbox
from export_pipelines.sandbox import SandboxConfig, SandboxServer

#: A copy of ``shared/providers/rebilly-data-exports.openapi.json`` kept with the simulator.
DESCRIPTION = Path(rebilly_sandbox.__file__).parent / "openapi.json"

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20240101,
        "generation": {"mode": "positive", "max-examples": 25},
        "phases": {"stateful": {"enabled": False}},
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(json.loads(DESCRIPTION.read_text()), config=CONFIG)


LIST_FILTERS = (
    "status:completed",
    "status:pending,queued;format:!xml",
    "resource:transactions;format:csv",
    "createdTime:2024-01-01T00:00:00Z..",
    "recordCount:0..100",
    "name:!nothing",
)
LIST_SORTS = (["-createdTime"], ["name"], ["status", "-updatedTime"], ["recordCount"])


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    operation = context.operation
    if operation is None or (operation.method.upper(), operation.path) != ("GET", "/data-exports"):
        return st.just(query)
    query = {key: value for key, value in (query or {}).items() if key != "criteria"}
    return st.fixed_dictionaries(
        {},
        optional={"filter": st.sampled_from(LIST_FILTERS), "sort": st.sampled_from(LIST_SORTS)},
    ).map(
        lambda drawn: {**{k: v for k, v in query.items() if k not in ("filter", "sort")}, **drawn}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0, rebilly={"record_count": 200, "queued_seconds": 0, "completion_delay_seconds": 0}
    )
    with SandboxServer(config) as running:
        yield running


@schema.parametrize()
def test_every_answer_conforms_to_the_vendor_description(case: Any, server: SandboxServer) -> None:
    case.call_and_validate(
        base_url=server.base_url("rebilly"),
        headers={"REB-APIKEY": server.api_key("rebilly")},
    )


def _validated(
    server: SandboxServer, path: str, method: str, excluded: tuple[Any, ...] = (), **case: Any
) -> Any:
    operation = schema[path][method]
    return operation.Case(**case).call_and_validate(
        base_url=server.base_url("rebilly"),
        headers={"REB-APIKEY": server.api_key("rebilly")},
        excluded_checks=list(excluded),
    )


def test_answers_about_real_exports_in_every_status_conform() -> None:
    """Random ids mostly meet 404s; here every operation answers about exports that exist."""
    config = SandboxConfig(
        port=0,
        rebilly={"record_count": 200, "queued_seconds": 600, "completion_delay_seconds": 600},
    )
    body = {
        "name": "contract",
        "resource": "transactions",
        "format": "json",
        "arguments": {"filter": "currency:USD", "sort": "-amount"},
        "fields": ["id", "amount", "currency"],
        "dateRange": {"start": "2024-01-01T00:00:00Z", "end": "now", "field": "processedTime"},
        "recurring": {"instruction": "RRULE:FREQ=DAILY", "start": "2099-01-01T00:00:00Z"},
    }
    with SandboxServer(config) as running:
        simulator = running.simulator(rebilly_sandbox.SANDBOX_VENDOR)
        created = _validated(running, "/data-exports", "POST", body=body).json()
        assert created["status"] == "pending"
        updated = _validated(
            running, "/data-exports/{id}", "PUT", path_parameters={"id": created["id"]}, body=body
        )
        assert updated.status_code == 200
        upserted = _validated(
            running, "/data-exports/{id}", "PUT", path_parameters={"id": "chosen-1"}, body=body
        )
        assert upserted.status_code == 201
        for status in ("queued", "processing", "completed"):
            simulator.advance(created["id"], wait=True, timeout=60)
            answer = _validated(
                running,
                "/data-exports/{id}",
                "GET",
                path_parameters={"id": created["id"]},
                query={"expand": "file,user"},
            ).json()
            assert answer["status"] == status
        listed = _validated(running, "/data-exports", "GET", query={"limit": 10})
        assert len(listed.json()) == 2
        # The description types a file under application/json as a binary *string*, which no
        # JSON document validates against; its status, content type and headers are checked.
        download = _validated(
            running,
            "/files/{id}/download",
            "GET",
            excluded=(response_schema_conformance,),
            path_parameters={"id": answer["fileId"]},
        )
        assert json.loads(download.content)
        deleted = _validated(
            running, "/data-exports/{id}", "DELETE", path_parameters={"id": "chosen-1"}
        )
        assert deleted.status_code == 204

        # DECISIONS.md's allowed exception: ``failed`` is in the newer definitions only, and it is
        # the one thing the 2022 description refuses in a failed export's answer.
        simulator.arm_failure("max-retries-reached")
        failed = _validated(running, "/data-exports", "POST", body=body).json()
        simulator.complete(failed["id"], timeout=60)
        with pytest.raises(FailureGroup) as refused:
            _validated(running, "/data-exports/{id}", "GET", path_parameters={"id": failed["id"]})
        message = str(refused.value)
        assert "Response violates schema" in message and '"failed" is not one of' in message
        assert message.count("ST108") == 1
