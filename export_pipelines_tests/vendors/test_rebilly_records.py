"""Rebilly files → tables: every resource in every format equals the sandbox's records, a ZIP of
parts reads as one file, and files that do not fit the table fail naming file, place and field."""

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from export_pipelines.normalize import NormalizeError
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.rebilly.config import RebillySandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.base import RemoteState
from export_pipelines.vendors.rebilly.client import RebillyClient
from export_pipelines.vendors.rebilly.records import RebillyNormalizer
from export_pipelines.vendors.rebilly.tables import TABLES
from export_pipelines_tests.pipeline.rebilly_support import expected_rows

FORMATS = ("csv", "json", "json-api", "xml")
RECORDS_PER_FILE = 25


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        port=0,
        rebilly=RebillySandboxConfig(
            queued_seconds=0.05, completion_delay_seconds=0.1, records_per_file=RECORDS_PER_FILE
        ),
    )
    with SandboxServer(config) as server:
        yield server


def _read(normalizer: RebillyNormalizer, path: Path) -> pa.Table:
    return pa.Table.from_batches(list(normalizer.batches(path, 7)), schema=normalizer.schema)


def _export_files(
    sandbox: SandboxServer, tmp_path: Path, bodies: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], str, Path]]:
    """Create every export, wait for all, download each file by its signed link."""
    client = RebillyClient(base_url=sandbox.base_url("rebilly"), api_key=sandbox.api_key("rebilly"))
    with client:
        ids = [client.submit(body).vendor_job_id for body in bodies]
        out = []
        for body, export_id in zip(bodies, ids, strict=True):
            status = client.status(export_id)
            while status.state is RemoteState.RUNNING:
                time.sleep(0.05)
                status = client.status(export_id)
            assert status.state is RemoteState.COMPLETED, status
            (file,) = status.files
            path = tmp_path / f"{export_id}-{file.name}"
            path.write_bytes(httpx.get(file.url).content)
            out.append((body, export_id, path))
    return out


def _body(resource: str, fmt: str, start: str, end: str) -> dict[str, Any]:
    return {
        "name": f"{resource} {fmt}",
        "resource": resource,
        "format": fmt,
        "dateRange": {"start": start, "end": end},
    }


