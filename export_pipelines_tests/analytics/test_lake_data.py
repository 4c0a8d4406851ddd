"""HiEnergy, HelloData and Connhex analytics over export tables written by the test, figures by hand.

The tables are small and typed as the catalog's (decimal money, date32 days, Connhex's long
schema); the expected league, rents and device days are worked out here with ``Decimal``, plain
arithmetic and ``statistics``.
"""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from export_pipelines.analytics.assets import compute_partition
from export_pipelines.analytics.metadata import png_bytes
from export_pipelines.analytics.vendors import connhex, hellodata, hienergy
from export_pipelines.lake import LakeResource
from export_pipelines.vendors.connhex.records import LONG
from export_pipelines_tests.analytics.connhex_expected import expected_series, result_series
from export_pipelines_tests.analytics.lake_tables import write_table

MONEY = pa.decimal128(18, 2)
CLICKS = pa.schema(
    [
        ("id", pa.int64()),
        ("clicked_at", pa.timestamp("ms", tz="UTC")),
        ("advertiser_id", pa.int64()),
        ("advertiser_name", pa.string()),
        ("network", pa.string()),
        ("converted", pa.bool_()),
        ("sale_amount", MONEY),
        ("commission_amount", MONEY),
        ("currency", pa.string()),
    ]
)
DEALS = pa.schema(
    [
        ("id", pa.int64()),
        ("advertiser_id", pa.int64()),
        ("deal_type", pa.string()),
        ("starts_on", pa.date32()),
    ]
)
SURVEY = pa.schema(
    [
        ("msa", pa.string()),
        ("as_of_month", pa.date32()),
        ("asking_rent_avg", pa.float64()),
        ("effective_rent_avg", pa.float64()),
        ("number_units_sum", pa.int64()),
        ("number_units_max", pa.int64()),
    ]
)
ADVERTISERS = [(1, "Acme", "cj", "USD"), (2, "Bolt", "impact", "USD"), (3, "Cove", "awin", "EUR")]


@pytest.fixture
def lake(tmp_path: Path) -> LakeResource:
    return LakeResource(root=str(tmp_path))


def _clicks(day: date, rng: random.Random, first_id: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(rng.randint(20, 40)):
        advertiser, name, network, currency = rng.choice(ADVERTISERS)
        converted = rng.random() < 0.3
        sale = Decimal(rng.randint(1000, 20000)) / 100 if converted else None
        rows.append(
            {
                "id": first_id + n,
                "clicked_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                "advertiser_id": advertiser,
                "advertiser_name": name,
                "network": network,
                "converted": converted,
                "sale_amount": sale,
                "commission_amount": (sale * Decimal("0.08")).quantize(Decimal("0.01"))
                if sale
                else None,
                "currency": currency,
            }
        )
    return rows


def test_hienergy_league_ranks_advertisers_by_commission_within_currency(
    lake: LakeResource,
) -> None:
    rng = random.Random(12)
    clicks: list[dict[str, Any]] = []
    for day in (date(2024, 3, 4), date(2024, 3, 5)):
        rows = _clicks(day, rng, len(clicks))
        clicks += rows
        write_table(lake, "hienergy", "clicks_daily", day.isoformat(), rows, CLICKS)
    # The week of 2024-02-25 straddles February and March: only its March deals count.
    deals = [
        {"id": 1, "advertiser_id": 1, "deal_type": "coupon", "starts_on": date(2024, 2, 28)},
        {"id": 2, "advertiser_id": 1, "deal_type": "coupon", "starts_on": date(2024, 3, 1)},
        {"id": 3, "advertiser_id": 3, "deal_type": "sale", "starts_on": date(2024, 3, 2)},
    ]
    write_table(lake, "hienergy", "coupon_deals_weekly", "2024-02-25", deals, DEALS)

    spec = hienergy.SPECS[0]
    inputs, computed = compute_partition(spec, lake, "2024-03-01")

    totals: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"clicks": 0, "conv": 0, "c": Decimal(0)}
    )
    for row in clicks:
        t = totals[row["advertiser_id"]]
        t["clicks"] += 1
        t["conv"] += row["converted"]
        t["c"] += row["commission_amount"] or 0
    league = computed.frame.set_index("advertiser_id")
    assert set(league.index) == set(totals)
    for advertiser, t in totals.items():
        row = league.loc[advertiser]
        assert row["clicks"] == t["clicks"]
        assert row["conversions"] == t["conv"]
        assert row["commission"] == t["c"]
        assert row["epc"] == pytest.approx(float(t["c"]) / t["clicks"])
    usd = sorted((a for a in totals if a != 3), key=lambda a: -totals[a]["c"])
    assert [league.loc[a, "rank"] for a in usd] == [1, 2]
    assert league.loc[3, "rank"] == 1  # EUR is its own league
    assert league.loc[3, "commission_share"] == pytest.approx(1.0)
    assert league.loc[1, "deals_started"] == 1  # the February deal belongs to February
    assert league.loc[3, "deals_started"] == 1
    assert inputs.tables["clicks_daily"].found == ("2024-03-04", "2024-03-05")
    assert len(inputs.tables["clicks_daily"].missing) == 29
    assert spec.check(inputs, computed) == []
    assert spec.chart is not None
    figure = spec.chart(computed.frame)
    assert figure is not None and png_bytes(figure).startswith(b"\x89PNG")


