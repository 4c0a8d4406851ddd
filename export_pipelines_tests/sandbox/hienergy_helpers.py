"""HiEnergy sandbox servers on real sockets and plain-httpx helpers (deliberately not the client)."""

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
import python_calamine

from export_pipelines.sandbox import SandboxConfig, SandboxServer, hienergy
from export_pipelines.sandbox.hienergy.report_files import csv_text
from export_pipelines.sandbox.hienergy.search import parse_search

SMALL = {
    "seed": 11,
    "advertiser_count": 300,
    "deal_count": 400,
    "click_count": 3000,
    "dataset_start": "2024-01-01",
    "dataset_end": "2024-04-01",
    "rows_per_part": 40,
    "part_delay_seconds": 0,
}


def start_server(**hienergy_config: Any) -> SandboxServer:
    config = SandboxConfig(port=0, hienergy={**SMALL, **hienergy_config})
    return SandboxServer(config).start()


def api_client(server: SandboxServer, **headers: str) -> httpx.Client:
    auth = headers or {"X-Api-Key": server.api_key("hienergy")}
    return httpx.Client(base_url=server.base_url("hienergy"), headers=auth, timeout=30)


def control_client(server: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/_sandbox/hienergy", timeout=120)


def create(api: httpx.Client, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = api.post("/exports", json=body)
    assert response.status_code == status, response.text
    export: dict[str, Any] = response.json()["export"]
    return export


def get(api: httpx.Client, report_id: int) -> dict[str, Any]:
    response = api.get(f"/exports/{report_id}")
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()["export"]
    return export


def parts(api: httpx.Client, parent_id: int) -> list[dict[str, Any]]:
    """The parts of a chunked report, in part (id) order."""
    response = api.get("/exports", params={"parent_report_id": parent_id, "limit": 100})
    assert response.status_code == 200, response.text
    return sorted(response.json()["exports"], key=lambda export: export["id"])


def complete(control: httpx.Client, report_id: int) -> None:
    response = control.post(f"/reports/{report_id}/complete")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"


def files_of(api: httpx.Client, report_id: int) -> list[bytes]:
    """Every file of a completed report (its own, or its parts' in order), fetched without a key."""
    export = get(api, report_id)
    assert export["status"] == "completed", export
    exports = parts(api, report_id) if export["chunked_export"] else [export]
    contents = []
    for item in exports:
        response = httpx.get(item["download_url"], timeout=30)
        assert response.status_code == 200, response.text
        contents.append(response.content)
    return contents


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"), newline="")))


def xlsx_rows(content: bytes) -> list[dict[str, Any]]:
    workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    header, *lines = workbook.get_sheet_by_index(0).to_python()
    return [dict(zip(header, line, strict=True)) for line in lines]


def expected(
    server: SandboxServer, report_type: str, search_params: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    generator = server.simulator(hienergy.SANDBOX_VENDOR).generator
    return generator.rows(report_type, parse_search(report_type, search_params))


def as_csv(row: dict[str, Any]) -> dict[str, str]:
    return {key: csv_text(value) for key, value in row.items()}


def as_xlsx(row: dict[str, Any]) -> dict[str, Any]:
    """A generated row as python-calamine reads it back: numbers as floats, UTC datetimes naive,
    midnight datetimes as dates."""
    cells: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, bool | str):
            cells[key] = value
        elif isinstance(value, int | float):
            cells[key] = float(value)
        elif isinstance(value, datetime):
            naive = value.replace(tzinfo=None)
            cells[key] = naive.date() if naive.time() == datetime.min.time() else naive
        elif isinstance(value, date):
            cells[key] = value
        else:
            raise AssertionError(f"{key}: unexpected generated type {type(value)}")
    return cells
