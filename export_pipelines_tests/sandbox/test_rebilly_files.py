"""Rebilly export files over HTTP: each format's exact shape and content, ZIP parts, and the
records that ``dateRange``, ``filter``, ``sort``, ``q`` and ``fields`` select.

The expected records are computed here by plain Python over the whole generated dataset (every
record of the resource, filtered and sorted by hand), not by the sandbox's query engine, so a
mistake in the engine shows up as a difference.
"""

import json
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.rebilly import SANDBOX_VENDOR, RebillyDataset, RecordQuery
from export_pipelines.sandbox.rebilly.formats import write_export
from export_pipelines_tests.sandbox.test_rebilly_support import (
    KEY_HEADER,
    RECORD_COUNT,
    api,
    control,
    csv_row,
    exported_file,
    parse,
    parse_csv,
    parse_xml,
    rebilly_config,
    server,
    simulator,
    textual,
    zip_parts,
)

__all__ = ["api", "control", "server"]

JAN, MAR = "2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"
RESOURCES = ("transactions", "customers", "subscriptions", "invoices")
PRIMARY = {
    "transactions": "processedTime",
    "customers": "createdTime",
    "subscriptions": "createdTime",
    "invoices": "issuedTime",
}


def dataset(server: SandboxServer) -> RebillyDataset:
    return simulator(server).dataset


def every(server: SandboxServer, resource: str) -> list[dict[str, Any]]:
    data = dataset(server)
    return [data.record(resource, i) for i in range(RECORD_COUNT)]


def in_window(record: dict[str, Any], field: str, start: str = JAN, end: str = MAR) -> bool:
    value = record[field]
    return value is not None and start <= value < end


@pytest.mark.parametrize("resource", RESOURCES)
def test_json_holds_the_window_of_every_resource(
    server: SandboxServer, api: httpx.Client, control: httpx.Client, resource: str
) -> None:
    summary, content = exported_file(
        api, control, resource=resource, format="json", dateRange={"start": JAN, "end": MAR}
    )
    expected = [r for r in every(server, resource) if in_window(r, PRIMARY[resource])]
    assert len(expected) > 100
    assert json.loads(content) == expected
    assert summary["record_count"] == len(expected)
    assert (summary["window_start"], summary["window_end"]) == (1704067200, 1709251200)


