"""Rebilly's request model and adapter: what the catalog accepts, refuses, and what is submitted."""

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from export_pipelines.catalog import AsyncExport
from export_pipelines.vendors.base import Window
from export_pipelines.vendors.rebilly import ADAPTER
from export_pipelines.vendors.rebilly.client import (
    describe_problem,
    rebilly_retry_after,
    same_request,
)
from export_pipelines_tests.catalog.test_dg_check import PROJECT, _bad_project, _dg

DAY = Window(datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC))


def _export(request: dict[str, object], **attributes: object) -> AsyncExport:
    document = {"vendor": "rebilly", "export": "tx", "request": request, **attributes}
    return AsyncExport.model_validate(document)


def test_a_partition_window_becomes_an_absolute_utc_date_range() -> None:
    request = ADAPTER.parse_request(
        {"name": "tx", "resource": "transactions", "format": "csv", "arguments": {"sort": "id"}}
    )
    berlin_day = Window(
        datetime.fromisoformat("2024-03-04T00:00:00+01:00"),
        datetime.fromisoformat("2024-03-05T00:00:00+01:00"),
    )
    assert ADAPTER.build_body(request, berlin_day) == {
        "name": "tx",
        "resource": "transactions",
        "format": "csv",
        "arguments": {"sort": "id"},
        "dateRange": {
            "start": "2024-03-03T23:00:00Z",
            "end": "2024-03-04T23:00:00Z",
            "field": "processedTime",
        },
    }
    assert ADAPTER.window_is_fixed(request, berlin_day)


def test_the_declared_date_field_is_kept_and_each_resource_has_its_default() -> None:
    chosen = ADAPTER.parse_request(
        {
            "name": "c",
            "resource": "customers",
            "format": "json",
            "dateRange": {"field": "updatedTime"},
        }
    )
    assert ADAPTER.build_body(chosen, DAY)["dateRange"]["field"] == "updatedTime"
    invoices = ADAPTER.parse_request({"name": "i", "resource": "invoices", "format": "xml"})
    assert ADAPTER.build_body(invoices, DAY)["dateRange"]["field"] == "issuedTime"


def test_pdf_is_refused_when_the_catalog_loads_saying_why() -> None:
    with pytest.raises(ValidationError) as error:
        _export(
            {"name": "inv", "resource": "invoices", "format": "pdf"},
            partitioning="daily",
            start="2024-01-01",
        )
    message = str(error.value)
    assert "export rebilly/tx: format: pdf cannot become a table" in message
    assert "one PDF document per record" in message and "csv, json, json-api, xml" in message


