"""HiEnergy's generator and file writers without HTTP: determinism, filters, windows, memory."""

import tracemalloc
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from export_pipelines.decisions.hienergy import REPORT_TYPES
from export_pipelines.sandbox.hienergy.generator import (
    COLUMNS,
    DATE_COLUMNS,
    GeneratorParams,
    HiEnergyGenerator,
)
from export_pipelines.sandbox.hienergy.report_files import write_report_file
from export_pipelines.sandbox.hienergy.search import Search, SearchError, as_moment, parse_search
from export_pipelines_tests.sandbox.hienergy_helpers import xlsx_rows

PARAMS = GeneratorParams(
    seed=5,
    advertiser_count=500,
    deal_count=800,
    click_count=20_000,
    dataset_start=date(2024, 1, 1),
    dataset_end=date(2025, 1, 1),
)


@pytest.fixture(scope="module")
def generator() -> HiEnergyGenerator:
    return HiEnergyGenerator(PARAMS)


@pytest.mark.parametrize("report_type", REPORT_TYPES)
def test_rows_are_deterministic_typed_and_counted(
    generator: HiEnergyGenerator, report_type: str
) -> None:
    rows = list(generator.rows(report_type, Search()))
    again = list(
        HiEnergyGenerator(GeneratorParams.from_dict(PARAMS.as_dict())).rows(report_type, Search())
    )
    assert rows == again
    assert generator.count(report_type, Search()) == len(rows) > 0
    for name, kind in COLUMNS[report_type]:
        assert all(type(row[name]) is kind for row in rows), name
    ids = [row["id"] for row in rows]
    assert ids == sorted(set(ids))
    other_seed = HiEnergyGenerator(GeneratorParams(**{**PARAMS.__dict__, "seed": 6}))
    assert list(other_seed.rows(report_type, Search())) != rows


def test_clicks_are_in_time_order_inside_the_dataset(generator: HiEnergyGenerator) -> None:
    times = [row["clicked_at"] for row in generator.rows("clicks_details_excel", Search())]
    assert times == sorted(times)
    assert times[0] >= datetime(2024, 1, 1, tzinfo=UTC)
    assert times[-1] < datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("report_type", REPORT_TYPES)
@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-03-01", "2024-03-02"), ("2024-02-10", "2024-06-01"), ("2024-05-05T06:00:00Z", None)],
)
def test_window_is_start_inclusive_end_exclusive_on_the_date_column(
    generator: HiEnergyGenerator, report_type: str, start: str, end: str | None
) -> None:
    params = {"start_date": start, "end_date": end}
    search = parse_search(report_type, params)
    got = list(generator.rows(report_type, search))
    column = DATE_COLUMNS[report_type]
    lower = (
        as_moment(datetime.fromisoformat(start))
        if "T" in start
        else as_moment(date.fromisoformat(start))
    )
    upper = None if end is None else as_moment(date.fromisoformat(end))
    everything = generator.rows(report_type, Search())
    wanted = [
        row
        for row in everything
        if as_moment(row[column]) >= lower and (upper is None or as_moment(row[column]) < upper)
    ]
    assert got == wanted
    assert generator.count(report_type, search) == len(got)


def test_a_day_of_clicks_is_exactly_the_clicks_of_that_day(generator: HiEnergyGenerator) -> None:
    days = [("2024-07-01", "2024-07-02"), ("2024-07-02", "2024-07-03")]
    both = list(
        generator.rows(
            "clicks_details_excel",
            parse_search(
                "clicks_details_excel", {"start_date": "2024-07-01", "end_date": "2024-07-03"}
            ),
        )
    )
    split = [
        row
        for start, end in days
        for row in generator.rows(
            "clicks_details_excel",
            parse_search("clicks_details_excel", {"start_date": start, "end_date": end}),
        )
    ]
    assert split == both and len(both) > 50
    assert {row["clicked_at"].date() for row in both} == {date(2024, 7, 1), date(2024, 7, 2)}


