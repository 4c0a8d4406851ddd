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
* DECISIONS.md's allowed exceptions (``failed`` with ``failureReason``, 429) cannot occur here:
  no export is made to fail and the rate limit is not reached in this test's server.

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