@pytest.mark.parametrize(
    ("request_block", "expected"),
    [
        ({"name": "x", "resource": "payments", "format": "csv"}, "request.resource"),
        ({"name": "x", "resource": "customers", "format": "xls"}, "request.format"),
        ({"name": "x", "resource": "customers", "format": "csv", "sort": "-id"}, "request.sort"),
        (
            {"name": "x", "resource": "customers", "format": "csv", "arguments": {"filtre": "a"}},
            "request.arguments.filtre",
        ),
        (
            {"name": "x", "resource": "customers", "format": "csv", "dateRange": {"start": "now"}},
            "dateRange takes both start and end",
        ),
        (
            {
                "name": "x",
                "resource": "customers",
                "format": "csv",
                "emailNotification": ["not-an-address"],
            },
            "'not-an-address' is not an e-mail address",
        ),
        (
            {
                "name": "x",
                "resource": "customers",
                "format": "csv",
                "dateRange": {"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
            },
            "dateRange: end must be after start",
        ),
    ],
)
def test_mistakes_name_the_field(request_block: dict[str, object], expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        _export(request_block)
    assert expected in str(error.value)


def test_a_partitioned_export_declares_no_date_range_bounds() -> None:
    with pytest.raises(ValidationError) as error:
        _export(
            {
                "name": "x",
                "resource": "customers",
                "format": "csv",
                "dateRange": {"start": "yesterday", "end": "today"},
            },
            partitioning="daily",
            start="2024-01-01",
        )
    assert "dateRange.start/end: remove them" in str(error.value)


def test_relative_ranges_are_sent_as_declared_and_are_not_fixed() -> None:
    request = ADAPTER.parse_request(
        {
            "name": "recent",
            "resource": "subscriptions",
            "format": "json-api",
            "dateRange": {"start": "-7 days", "end": "now"},
            "recurring": {"instruction": "RRULE:FREQ=DAILY"},
        }
    )
    body = ADAPTER.build_body(request, None)
    assert body["dateRange"] == {"start": "-7 days", "end": "now", "field": "createdTime"}
    assert body["recurring"] == {"instruction": "RRULE:FREQ=DAILY"}
    assert not ADAPTER.window_is_fixed(request, None)
    absolute = ADAPTER.parse_request(
        {
            "name": "q1",
            "resource": "subscriptions",
            "format": "json",
            "dateRange": {"start": "2024-01-01T00:00:00Z", "end": "2024-04-01T00:00:00Z"},
        }
    )
    assert ADAPTER.window_is_fixed(absolute, None)
    everything = ADAPTER.parse_request({"name": "all", "resource": "customers", "format": "csv"})
    assert "dateRange" not in ADAPTER.build_body(everything, None)  # the vendor's "all time"
    assert not ADAPTER.window_is_fixed(everything, None)


def test_problem_bodies_become_one_clear_line() -> None:
    text = (
        '{"type":"about:blank","title":"Invalid data","status":422,"detail":"The data is invalid",'
        '"invalidFields":[{"field":"dateRange.start","message":"not a date"},'
        '{"field":"resource","message":"unknown resource"}]}'
    )
    assert describe_problem(text) == (
        "Invalid data — The data is invalid — invalid fields: dateRange.start: not a date; "
        "resource: unknown resource"
    )
    assert describe_problem("<html>oops</html>") is None
    assert describe_problem('{"unrelated": true}') is None


def test_the_rate_limit_reset_is_read_as_an_epoch_second() -> None:
    now = datetime.now(UTC).timestamp()
    answer = httpx.Response(429, headers={"X-RateLimit-Retry-After": str(int(now) + 30)})
    waited = rebilly_retry_after(answer)
    assert waited is not None and 28 <= waited <= 31
    past = httpx.Response(429, headers={"X-RateLimit-Retry-After": str(int(now) - 100)})
    assert rebilly_retry_after(past) == 0.0
    assert rebilly_retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert rebilly_retry_after(httpx.Response(429)) is None


def test_a_listed_export_matches_the_body_it_was_created_from() -> None:
    body = ADAPTER.build_body(
        ADAPTER.parse_request({"name": "tx", "resource": "transactions", "format": "csv"}), DAY
    )
    echoed = {
        **body,
        "id": "exp-1",
        "arguments": None,
        "fields": [],
        "dateRange": {
            "start": "2024-03-04T00:00:00+00:00",
            "end": "2024-03-05T00:00:00+00:00",
            "field": "processedTime",
        },
    }
    assert same_request(echoed, body)
    assert not same_request({**echoed, "format": "json"}, body)
    later = {**echoed, "dateRange": {**echoed["dateRange"], "end": "2024-03-06T00:00:00Z"}}
    assert not same_request(later, body)


def test_dg_check_refuses_pdf_and_lists_the_rebilly_catalog(tmp_path: Path) -> None:
    root = _bad_project(
        tmp_path,
        """
        type: export_pipelines.catalog.AsyncExport
        attributes:
          vendor: rebilly
          export: invoice_pdfs
          partitioning: daily
          start: "2024-01-01"
          request: {name: invoices, resource: invoices, format: pdf}
        """,
    )
    refused = _dg(["check", "defs"], root, tmp_path, PYTHONPATH=str(root))
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "export rebilly/invoice_pdfs: format: pdf cannot become a table" in output

    listed = _dg(["list", "defs", "--json"], PROJECT, tmp_path)
    assert listed.returncode == 0, listed.stderr
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    for export in (
        "transactions_daily",
        "customers_daily",
        "subscriptions_daily",
        "invoices_weekly",
    ):
        assert {f"rebilly/{export}/request", f"rebilly/{export}/raw", f"rebilly/{export}"} <= keys