def test_every_resource_reads_the_same_in_every_format(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    bodies = [
        _body(resource, fmt, "2024-05-06T00:00:00Z", "2024-05-07T00:00:00Z")
        for resource in TABLES
        for fmt in FORMATS
    ]
    tables: dict[str, dict[str, pa.Table]] = {}
    for body, export_id, path in _export_files(sandbox, tmp_path, bodies):
        resource, fmt = body["resource"], body["format"]
        table = _read(RebillyNormalizer(resource, fmt), path)
        expected = expected_rows(sandbox, export_id, body)
        assert expected and table.to_pylist() == expected, (resource, fmt)
        tables.setdefault(resource, {})[fmt] = table
    for resource, by_format in tables.items():
        assert all(t.equals(by_format["csv"]) for t in by_format.values()), resource
        assert by_format["csv"].schema == TABLES[resource].schema


def test_a_zip_of_parts_reads_as_one_file_in_every_format(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    bodies = [
        _body("subscriptions", fmt, "2024-06-01T00:00:00Z", "2024-06-08T00:00:00Z")
        for fmt in FORMATS
    ]
    for body, export_id, path in _export_files(sandbox, tmp_path, bodies):
        expected = expected_rows(sandbox, export_id, body)
        assert zipfile.is_zipfile(path) and len(expected) > RECORDS_PER_FILE
        with zipfile.ZipFile(path) as archive:
            assert len(archive.namelist()) == -(-len(expected) // RECORDS_PER_FILE)
        table = _read(RebillyNormalizer("subscriptions", body["format"]), path)
        assert table.to_pylist() == expected, body["format"]


CSV_HEADER = "id,email,firstName,lastName,company,primaryAddress/city,primaryAddress/country,primaryAddress/postalCode,defaultPaymentInstrument/method,lifetimeRevenue/amount,lifetimeRevenue/currency,averageValue/amount,averageValue/currency,paymentCount,isEddRequired,lastPaymentTime,createdTime,updatedTime"
CSV_ROW = "cus_1,a@example.com,Ann,Lee,,Oslo,NO,0150,paypal,12.50,NOK,6.25,NOK,2,false,,2024-03-04T10:00:00Z,2024-03-04T11:00:00Z"
CUSTOMER = {
    "id": "cus_1",
    "email": "a@example.com",
    "firstName": "Ann",
    "lastName": "Lee",
    "company": None,
    "primaryAddress": {"city": "Oslo", "country": "NO", "postalCode": "0150"},
    "defaultPaymentInstrument": {"method": "paypal"},
    "lifetimeRevenue": {"amount": "12.50", "currency": "NOK"},
    "averageValue": {"amount": "6.25", "currency": "NOK"},
    "paymentCount": 2,
    "isEddRequired": False,
    "lastPaymentTime": None,
    "createdTime": "2024-03-04T10:00:00Z",
    "updatedTime": "2024-03-04T11:00:00Z",
}


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_postal_codes_keep_their_zeros_and_empty_text_is_null(tmp_path: Path) -> None:
    csv_path = _write(tmp_path, "c.csv", f"{CSV_HEADER}\n{CSV_ROW}\n")
    json_path = _write(tmp_path, "c.json", json.dumps([{**CUSTOMER, "company": ""}]))
    from_csv = _read(RebillyNormalizer("customers", "csv"), csv_path)
    from_json = _read(RebillyNormalizer("customers", "json"), json_path)
    assert from_csv.equals(from_json)
    row = from_csv.to_pylist()[0]
    assert row["primary_address_postal_code"] == "0150" and row["company"] is None


@pytest.mark.parametrize(
    ("fmt", "content", "expected"),
    [
        (
            "csv",
            f"{CSV_HEADER},loyaltyTier\n{CSV_ROW},gold\n",
            "c.file: header: column loyaltyTier: not declared",
        ),
        (
            "csv",
            f"{CSV_HEADER}\n{CSV_ROW.replace('12.50', '12.505001')}\n",
            "column lifetime_revenue_amount",
        ),
        (
            "json",
            json.dumps([CUSTOMER, {**CUSTOMER, "primaryAddress": {"city": "X", "street": "Y"}}]),
            "c.file: records from 0: column primaryAddress/street: not declared",
        ),
        (
            "json",
            json.dumps([CUSTOMER, {**CUSTOMER, "paymentCount": 2.5}]),
            "record 1",
        ),
        (
            "json",
            json.dumps({"records": [CUSTOMER]}),
            "c.file",
        ),
        (
            "json-api",
            json.dumps(
                {
                    "data": [
                        {
                            "type": "users",
                            "id": "cus_1",
                            "attributes": {k: v for k, v in CUSTOMER.items() if k != "id"},
                        }
                    ]
                }
            ),
            "c.file: record 0: column type: 'users' is not the exported resource customers",
        ),
        (
            "xml",
            "<transactions><record><id>cus_1</id></record></transactions>",
            "c.file: root element: <transactions>, not <customers>",
        ),
        (
            "xml",
            "<customers><record><id>cus_1</id><shoeSize>44</shoeSize></record></customers>",
            "c.file: record 0: column shoeSize: not declared",
        ),
        (
            "xml",
            '<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x "boom">]><customers><record>'
            "<id>&x;</id></record></customers>",
            "DTDs and entities are not allowed",
        ),
        (
            "xml",
            "<customers><record><id>cus_1</id><paymentCount>many</paymentCount></record>",
            "not well-formed XML",
        ),
        (
            "xml",
            "<customers><record><paymentCount>3</paymentCount></record></customers>",
            "record 0: column id: empty, but the column is required",
        ),
    ],
)
def test_a_file_that_does_not_fit_fails_naming_file_place_and_field(
    tmp_path: Path, fmt: str, content: str, expected: str
) -> None:
    path = _write(tmp_path, "c.file", content)
    with pytest.raises(NormalizeError) as error:
        _read(RebillyNormalizer("customers", fmt), path)
    assert expected in str(error.value)


def test_a_bad_part_of_a_zip_is_named_with_its_member(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export-part1.json", json.dumps([CUSTOMER]))
        archive.writestr("export-part2.json", json.dumps([{**CUSTOMER, "isEddRequired": "maybe"}]))
    path = _write(tmp_path, "data-export.json", buffer.getvalue())
    with pytest.raises(NormalizeError) as error:
        _read(RebillyNormalizer("customers", "json"), path)
    assert "data-export.json!export-part2.json" in str(error.value)


def test_the_normalize_cli_reads_a_rebilly_export_with_its_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from export_pipelines.normalize.cli import normalize_cli

    path = _write(tmp_path, "c.json", json.dumps([CUSTOMER]))
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(
        normalize_cli, ["rebilly/customers_daily", str(path), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 rows written" in result.output
    assert pq.read_table(out).column("lifetime_revenue_currency").to_pylist() == ["NOK"]