@pytest.mark.parametrize(
    ("report_type", "params", "check"),
    [
        ("advertisers_csv", {"network": "awin"}, lambda r: r["network"] == "Awin"),
        ("advertisers_csv", {"country": ["GB", "de"]}, lambda r: r["country"] in ("GB", "DE")),
        ("advertisers_csv", {"min_epc": 3}, lambda r: r["epc"] >= 3),
        ("advertisers_csv", {"q": "LAB"}, lambda r: "lab" in (r["name"] + r["domain"]).lower()),
        ("advertisers_csv", {"advertiser_id": [1000, 1001]}, lambda r: r["id"] in (1000, 1001)),
        ("deals_excel", {"exclusive": True}, lambda r: r["exclusive"] is True),
        ("deals_excel", {"deal_type": "coupon"}, lambda r: r["code"] != ""),
        ("hot_advertisers_excel", {"min_trend_score": 95}, lambda r: r["trend_score"] >= 95),
        ("clicks_details_excel", {"converted": True}, lambda r: r["sale_amount"] > 0),
        (
            "clicks_details_excel",
            {"device": "tablet", "currency": "EUR"},
            lambda r: r["device"] == "tablet" and r["currency"] == "EUR",
        ),
    ],
)
def test_search_params_filter_exactly(
    generator: HiEnergyGenerator, report_type: str, params: dict[str, object], check: object
) -> None:
    assert callable(check)
    got = list(generator.rows(report_type, parse_search(report_type, params)))
    everything = list(generator.rows(report_type, Search()))
    assert got == [row for row in everything if check(row)]
    assert 0 < len(got) < len(everything)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"netwrok": "Awin"}, "search_params.netwrok"),
        ({"network": 3}, "search_params.network"),
        ({"network": []}, "search_params.network"),
        ({"advertiser_id": "1000"}, "search_params.advertiser_id"),
        ({"advertiser_id": True}, "search_params.advertiser_id"),
        ({"q": ""}, "search_params.q"),
        ({"start_date": 20240101}, "search_params.start_date"),
    ],
)
def test_bad_search_params_name_the_key(params: dict[str, object], field: str) -> None:
    with pytest.raises(SearchError) as raised:
        parse_search("advertisers_csv", params)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_null_search_params_count_as_absent(generator: HiEnergyGenerator) -> None:
    search = parse_search("deals_excel", {"network": None, "start_date": None})
    assert search.is_empty


def test_xlsx_is_written_streaming_in_bounded_memory(tmp_path: Path) -> None:
    generator = HiEnergyGenerator(GeneratorParams(**{**PARAMS.__dict__, "click_count": 1_000_000}))
    search = parse_search(
        "clicks_details_excel", {"start_date": "2024-03-01", "end_date": "2024-03-03"}
    )
    path = tmp_path / "clicks.xlsx"
    columns = [name for name, _ in COLUMNS["clicks_details_excel"]]
    tracemalloc.start()
    try:
        count = write_report_file(
            path,
            "clicks_details_excel",
            columns,
            generator.rows("clicks_details_excel", search),
            lambda: False,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == generator.count("clicks_details_excel", search) > 5_000
    rows = xlsx_rows(path.read_bytes())
    assert len(rows) == count
    # Holding the rows (a dozen cells each) would take far more than a few MB.
    assert peak < 8_000_000, peak
    assert not list(tmp_path.glob(".*partial"))


def test_a_stopped_write_leaves_no_file(tmp_path: Path, generator: HiEnergyGenerator) -> None:
    from export_pipelines.sandbox.hienergy.report_files import WriteStopped

    path = tmp_path / "deals.xlsx"
    columns = [name for name, _ in COLUMNS["deals_excel"]]
    with pytest.raises(WriteStopped):
        write_report_file(
            path, "deals_excel", columns, generator.rows("deals_excel", Search()), lambda: True
        )
    assert list(tmp_path.iterdir()) == []
