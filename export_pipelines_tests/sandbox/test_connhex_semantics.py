"""What a Connhex item's file holds, checked against computations of the tests' own: pandas
resamples of the generator's raw points for every ``dsf`` and for ``delta``, timestamps in a zone
across a DST change, long against wide, the window rules, csv delimiter and xlsx."""

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pandas as pd
import pytest
import python_calamine

from export_pipelines.decisions import connhex as decisions
from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.connhex import ConnhexGenerator
from export_pipelines.sandbox.connhex.item_files import number_texts
from export_pipelines_tests.sandbox.connhex_helpers import (
    HOUR,
    T0,
    api_client,
    body,
    complete,
    control_client,
    create,
    download,
    export_rows,
    generator_of,
    item,
    start_server,
)

#: 2024-03-30T22:00Z … 2024-03-31T04:00Z: Europe/Rome goes from +01:00 to +02:00 at 01:00Z.
DST_START, DST_END = 1_711_836_000, 1_711_857_600
PANDAS_DSF = {
    "avg": lambda r: r.mean(),
    "max": lambda r: r.max(),
    "min": lambda r: r.min(),
    "sum": lambda r: r.sum(),
    "stddev": lambda r: r.std(ddof=0),
    "variance": lambda r: r.var(ddof=0),
}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    running = start_server(queued_seconds=1200, completion_delay_seconds=0, points_per_hour=30)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with api_client(server) as client:
        yield client


@pytest.fixture
def control(server: SandboxServer) -> Iterator[httpx.Client]:
    with control_client(server) as client:
        client.delete("/exports").raise_for_status()
        yield client


@pytest.fixture
def generator(control: httpx.Client) -> ConnhexGenerator:
    return generator_of(control)


def raw(generator: ConnhexGenerator, publisher: int, channel: int, start: int, end: int):
    """The raw points, one Series per variable indexed by UTC time, from the generator."""
    frame = generator.frame([publisher], channel, range(4), start, end)
    return {
        name: pd.Series(
            group["value"].to_numpy(), index=pd.to_datetime(group["time"], unit="s", utc=True)
        ).sort_index()
        for name, group in frame.groupby("name")
    }


def pandas_decimated(series: pd.Series, rule: str, dsf: str) -> pd.Series:
    """Epoch-aligned buckets, labelled by their start; empty buckets dropped."""
    resampler = series.resample(rule, origin="epoch", label="left", closed="left")
    counts = resampler.count()
    return PANDAS_DSF[dsf](resampler)[counts > 0]


def file_series(rows: list[list[str]]) -> dict[str, pd.Series]:
    """Long csv rows (header first) as one Series per variable indexed by UTC time."""
    header, *lines = rows
    assert header == list(decisions.LONG_COLUMNS)
    frame = pd.DataFrame(lines, columns=header)
    frame["time"] = pd.to_datetime(frame["time"], format="ISO8601", utc=True)
    frame["value"] = frame["value"].astype(float)
    return {
        name: pd.Series(group["value"].to_numpy(), index=pd.DatetimeIndex(group["time"]))
        for name, group in frame.groupby("name")
    }


def assert_same(got: dict[str, pd.Series], expected: dict[str, pd.Series]) -> None:
    assert sorted(got) == sorted(expected)
    for name, series in expected.items():
        assert list(got[name].index) == list(series.index), name
        assert got[name].to_numpy() == pytest.approx(series.to_numpy(), rel=1e-12, abs=1e-9), name


