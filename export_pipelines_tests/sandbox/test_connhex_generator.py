"""The Connhex sandbox's synthetic messages: deterministic, additive over windows, with gaps and
late arrivals, any size; and ``expected_records``, the demo's recomputation, against the files."""

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from export_pipelines.sandbox import SandboxServer, connhex
from export_pipelines.sandbox.cli import vendor_sections
from export_pipelines.sandbox.connhex import ConnhexGenerator, GeneratorParams
from export_pipelines_tests.sandbox.connhex_helpers import (
    HOUR,
    T0,
    api_client,
    body,
    complete,
    control_client,
    create,
    download,
    generator_of,
    item,
    start_server,
)

DAY = 86_400
START, END = 1_704_067_200, 1_830_297_600


def generator(seed: int = 5, points_per_hour: int = 60) -> ConnhexGenerator:
    return ConnhexGenerator(GeneratorParams(seed, 3, 2, points_per_hour, START, END))


def test_same_seed_same_data_other_seed_other_data() -> None:
    one, two, other = generator(), generator(), generator(seed=6)
    a = one.frame([0, 2], 1, range(4), T0, T0 + DAY)
    assert a.equals(two.frame([0, 2], 1, range(4), T0, T0 + DAY))
    b = other.frame([0, 2], 1, range(4), T0, T0 + DAY)
    assert not np.array_equal(a["value"].to_numpy()[:50], b["value"].to_numpy()[:50])
    assert one.channels == two.channels and one.channels != other.channels


def test_a_window_is_the_union_of_its_parts() -> None:
    gen = generator()
    whole = gen.series_points(1, 0, 2, T0, T0 + 3 * DAY)
    cut = T0 + DAY + 1_234
    left, right = gen.series_points(1, 0, 2, T0, cut), gen.series_points(1, 0, 2, cut, T0 + 3 * DAY)
    for index in range(3):
        assert np.array_equal(whole[index], np.concatenate([left[index], right[index]]))


def test_points_have_gaps_whole_second_times_and_stay_in_the_dataset() -> None:
    gen = generator()
    times, _, _ = gen.series_points(0, 0, 0, T0, T0 + 30 * DAY)
    nominal = 30 * 24 * 60
    assert 0.85 * nominal < len(times) < 0.99 * nominal  # points missing, hours silent
    gaps = np.diff(times)
    assert (gaps > 0).all() and times.dtype == np.int64
    assert (gaps >= HOUR).any()  # a silent hour
    assert gen.series_points(0, 0, 0, START - DAY, START)[0].size == 0
    assert gen.series_points(0, 0, 0, END, END + DAY)[0].size == 0


def test_energy_is_a_meter_that_only_grows_and_units_are_declared() -> None:
    gen = generator()
    _, energy, _ = gen.series_points(2, 1, 3, T0, T0 + 10 * DAY)
    assert (np.diff(energy) >= 0).all()
    assert [(v.name, v.unit) for v in connhex.VARIABLES] == [
        ("temperature", "°C"),
        ("humidity", "%"),
        ("power", "W"),
        ("energy", "kWh"),
    ]


def test_messages_arrive_partly_out_of_time_order() -> None:
    gen = generator()
    frame = next(gen.messages([0], 0, T0, T0 + DAY))
    times = frame[frame["name"] == "power"]["time"].to_numpy()
    assert (np.diff(times) < 0).any()
    assert sorted(times) == sorted(gen.series_points(0, 0, 2, T0, T0 + DAY)[0])


@pytest.mark.parametrize("points_per_hour", [1, 12, 3600])
def test_size_follows_points_per_hour(points_per_hour: int) -> None:
    times, _, _ = generator(points_per_hour=points_per_hour).series_points(0, 1, 1, T0, T0 + DAY)
    assert 0.85 * 24 * points_per_hour <= len(times) <= 24 * points_per_hour
    assert len(np.unique(times)) == len(times)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    running = start_server(queued_seconds=1200, completion_delay_seconds=0)
    try:
        yield running
    finally:
        running.stop()


def test_expected_records_are_the_files_rows(server: SandboxServer) -> None:
    with api_client(server) as api, control_client(server) as control:
        gen = generator_of(control)
        columns = [{"id": "humidity", "label": "H"}, {"id": "power", "label": "P"}]
        window = {"from": T0, "to": T0 + 5 * HOUR, "decimation": {"ds": "20m", "dsf": "max"}}
        request = body(
            [
                item(gen, 0, **{"from": T0, "to": T0 + 2 * HOUR}),
                item(gen, 1, 1, **window, outputFormat="wide"),
            ],
            fmt={"columns": columns, "timezone": "Europe/Rome"},
        )
        created = create(api, request)
        summary = complete(control, created["id"])
        members = download(api, created["id"])
    raw_job, wide_job = summary["jobs"]
    expected = list(connhex.SANDBOX_VENDOR.expected_records(server.url, raw_job["id"], {}))
    lines = [line.split(",") for line in members["export-0.csv"].decode().splitlines()[1:]]
    assert [
        (r["publisher"], r["channel"], r["name"], r["unit"], r["time"], r["value"])
        for r in expected
    ] == [(p, c, n, u, _utc(t), float(v)) for p, c, n, u, t, v in lines]
    wide = list(connhex.SANDBOX_VENDOR.expected_records(server.url, wide_job["id"], {}))
    wide_lines = [line.split(",") for line in members["export-1.csv"].decode().splitlines()[1:]]
    cells = [
        (_utc(row[0]), name, float(cell))
        for row in wide_lines
        for name, cell in zip(("humidity", "power"), row[1:], strict=True)
        if cell
    ]
    assert [(r["time"], r["name"], r["value"]) for r in wide] == cells
    assert {r["publisher"] for r in wide} == {gen.publishers[1]}
    both = list(connhex.SANDBOX_VENDOR.expected_records(server.url, created["id"], {}))
    assert both == expected + wide


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def test_expected_records_of_unknown_ids_fail_loudly(server: SandboxServer) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        list(connhex.SANDBOX_VENDOR.expected_records(server.url, "nope", {}))


def test_serve_flags_reach_the_config() -> None:
    sections = vendor_sections(
        seed=9,
        completion_delay=0.25,
        flags={
            "connhex_points_per_hour": 600,
            "connhex_publishers": 5,
            "connhex_channels": None,
            "connhex_max_recurring_runs": 24,
        },
    )
    assert sections["connhex"] == {
        "seed": 9,
        "completion_delay_seconds": 0.25,
        "points_per_hour": 600,
        "publisher_count": 5,
        "max_recurring_runs": 24,
    }
