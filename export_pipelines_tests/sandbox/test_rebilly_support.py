"""Rebilly sandbox servers on real sockets and plain-httpx helpers (deliberately not the client).

Exports stay in each status until a test advances them (``advance``/``complete`` over the control
API): no test waits on a timer. Parsers for the four file formats live here, written from the
documented shapes, so a test compares what a client would read with the generator's records.
"""

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import SandboxConfig, SandboxServer
from export_pipelines.sandbox.rebilly import SANDBOX_VENDOR, RebillySimulator

RECORD_COUNT = 3000
KEY_HEADER = "REB-APIKEY"


def rebilly_config(**overrides: Any) -> SandboxConfig:
    """Data from 2024 to two years past today, so relative windows always hold records."""
    settings: dict[str, Any] = {
        "seed": 11,
        "record_count": RECORD_COUNT,
        "dataset_start": datetime(2024, 1, 1, tzinfo=UTC),
        "dataset_end": datetime(datetime.now(UTC).year + 2, 1, 1, tzinfo=UTC),
        "queued_seconds": 600,
        "completion_delay_seconds": 600,
    }
    settings.update(overrides)
    return SandboxConfig(port=0, rebilly=settings)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(rebilly_config()) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear_faults()


def simulator(server: SandboxServer) -> RebillySimulator:
    return server.simulator(SANDBOX_VENDOR)


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    """Authenticated client on the Rebilly base URL."""
    headers = {KEY_HEADER: server.api_key("rebilly")}
    with httpx.Client(base_url=server.base_url("rebilly"), headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_sandbox/rebilly", timeout=120) as client:
        yield client


def create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "test export")
    response = api.post("/data-exports", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def get(api: httpx.Client, export_id: str, **params: str) -> dict[str, Any]:
    response = api.get(f"/data-exports/{export_id}", params=params)
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    return export


def complete(control: httpx.Client, export_id: str) -> dict[str, Any]:
    response = control.post(f"/exports/{export_id}/complete")
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    assert summary["status"] == "completed", summary
    return summary


def links(export: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in export["_links"]}


def exported_file(api: httpx.Client, control: httpx.Client, **body: Any) -> tuple[dict, bytes]:
    """Create, complete, download with the key: (the control summary, the file's bytes)."""
    export = create(api, **body)
    summary = complete(control, export["id"])
    response = api.get(links(get(api, export["id"]))["download"])
    assert response.status_code == 200, response.text
    return summary, response.content


def text(value: Any) -> str | None:
    """A JSON value as the text formats carry it (None stays None: empty cell / nil element)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def textual(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: textual(value) if isinstance(value, dict) else text(value)
        for key, value in record.items()
    }


def parse_csv(content: bytes) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    return header, [dict(zip(header, row, strict=True)) for row in body]


def csv_row(record: dict[str, Any]) -> dict[str, str]:
    return {path: text(value) or "" for path, value in flatten(record).items()}


def parse_xml(content: bytes) -> tuple[str, list[dict[str, Any]]]:
    root = ET.fromstring(content)

    def element(node: ET.Element) -> Any:
        if node.get("nil") == "true":
            return None
        if len(node):
            return {child.tag: element(child) for child in node}
        return node.text or ""

    assert all(child.tag == "record" for child in root)
    return root.tag, [element(child) for child in root]


def parse(export_format: str, content: bytes) -> list[dict[str, Any]]:
    """The records of one file (or part), as the format carries them."""
    if export_format == "json":
        records: list[dict[str, Any]] = json.loads(content)
        return records
    if export_format == "json-api":
        document = json.loads(content)
        assert set(document) == {"data"}
        return [{"id": item["id"], **item["attributes"]} for item in document["data"]]
    if export_format == "csv":
        return parse_csv(content)[1]
    return parse_xml(content)[1]


def zip_parts(content: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]
