"""Enterpret's request model: every documented form accepted, mistakes named by field."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from export_pipelines.vendors.base import Window
from export_pipelines.vendors.enterpret import ADAPTER
from export_pipelines.vendors.enterpret.request import EnterpretRequest

SEED_EXAMPLE = {
    "listRecords": {
        "filter": {
            "operation": {
                "op": "AND",
                "params": [
                    {"filter": {"hasLabel": {"reason": True}}},
                    {
                        "operation": {
                            "op": "OR",
                            "params": [
                                {"filter": {"source": "ZendeskSupport"}},
                                {"filter": {"source": "Twitter"}},
                            ],
                        }
                    },
                ],
            }
        },
        "timerange": {"relative": {"unit": "Month", "value": "2"}},
    },
    "pageSize": "5000",
}


def test_the_vendor_examples_validate_and_submit_in_reference_form() -> None:
    request = EnterpretRequest.model_validate(SEED_EXAMPLE)
    body = request.body(None, None)
    assert body["pageSize"] == 5000
    assert body["listRecords"]["timerange"] == {"relative": {"value": 2, "unit": "Month"}}
    assert body["listRecords"]["filter"]["operation"]["params"][1]["operation"]["op"] == "OR"


def test_page_size_inside_list_records_as_the_sample_scripts_write_it() -> None:
    request = EnterpretRequest.model_validate(
        {"listRecords": {"pageSize": 5000, "timerange": {"relative": {"unit": "Day", "value": 30}}}}
    )
    assert request.body(None, None)["pageSize"] == 5000


def test_a_window_replaces_the_timerange_with_epoch_seconds() -> None:
    request = EnterpretRequest.model_validate({"pageSize": 10})
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    body = ADAPTER.build_body(request, Window(start, end))
    assert body == {
        "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709337600}},
        "pageSize": 10,
    }


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"pageSize": 10, "listRecords": {"filtre": {}}}, "listRecords.filtre"),
        ({"listRecords": {}}, "pageSize is required"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 5, "listRecords": {"pageSize": 6}}, "given twice"),
        (
            {"pageSize": 5, "listRecords": {"filter": {"operation": {"op": "XOR", "params": []}}}},
            "listRecords.filter.operation.op",
        ),
        (
            {
                "pageSize": 5,
                "listRecords": {"filter": {"filter": {"source": "a", "languageISO6393": "eng"}}},
            },
            "exactly one of",
        ),
        ({"pageSize": 5, "listRecords": {"filter": {}}}, "exactly one of filter, operation"),
        (
            {"pageSize": 5, "listRecords": {"filter": {"filter": {"hasLabel": {"reason": False}}}}},
            "hasLabel",
        ),
        (
            {
                "pageSize": 5,
                "listRecords": {"timerange": {"relative": {"unit": "Fortnight", "value": 1}}},
            },
            "listRecords.timerange.relative.unit",
        ),
        (
            {"pageSize": 5, "listRecords": {"timerange": {"startTime": 10}}},
            "both startTime and endTime",
        ),
        (
            {"pageSize": 5, "listRecords": {"timerange": {"startTime": 10, "endTime": 5}}},
            "after startTime",
        ),
        (
            {
                "pageSize": 5,
                "listRecords": {
                    "filter": {"filter": {"metadata": {"key": "Rating", "value": 1, "op": "NE"}}}
                },
            },
            "metadata.op",
        ),
    ],
)
def test_mistakes_are_named(document: dict, where: str) -> None:
    with pytest.raises(ValidationError) as error:
        EnterpretRequest.model_validate(document)
    assert where in str(error.value)


def test_partitioned_exports_refuse_their_own_timerange() -> None:
    request = EnterpretRequest.model_validate(SEED_EXAMPLE)
    with pytest.raises(ValueError, match="timerange"):
        ADAPTER.check_request(request, partitioned=True, windowed_by_recurrence=False)
    bare = EnterpretRequest.model_validate({"pageSize": 1})
    with pytest.raises(ValueError, match="needs one"):
        ADAPTER.check_request(bare, partitioned=False, windowed_by_recurrence=False)
    ADAPTER.check_request(bare, partitioned=False, windowed_by_recurrence=True)
    with pytest.raises(ValueError, match="takes its window from its recurrence"):
        ADAPTER.build_body(bare, None)


def test_relative_bodies_are_not_fixed_windows() -> None:
    request = EnterpretRequest.model_validate(SEED_EXAMPLE)
    assert not ADAPTER.window_is_fixed(request, None)
    start, end = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    assert ADAPTER.window_is_fixed(request, Window(start, end))


def test_file_row_rule_follows_page_size() -> None:
    body = {"pageSize": 5}
    assert ADAPTER.file_rows_problem(body, [5, 5, 2]) is None
    assert ADAPTER.file_rows_problem(body, [5, 4, 2]) is not None
    assert ADAPTER.file_rows_problem(body, [6]) is not None
    assert ADAPTER.file_rows_problem(body, [5, 0]) is not None