def test_hienergy_check_fails_when_shares_or_ranks_break(lake: LakeResource) -> None:
    rows = _clicks(date(2024, 3, 4), random.Random(3), 0)
    write_table(lake, "hienergy", "clicks_daily", "2024-03-04", rows, CLICKS)
    spec = hienergy.SPECS[0]
    inputs, computed = compute_partition(spec, lake, "2024-03-01")
    computed.frame.loc[0, "commission_share"] += 0.1
    computed.frame.loc[0, "rank"] = 7
    computed.frame.loc[0, "clicks"] += 1
    problems = " | ".join(spec.check(inputs, computed))
    assert "shares sum to" in problems
    assert "ranks" in problems
    assert "clicks in the league" in problems


def _survey(month: date, rents: dict[str, tuple[float, float, int, int]]) -> list[dict[str, Any]]:
    return [
        {
            "msa": msa,
            "as_of_month": month,
            "asking_rent_avg": asking,
            "effective_rent_avg": effective,
            "number_units_sum": units,
            "number_units_max": largest,
        }
        for msa, (asking, effective, units, largest) in rents.items()
    ]


APRIL = {"Atlanta, GA": (1800.0, 1750.0, 900, 310), "Nashville, TN": (1650.0, 1640.0, 600, 220)}
MAY = {
    "Atlanta, GA": (1836.0, 1782.0, 950, 310),
    "Nashville, TN": (1617.0, 1617.0, 620, 220),
    "Memphis, TN": (1200.0, 1150.0, 300, 96),
}


def test_hellodata_rent_by_market_month_over_month(lake: LakeResource) -> None:
    write_table(
        lake,
        "hellodata",
        "rent_survey_by_market",
        "2024-04-01",
        _survey(date(2024, 4, 1), APRIL),
        SURVEY,
    )
    write_table(
        lake,
        "hellodata",
        "rent_survey_by_market",
        "2024-05-01",
        _survey(date(2024, 5, 1), MAY),
        SURVEY,
    )
    spec = hellodata.SPECS[0]
    inputs, computed = compute_partition(spec, lake, "2024")
    assert inputs.tables["rent_survey_by_market"].found == ("2024-04-01", "2024-05-01")
    assert len(inputs.tables["rent_survey_by_market"].missing) == 10
    frame = computed.frame.set_index(["month", "msa"])
    assert len(frame) == 5
    may = frame.loc["2024-05"]
    assert may.loc["Atlanta, GA", "asking_rent_mom"] == pytest.approx(1836 / 1800 - 1)
    assert may.loc["Nashville, TN", "effective_rent_mom"] == pytest.approx(1617 / 1640 - 1)
    assert may.loc["Atlanta, GA", "concession"] == pytest.approx(54.0)
    assert may.loc["Nashville, TN", "concession"] == 0
    assert pd_isna(may.loc["Memphis, TN", "asking_rent_mom"])  # new market: no previous month
    assert frame.loc["2024-04"]["asking_rent_mom"].isna().all()  # March is not in the lake
    figures = spec.headline(computed.frame)  # the latest month, May
    assert figures["markets"] == 3
    assert figures["median_asking_rent"] == pytest.approx(1617.0)
    assert figures["median_concession"] == pytest.approx(50.0)
    assert figures["unit_weighted_effective_rent"] == pytest.approx(
        (1782 * 950 + 1617 * 620 + 1150 * 300) / (950 + 620 + 300)
    )
    assert figures["units"] == 1870
    assert spec.check(inputs, computed) == []
    assert spec.chart is not None
    figure = spec.chart(computed.frame)
    assert figure is not None and png_bytes(figure).startswith(b"\x89PNG")


def test_hellodata_check_fails_on_a_negative_concession(lake: LakeResource) -> None:
    broken = {**APRIL, "Atlanta, GA": (1700.0, 1750.0, 900, 310)}
    write_table(
        lake,
        "hellodata",
        "rent_survey_by_market",
        "2024-04-01",
        _survey(date(2024, 4, 1), broken),
        SURVEY,
    )
    spec = hellodata.SPECS[0]
    inputs, computed = compute_partition(spec, lake, "2024")
    assert spec.check(inputs, computed) == ["effective rent above asking rent in ['Atlanta, GA']"]


def pd_isna(value: object) -> bool:
    return value != value  # NaN is the only value unequal to itself