def test_csv_has_a_slash_flattened_header_and_empty_cells_for_null(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    _, content = exported_file(
        api, control, resource="transactions", format="csv", dateRange={"start": JAN, "end": MAR}
    )
    expected = [r for r in every(server, "transactions") if in_window(r, "processedTime")]
    header, rows = parse_csv(content)
    assert header[:3] == ["id", "type", "status"]
    assert "gateway/name" in header and "billingAddress/lastName" in header
    assert rows == [csv_row(record) for record in expected]
    assert content.startswith(b"id,type,") and b"\r\n" in content
    assert any(row["approvalCode"] == "" for row in rows)  # null → empty cell
    assert {row["isRebill"] for row in rows} == {"true", "false"}


def test_json_api_wraps_each_record_as_a_resource_object(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    _, content = exported_file(
        api, control, resource="customers", format="json-api", dateRange={"start": JAN, "end": MAR}
    )
    document = json.loads(content)
    expected = [r for r in every(server, "customers") if in_window(r, "createdTime")]
    assert list(document) == ["data"]
    assert [item["type"] for item in document["data"]] == ["customers"] * len(expected)
    assert [item["id"] for item in document["data"]] == [r["id"] for r in expected]
    assert [item["attributes"] for item in document["data"]] == [
        {k: v for k, v in r.items() if k != "id"} for r in expected
    ]


def test_xml_has_one_root_one_record_element_each_and_nested_elements(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    _, content = exported_file(
        api, control, resource="invoices", format="xml", dateRange={"start": JAN, "end": MAR}
    )
    assert content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<invoices><record>')
    root, records = parse_xml(content)
    expected = [r for r in every(server, "invoices") if in_window(r, "issuedTime")]
    assert root == "invoices"
    assert records == [textual(record) for record in expected]
    assert b"<billingAddress><firstName>" in content
    assert b'<subscriptionId nil="true"/>' in content or b'<paidTime nil="true"/>' in content


@pytest.mark.parametrize("export_format", ["csv", "json", "json-api", "xml"])
def test_past_the_record_limit_the_file_is_a_zip_of_numbered_parts(export_format: str) -> None:
    with SandboxServer(rebilly_config(records_per_file=10)) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with (
            httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client,
            httpx.Client(base_url=f"{running.url}/_sandbox/rebilly") as ctl,
        ):
            summary, content = exported_file(
                client,
                ctl,
                resource="subscriptions",
                format=export_format,
                dateRange={"start": "2024-01-01", "end": "2024-01-15"},
            )
            data = simulator(running).dataset
            expected = [
                data.record("subscriptions", i)
                for i in range(RECORD_COUNT)
                if "2024-01-01T00:00:00Z"
                <= data.record("subscriptions", i)["createdTime"]
                < "2024-01-15T00:00:00Z"
            ]
            assert len(expected) > 20
            parts = zip_parts(content)
            extension = "json" if export_format == "json-api" else export_format
            stem = summary["file_id"]
            assert [name for name, _ in parts] == [
                f"{stem}-part{n}.{extension}" for n in range(1, len(parts) + 1)
            ]
            assert len(parts) == -(-len(expected) // 10) == summary["file_parts"]
            records = [record for _, part in parts for record in parse(export_format, part)]
            if export_format == "csv":
                assert records == [csv_row(r) for r in expected]
                assert all(part.startswith(b"id,customerId,") for _, part in parts)
            elif export_format == "xml":
                assert records == [textual(r) for r in expected]
            else:
                assert records == expected
            assert [len(parse(export_format, part)) for _, part in parts[:-1]] == [10] * (
                len(parts) - 1
            )
            download = client.get(f"/files/{stem}/download")
            assert download.headers["content-type"] == "application/zip"
            assert f"{stem}.zip" in download.headers["content-disposition"]


def test_at_the_limit_exactly_the_file_is_not_zipped() -> None:
    with SandboxServer(rebilly_config(records_per_file=RECORD_COUNT)) as running:
        headers = {KEY_HEADER: running.api_key("rebilly")}
        with (
            httpx.Client(base_url=running.base_url("rebilly"), headers=headers) as client,
            httpx.Client(base_url=f"{running.url}/_sandbox/rebilly") as ctl,
        ):
            summary, content = exported_file(client, ctl, resource="customers", format="json")
            assert summary["file_parts"] == 1
            assert len(json.loads(content)) == RECORD_COUNT


def test_filter_sort_q_and_fields_are_honoured(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    _, content = exported_file(
        api,
        control,
        resource="transactions",
        format="json",
        dateRange={"start": JAN, "end": "2025-01-01T00:00:00Z"},
        arguments={
            "filter": "currency:usd,EUR;amount:10..400;status:!declined;billingAddress.country:US,DE,FR,GB,CA,JP",
            "sort": "-amount,processedTime",
            "q": "SMITH",
        },
        fields=["id", "amount", "currency", "billingAddress", "processedTime"],
    )
    wanted = [
        r
        for r in every(server, "transactions")
        if in_window(r, "processedTime", JAN, "2025-01-01T00:00:00Z")
        and r["currency"] in ("USD", "EUR")
        and Decimal(10) <= Decimal(r["amount"]) <= Decimal(400)
        and r["status"] != "declined"
        and r["billingAddress"]["country"] in ("US", "DE", "FR", "GB", "CA", "JP")
        and any(
            "smith" in str(value).lower()
            for value in (
                r["id"],
                r["customerId"],
                r["billingAddress"]["firstName"],
                r["billingAddress"]["lastName"],
            )
        )
    ]
    wanted.sort(key=lambda r: r["processedTime"])
    wanted.sort(key=lambda r: Decimal(r["amount"]), reverse=True)
    expected = [
        {
            "id": r["id"],
            "amount": r["amount"],
            "currency": r["currency"],
            "billingAddress": r["billingAddress"],
            "processedTime": r["processedTime"],
        }
        for r in wanted
    ]
    assert len(expected) >= 3
    assert json.loads(content) == expected


def test_date_range_on_another_field_and_a_descending_primary_sort(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    start, end = "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"
    _, content = exported_file(
        api,
        control,
        resource="customers",
        format="json",
        dateRange={"start": start, "end": end, "field": "lastPaymentTime"},
        arguments={"sort": "-createdTime", "filter": "isEddRequired:false;paymentCount:1.."},
        fields=["id", "lastPaymentTime"],
    )
    wanted = [
        r
        for r in every(server, "customers")
        if in_window(r, "lastPaymentTime", start, end)
        and r["isEddRequired"] is False
        and r["paymentCount"] >= 1
    ]
    wanted.reverse()
    assert json.loads(content) == [
        {"id": r["id"], "lastPaymentTime": r["lastPaymentTime"]} for r in wanted
    ]
    assert len(wanted) > 10


def test_json_api_keeps_the_id_when_fields_leave_it_out(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    _, content = exported_file(
        api,
        control,
        resource="customers",
        format="json-api",
        dateRange={"start": JAN, "end": "2024-01-10"},
        fields=["email", "lifetimeRevenue/amount"],
    )
    expected = [
        r for r in every(server, "customers") if in_window(r, "createdTime", JAN, "2024-01-10")
    ]
    assert json.loads(content)["data"] == [
        {
            "type": "customers",
            "id": r["id"],
            "attributes": {
                "email": r["email"],
                "lifetimeRevenue": {"amount": r["lifetimeRevenue"]["amount"]},
            },
        }
        for r in expected
    ]


def test_an_empty_window_gives_an_empty_but_whole_file(
    api: httpx.Client, control: httpx.Client
) -> None:
    window = {"start": "2023-01-01", "end": "2023-02-01"}
    for export_format, empty in (
        ("json", b"[]"),
        ("json-api", b'{"data":[]}'),
        ("xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<invoices></invoices>\n'),
    ):
        summary, content = exported_file(
            api, control, resource="invoices", format=export_format, dateRange=window
        )
        assert (summary["record_count"], content) == (0, empty)
    _, content = exported_file(api, control, resource="invoices", format="csv", dateRange=window)
    assert parse_csv(content)[1] == []


def test_amounts_are_decimal_strings_in_the_currency_minor_unit(server: SandboxServer) -> None:
    records = every(server, "transactions")
    for record in records:
        amount = record["amount"]
        assert isinstance(amount, str)
        if record["currency"] == "JPY":
            assert amount.isdigit()
        else:
            whole, _, cents = amount.partition(".")
            assert whole.isdigit() and len(cents) == 2 and cents.isdigit()
    assert {r["currency"] for r in records} == {"USD", "EUR", "GBP", "CAD", "JPY"}
    assert {r["gateway"]["name"] for r in records} >= {"stripe", "adyen", "paypal"}
    assert {r["status"] for r in records} >= {"completed", "declined", "refunded"}
    refunded = [r for r in records if r["status"] == "refunded"]
    assert all(r["refundedAmount"] == r["amount"] for r in refunded)


def test_expected_records_recompute_an_export_from_the_control_api(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    """What the demo's verifier uses: the records of an export, rebuilt from HTTP answers only."""
    summary, content = exported_file(
        api,
        control,
        resource="invoices",
        format="json",
        dateRange={"start": "2024-02-01", "end": "2024-04-01"},
        arguments={"filter": "status:paid,refunded", "sort": "-amount"},
        fields=["amount", "status"],
    )
    recomputed = list(SANDBOX_VENDOR.expected_records(server.url, summary["id"], {}))
    assert [{k: v for k, v in r.items() if k != "id"} for r in recomputed] == json.loads(content)
    by_id = {r["id"]: r for r in every(server, "invoices")}
    assert all(by_id[r["id"]]["amount"] == r["amount"] for r in recomputed)
    assert len(recomputed) == summary["record_count"] > 10


@pytest.mark.parametrize("export_format", ["json", "xml"])
def test_files_are_written_streaming_in_bounded_memory(tmp_path: Path, export_format: str) -> None:
    """Holding 4,000 records would take megabytes; streaming keeps a few records at a time."""
    data = RebillyDataset(3, 4_000, 1704067200, 1798761600)
    query = RecordQuery.build("transactions", "processedTime", None, None)
    tracemalloc.start()
    try:
        count, path, parts = write_export(
            query.rows(data),
            export_format=export_format,
            resource="transactions",
            columns=query.columns,
            directory=tmp_path,
            stem="file_memory",
            records_per_file=1_500,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, parts, path.name) == (4_000, 3, "file_memory.zip")
    assert path.stat().st_size > 100_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file_memory.zip"]
    assert peak < 1024 * 1024, f"peak {peak} bytes"
