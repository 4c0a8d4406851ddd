"""HiEnergy's request model and adapter: the documented fields, windows as whole days, mistakes named."""

from datetime import datetime

import pytest
from pydantic import ValidationError

from export_pipelines.vendors.base import Window
from export_pipelines.vendors.hienergy import ADAPTER
from export_pipelines.vendors.hienergy.request import HiEnergyRequest


def _window(start: str, end: str) -> Window:
    return Window(datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_the_documented_fields_pass_through_in_the_create_body() -> None:
    request = HiEnergyRequest.model_validate(
        {
            "report_type": "deals_excel",
            "search_params": {"network": "Impact", "min_commission": 5},
            "index_params": {"sort": "-epc"},
        }
    )
    assert ADAPTER.build_body(request, None) == {
        "report_type": "deals_excel",
        "search_params": {"network": "Impact", "min_commission": 5},
        "index_params": {"sort": "-epc"},
    }
    assert ADAPTER.build_body(HiEnergyRequest(report_type="advertisers_csv"), None) == {
        "report_type": "advertisers_csv"
    }


def test_a_partition_window_becomes_iso_dates_in_search_params() -> None:
    request = HiEnergyRequest.model_validate(
        {"report_type": "clicks_details_excel", "search_params": {"network": "CJ"}}
    )
    body = ADAPTER.build_body(
        request, _window("2024-03-04T00:00:00+00:00", "2024-03-11T00:00:00+00:00")
    )
    assert body["search_params"] == {
        "network": "CJ",
        "start_date": "2024-03-04",
        "end_date": "2024-03-11",
    }
    assert request.search_params == {"network": "CJ"}  # the declared request is left alone


def test_an_hourly_window_is_refused_because_the_vendor_filters_whole_days() -> None:
    request = HiEnergyRequest(report_type="clicks_details_excel")
    with pytest.raises(ValueError, match="not a UTC midnight"):
        ADAPTER.build_body(
            request, _window("2024-03-04T05:00:00+00:00", "2024-03-04T06:00:00+00:00")
        )


def test_an_unknown_report_type_or_field_is_named() -> None:
    with pytest.raises(ValidationError) as error:
        HiEnergyRequest.model_validate({"report_type": "deals_pdf"})
    assert error.value.errors()[0]["loc"] == ("report_type",)
    assert "advertisers_csv" in str(error.value)
    with pytest.raises(ValidationError) as error:
        HiEnergyRequest.model_validate({"report_type": "deals_excel", "serch_params": {}})
    assert error.value.errors()[0]["loc"] == ("serch_params",)


def test_a_partitioned_export_must_not_declare_its_own_window() -> None:
    request = HiEnergyRequest.model_validate(
        {"report_type": "deals_excel", "search_params": {"start_date": "2024-01-01"}}
    )
    with pytest.raises(ValueError, match=r"search_params\.start_date: remove it"):
        ADAPTER.check_request(request, partitioned=True, windowed_by_recurrence=False)
    ADAPTER.check_request(request, partitioned=False, windowed_by_recurrence=False)
    ADAPTER.check_request(
        HiEnergyRequest(report_type="deals_excel"), partitioned=False, windowed_by_recurrence=False
    )


def test_each_report_type_has_its_own_normalizer_and_file_kind() -> None:
    schemas = {
        report_type: ADAPTER.normalizer_for(HiEnergyRequest(report_type=report_type)).schema
        for report_type in (
            "advertisers_csv",
            "deals_excel",
            "hot_advertisers_excel",
            "clicks_details_excel",
        )
    }
    assert len({str(schema) for schema in schemas.values()}) == 4


def test_an_empty_part_of_a_chunked_report_fails_the_rows_check() -> None:
    assert ADAPTER.file_rows_problem({}, [5, 5, 2]) is None
    assert ADAPTER.file_rows_problem({}, [0]) is None  # an empty report is one empty file
    assert "part 1 of 3 holds no rows" in (ADAPTER.file_rows_problem({}, [5, 0, 2]) or "")


def test_windows_are_utc_dates_even_from_another_zone() -> None:
    request = HiEnergyRequest(report_type="deals_excel")
    # Midnight UTC written as 01:00 in Paris is still the UTC day 2024-03-04.
    body = ADAPTER.build_body(
        request, _window("2024-03-04T01:00:00+01:00", "2024-03-05T01:00:00+01:00")
    )
    assert (body["search_params"]["start_date"], body["search_params"]["end_date"]) == (
        "2024-03-04",
        "2024-03-05",
    )


def test_only_a_closed_date_window_makes_a_report_repeatable() -> None:
    window = _window("2024-03-04T00:00:00+00:00", "2024-03-05T00:00:00+00:00")
    current = HiEnergyRequest(report_type="hot_advertisers_excel")
    closed = HiEnergyRequest(
        report_type="deals_excel",
        search_params={"start_date": "2024-01-01", "end_date": "2024-02-01"},
    )
    assert ADAPTER.window_is_fixed(current, window)
    assert not ADAPTER.window_is_fixed(current, None)
    assert ADAPTER.window_is_fixed(closed, None)