def test_a_partition_with_no_export_in_the_lake_is_a_clear_error(lake: LakeResource) -> None:
    with pytest.raises(ValueError, match=r"none of the partitions .* is in the lake"):
        compute_partition(hienergy.SPECS[0], lake, "2024-06-01")


def test_the_week_before_the_catalog_start_is_simply_not_an_upstream(lake: LakeResource) -> None:
    spec = hienergy.SPECS[0]
    deals = spec.upstreams[1]
    assert deals.partitions_for("2024-01-01", spec.partitions_def)[0] == "2024-01-07"
    clicks = spec.upstreams[0]
    assert len(clicks.partitions_for("2024-02-01", spec.partitions_def)) == 29
    assert (date(2024, 1, 7) - timedelta(days=7)).isoformat() not in deals.partitions_for(
        "2024-01-01", spec.partitions_def
    )


DEVICE_A, DEVICE_B = "urn:chx:device:sensor-001", "urn:chx:device:sensor-002"
CHANNEL = "d8b44f95-abdd-5f8d-891f-70b33b770749"
DEVICE_DAY = datetime(2024, 3, 4, tzinfo=UTC)
#: Hours 3 and 4 of the day are not exported (nor 6 to 23).
EXPORTED_HOURS = (0, 1, 2, 5)


def _point(device: str, name: str, hour: int, minute: int, value: float | None) -> dict[str, Any]:
    return {
        "time": DEVICE_DAY + timedelta(hours=hour, minutes=minute),
        "publisher": device,
        "channel": CHANNEL,
        "name": name,
        "unit": "°C" if name == "temperature" else "%",
        "value": value,
    }


def _device_points() -> list[dict[str, Any]]:
    """A's temperature every 10 minutes but silent in hour 1; A's humidity every 10 minutes with
    one empty value; B's temperature twice, in hours 0 and 5 only."""
    points = [
        _point(DEVICE_A, "temperature", hour, minute, 20 + hour + minute / 100)
        for hour in (0, 2, 5)
        for minute in range(0, 60, 10)
    ]
    points += [
        _point(
            DEVICE_A, "humidity", hour, minute, None if (hour, minute) == (1, 30) else 40.0 + minute
        )
        for hour in EXPORTED_HOURS
        for minute in range(0, 60, 10)
    ]
    points += [
        _point(DEVICE_B, "temperature", 0, 5, 19.5),
        _point(DEVICE_B, "temperature", 5, 30, 21.0),
    ]
    return points


def _write_device_hours(lake: LakeResource, points: list[dict[str, Any]]) -> None:
    rng = random.Random(7)
    for hour in EXPORTED_HOURS:
        rows = [p for p in points if p["time"].hour == hour]
        rng.shuffle(rows)  # the raw long file is in arrival order, not time order
        partition = f"{DEVICE_DAY:%Y-%m-%d}-{hour:02d}:00"
        write_table(lake, "connhex", "raw_points_hourly", partition, rows, LONG.arrow())


def test_connhex_device_day_gaps_and_silent_hours_within_the_exported_hours(
    lake: LakeResource,
) -> None:
    points = _device_points()
    _write_device_hours(lake, points)
    spec = connhex.SPECS[0]
    inputs, computed = compute_partition(spec, lake, "2024-03-04")
    assert len(inputs.tables["raw_points_hourly"].found) == len(EXPORTED_HOURS)
    assert len(inputs.tables["raw_points_hourly"].missing) == 24 - len(EXPORTED_HOURS)

    expected = expected_series(
        points, DEVICE_DAY, set(EXPORTED_HOURS), connhex.GAP_THRESHOLD_SECONDS
    )
    assert result_series(computed.frame) == expected
    a_temperature = expected[(DEVICE_A, CHANNEL, "temperature")]
    # 00:50 to 02:00 is the gap; 02:50 to 05:00 spans hours not exported and is no interval.
    assert a_temperature["largest_gap_seconds"] == 70 * 60
    assert a_temperature["gaps_over_threshold"] == 1
    assert a_temperature["silent_hours"] == [1]
    assert expected[(DEVICE_A, CHANNEL, "humidity")]["values"] == 23
    assert expected[(DEVICE_B, CHANNEL, "temperature")]["largest_gap_seconds"] is None
    assert expected[(DEVICE_B, CHANNEL, "temperature")]["silent_hours"] == [1, 2]

    figures = spec.headline(computed.frame)
    assert figures["devices"] == 2
    assert figures["points"] == len(points)
    assert figures["devices_with_gaps"] == 2
    assert figures["gaps_over_threshold"] == 1
    assert figures["largest_gap_seconds"] == 70 * 60
    # A's hour 1 still has humidity; B, one series, is silent in hours 1 and 2.
    assert figures["silent_device_hours"] == 2
    assert figures["silent_series_hours"] == 3
    assert spec.check(inputs, computed) == []
    assert spec.chart is not None
    figure = spec.chart(computed.frame)
    assert figure is not None and png_bytes(figure).startswith(b"\x89PNG")