@pytest.mark.parametrize("dsf", decisions.DSF_FUNCTIONS)
def test_decimation_matches_a_pandas_resample(
    dsf: str, api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    start, end = T0 + 7 * 60 + 13, T0 + 9 * HOUR + 50 * 60
    params = {"from": start, "to": end, "decimation": {"ds": "15m", "dsf": dsf}}
    _, rows = export_rows(api, control, body([item(generator, 2, 1, **params)]))
    expected = {
        name: pandas_decimated(series, "15min", dsf)
        for name, series in raw(generator, 2, 1, start, end).items()
    }
    assert_same(file_series(rows), expected)
    # The first bucket starts before ``from``: buckets are aligned to the epoch, not the window.
    assert min(file_series(rows)["power"].index).timestamp() == T0


def test_a_one_point_bucket_has_zero_spread(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {"from": T0, "to": T0 + 2 * HOUR, "decimation": {"ds": "1s", "dsf": "stddev"}}
    _, rows = export_rows(api, control, body([item(generator, **params)]))
    assert {row[5] for row in rows[1:]} == {"0"}


def test_delta_of_raw_points_is_the_time_ordered_difference(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    start, end = T0, T0 + 6 * HOUR
    params = {"from": start, "to": end, "transform": "delta"}
    _, rows = export_rows(api, control, body([item(generator, 1, 0, **params)]))
    expected = {name: s.diff().iloc[1:] for name, s in raw(generator, 1, 0, start, end).items()}
    assert_same(file_series(rows), expected)
    assert (file_series(rows)["energy"] > 0).all()  # a meter only grows


@pytest.mark.parametrize("dsf", ["avg", "sum"])
def test_delta_comes_after_decimation(
    dsf: str, api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    start, end = T0 - 2 * 86_400, T0 + 86_400  # several of the sandbox's day chunks
    params = {
        "from": start,
        "to": end,
        "decimation": {"ds": "1h", "dsf": dsf},
        "transform": "delta",
    }
    _, rows = export_rows(api, control, body([item(generator, 0, 1, **params)]))
    expected = {
        name: pandas_decimated(series, "1h", dsf).diff().iloc[1:]
        for name, series in raw(generator, 0, 1, start, end).items()
    }
    assert_same(file_series(rows), expected)


def test_weekly_buckets_are_aligned_to_the_epoch(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    start, end = T0 - 20 * 86_400, T0 + 3 * 86_400
    params = {"from": start, "to": end, "decimation": {"ds": "1w", "dsf": "max"}}
    _, rows = export_rows(api, control, body([item(generator, **params)]))
    got = file_series(rows)
    week = 604_800
    assert {t.timestamp() % week for t in got["temperature"].index} == {0}  # Thursdays 00:00Z
    expected = {
        name: series.groupby([int(t.timestamp()) // week * week for t in series.index]).max()
        for name, series in raw(generator, 0, 0, start, end).items()
    }
    for name, series in expected.items():
        assert [t.timestamp() for t in got[name].index] == list(series.index)
        assert list(got[name]) == pytest.approx(list(series))


def test_a_window_across_the_dst_change_in_rome(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {
        "from": DST_START,
        "to": DST_END,
        "decimation": {"ds": "30m", "dsf": "avg"},
        "transform": "delta",
    }
    request = body([item(generator, 1, 1, **params)], fmt={"timezone": "Europe/Rome"})
    _, rows = export_rows(api, control, request)
    texts = [row[4] for row in rows[1:] if row[2] == "humidity"]
    assert texts[0] == "2024-03-30T23:30:00+01:00"  # 22:00Z's bucket is dropped by delta
    assert "2024-03-31T01:30:00+01:00" in texts and "2024-03-31T03:00:00+02:00" in texts
    assert not any(text.startswith("2024-03-31T02:") for text in texts)  # the hour that is not
    rome = ZoneInfo("Europe/Rome")
    for text in texts:
        moment = datetime.fromisoformat(text)
        assert moment.utcoffset() == moment.astimezone(rome).utcoffset()
    expected = {
        name: pandas_decimated(series, "30min", "avg").diff().iloc[1:]
        for name, series in raw(generator, 1, 1, DST_START, DST_END).items()
    }
    assert_same(file_series(rows), expected)


def test_daily_buckets_are_utc_days_written_in_the_zone(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {"from": T0, "to": T0 + 3 * 86_400, "decimation": {"ds": "1d", "dsf": "min"}}
    request = body([item(generator, **params)], fmt={"timezone": "America/New_York"})
    _, rows = export_rows(api, control, request)
    assert sorted({row[4] for row in rows[1:]}) == [
        "2024-03-09T19:00:00-05:00",
        "2024-03-10T20:00:00-04:00",  # New York moved to summer time on 2024-03-10
        "2024-03-11T20:00:00-04:00",
    ]


def test_window_is_from_inclusive_to_exclusive(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    frame = generator.frame([0], 0, range(4), T0, T0 + HOUR)
    first, last = int(frame["time"].min()), int(frame["time"].max())
    _, rows = export_rows(api, control, body([item(generator, **{"from": first, "to": last})]))
    times = {datetime.fromisoformat(row[4]).timestamp() for row in rows[1:]}
    assert first in times and last not in times
    assert len(rows) - 1 == int(((frame["time"] >= first) & (frame["time"] < last)).sum())


def test_period_alone_ends_at_the_run_time_and_from_to_win_over_it(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    request = body(
        [
            item(generator, period="PT2H"),
            item(generator, period="P1M"),
            item(generator, period="PT2H", **{"from": T0, "to": T0 + HOUR}),
        ]
    )
    created = create(api, request)
    summary = complete(control, created["id"])
    created_at = datetime.fromisoformat(created["createdAt"]).timestamp()
    jobs = summary["jobs"]
    run_time = jobs[0]["runTime"]
    assert run_time == int(created_at)
    assert (jobs[0]["windowStart"], jobs[0]["windowEnd"]) == (run_time - 2 * HOUR, run_time)
    month_before = datetime.fromtimestamp(run_time, UTC)
    month_before = month_before.replace(
        year=month_before.year - (month_before.month == 1),
        month=(month_before.month - 2) % 12 + 1,
    )
    assert jobs[1]["windowStart"] == month_before.timestamp()
    assert (jobs[2]["windowStart"], jobs[2]["windowEnd"]) == (T0, T0 + HOUR)
    members = download(api, created["id"])
    rows = [line.split(",") for line in members["export-0.csv"].decode().splitlines()[1:]]
    times = [datetime.fromisoformat(row[4]).timestamp() for row in rows]
    assert rows and run_time - 2 * HOUR <= min(times) and max(times) < run_time


def test_long_and_wide_agree(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {"from": T0, "to": T0 + 8 * HOUR, "decimation": {"ds": "15m", "dsf": "avg"}}
    columns = [
        {"id": "temperature", "label": "Temperature (°C)"},
        {"id": "energy", "label": "Energy"},
        {"id": "pressure", "label": "Pressure"},
    ]
    request = body(
        [
            item(generator, 2, 0, **params, filename="long"),
            item(generator, 2, 0, **params, outputFormat="wide", filename="wide"),
        ],
        fmt={"columns": columns, "timezone": "Asia/Kolkata", "csvDelimiter": ";"},
    )
    created = create(api, request)
    complete(control, created["id"])
    members = download(api, created["id"])
    assert list(members) == ["long.csv", "wide.csv"]
    long_rows = [line.split(";") for line in members["long.csv"].decode().splitlines()]
    wide_rows = [line.split(";") for line in members["wide.csv"].decode().splitlines()]
    assert wide_rows[0] == ["time", "Temperature (°C)", "Energy", "Pressure"]
    from_long = {
        (row[4], row[2]): row[5] for row in long_rows[1:] if row[2] in ("temperature", "energy")
    }
    from_wide = {}
    for row in wide_rows[1:]:
        assert row[0].endswith("+05:30")
        assert row[3] == ""  # no such variable: an empty column
        for name, cell in (("temperature", row[1]), ("energy", row[2])):
            if cell:
                from_wide[(row[0], name)] = cell
    assert from_wide == from_long and len(from_wide) > 50
    times = [row[0] for row in wide_rows[1:]]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all("." in row[5] or row[5].isdigit() for row in long_rows[1:])  # dots, not commas


def test_wide_raw_points_leave_cells_empty_where_a_variable_has_no_point(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    columns = [{"id": "power", "label": "P"}, {"id": "humidity", "label": "H"}]
    params = {"from": T0, "to": T0 + 3 * HOUR, "outputFormat": "wide"}
    request = body([item(generator, **params)], fmt={"columns": columns})
    _, rows = export_rows(api, control, request)
    frame = generator.frame([0], 0, [1, 2], T0, T0 + 3 * HOUR)
    assert len(rows) - 1 == frame["time"].nunique()
    assert any(row[1] == "" for row in rows[1:]) and any(row[2] == "" for row in rows[1:])
    power = {
        datetime.fromisoformat(row[0]).timestamp(): float(row[1]) for row in rows[1:] if row[1]
    }
    expected = frame[frame["name"] == "power"]
    assert power == dict(zip(expected["time"], expected["value"], strict=True))


def test_target_labels_replace_the_device_urns(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    targets = f"{generator.publishers[0]},{generator.publishers[2]},urn:chx:device:unknown"
    params = {
        "target": {"value": targets, "label": "Kitchen,Cellar,Nowhere"},
        "from": T0,
        "to": T0 + HOUR,
    }
    _, rows = export_rows(api, control, body([item(generator, **params)]))
    assert {row[0] for row in rows[1:]} == {"Kitchen", "Cellar"}
    assert {row[1] for row in rows[1:]} == {generator.channels[0]}


def test_another_subtopic_exports_an_empty_file(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {"subtopic": "events.alarms", "from": T0, "to": T0 + HOUR}
    _, rows = export_rows(api, control, body([item(generator, **params)]))
    assert rows == [list(decisions.LONG_COLUMNS)]


def test_xlsx_holds_the_same_rows_as_csv(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {"from": T0, "to": T0 + 4 * HOUR, "decimation": {"ds": "10m", "dsf": "variance"}}
    _, csv_rows_ = export_rows(api, control, body([item(generator, 1, 1, **params)]))
    created = create(api, body([item(generator, 1, 1, **params)], fmt={"extension": "xlsx"}))
    complete(control, created["id"])
    content = download(api, created["id"])["export.xlsx"]
    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content))
    header, *lines = sheet.get_sheet_by_name("export").to_python()
    assert header == csv_rows_[0]
    assert len(lines) == len(csv_rows_) - 1
    for line, row in zip(lines, csv_rows_[1:], strict=True):
        assert list(line[:5]) == row[:5]
        assert line[5] == pytest.approx(float(row[5]), rel=1e-15)


def test_cells_holding_the_delimiter_or_quotes_are_quoted(
    api: httpx.Client, control: httpx.Client, generator: ConnhexGenerator
) -> None:
    params = {
        "target": {"value": generator.publishers[0], "label": 'Hall; "north"'},
        "from": T0,
        "to": T0 + HOUR,
    }
    request = body([item(generator, **params)], fmt={"csvDelimiter": ";"})
    _, rows = export_rows(api, control, request, delimiter=";")
    assert {row[0] for row in rows[1:]} == {'Hall; "north"'}
    created = create(api, request)
    complete(control, created["id"])
    text = download(api, created["id"])["export.csv"].decode()
    assert text.splitlines()[1].startswith('"Hall; ""north"""' + ";")
    assert text.endswith("\r\n") and "\r\n" in text


def test_numbers_are_plain_decimals_that_read_back_exactly() -> None:
    values = [21.0, 0.1 + 0.2, 1e-7, 5e-324, 1e22, -0.0, float("nan"), 944.003]
    texts = number_texts(np.array(values)).to_pylist()
    assert texts[-1] == "944.003" and texts[0] == "21" and texts[6] == ""
    for value, text in zip(values, texts, strict=True):
        assert "e" not in text
        if value == value:
            assert float(text) == value
