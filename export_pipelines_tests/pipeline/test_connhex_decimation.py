"""Connhex's decimation and ``transform: delta`` against an independent pandas computation.

The raw points come from the sandbox itself, over its real HTTP protocol: an export of the same
window without decimation. pandas then computes what the decisions say a decimated export holds
(C-5: epoch-aligned buckets in UTC written at their start, empty buckets not written, population
stddev and variance, delta per variable after decimation with the first point dropped), and the
decimated export the sandbox made must hold exactly that, through the client and the normalizer.
The windows cross a DST change in Europe/Rome, the files' timezone, so a bucket written in local
time with the wrong offset, or a bucket aligned to local midnight, would show.
"""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import download_to_file
from export_pipelines.vendors.base import RemoteState, Window
from export_pipelines.vendors.connhex import ADAPTER
from export_pipelines.vendors.connhex.records import ConnhexNormalizer
from export_pipelines.vendors.connhex.request import ConnhexRequest
from export_pipelines.vendors.connhex.resource import ConnhexResource
from export_pipelines_tests.pipeline.connhex_support import ITEM_TARGETS
from export_pipelines_tests.sandbox_setup import sandbox_config

# The Connhex sandbox is written apart from this client (branch cx-sandbox); these tests run
# against it once it is in the tree.
pytest.importorskip("export_pipelines.sandbox.connhex")

GIVE_UP_SECONDS = 60
VARIABLE = ["publisher", "channel", "name"]
#: 2024-03-31 01:00 UTC Rome goes from +01:00 to +02:00; 2024-10-27 01:00 UTC back.
SPRING = Window(datetime(2024, 3, 30, 22, tzinfo=UTC), datetime(2024, 3, 31, 4, tzinfo=UTC))
AUTUMN = Window(datetime(2024, 10, 26, 23, tzinfo=UTC), datetime(2024, 10, 27, 3, tzinfo=UTC))
POPULATION = {"stddev": "std", "variance": "var"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(sandbox_config()) as server:
        yield server


def _request(decimation: dict[str, str] | None, transform: str | None) -> ConnhexRequest:
    params: dict[str, Any] = {"outputFormat": "long"}
    if decimation:
        params["decimation"] = decimation
    if transform:
        params["transform"] = transform
    return ConnhexRequest.model_validate(
        {
            "format": {"extension": "csv", "timezone": "Europe/Rome", "csvDelimiter": ";"},
            "items": [{"params": {**params, **target}} for target in ITEM_TARGETS],
        }
    )


def _export(
    sandbox: SandboxServer, request: ConnhexRequest, window: Window, tmp: Path
) -> pd.DataFrame:
    """Submit, poll until done, download the ZIP and normalize it: the long table as pandas."""
    resource = ConnhexResource(
        base_url=sandbox.base_url("connhex"), api_key=sandbox.api_key("connhex")
    )
    with resource.client() as client:
        job = client.submit(ADAPTER.build_body(request, window)).vendor_job_id
        give_up = time.monotonic() + GIVE_UP_SECONDS
        status = client.status(job)
        while status.state is RemoteState.RUNNING and time.monotonic() < give_up:
            time.sleep(0.1)
            status = client.status(job)
        assert status.state is RemoteState.COMPLETED, status
        (file,) = status.files
        path = download_to_file(
            file.url,
            tmp / job / file.name,
            vendor="connhex",
            policy=client.download_policy,
            lock_dir=tmp / "locks",
            headers=client.download_headers(file.url),
        ).path
    normalizer = ConnhexNormalizer(request)
    table = pa.Table.from_batches(list(normalizer.batches(path, 10_000)), schema=normalizer.schema)
    return table.to_pandas()


def _decimated(raw: pd.DataFrame, seconds: int, dsf: str) -> pd.DataFrame:
    """C-5 in pandas: buckets [k * ds, (k + 1) * ds) since the epoch, at their start."""
    frame = raw.assign(time=raw["time"].dt.floor(f"{seconds}s"))
    grouped = frame.groupby([*VARIABLE, "unit", "time"], dropna=False)["value"]
    if dsf in POPULATION:
        values = getattr(grouped, POPULATION[dsf])(ddof=0)
    else:
        values = grouped.agg({"avg": "mean"}.get(dsf, dsf))
    return values.reset_index()


def _delta(points: pd.DataFrame) -> pd.DataFrame:
    """C-5: per variable in time order, each value minus the previous; the first is not written."""
    ordered = points.sort_values([*VARIABLE, "time"])
    ordered = ordered.assign(value=ordered.groupby(VARIABLE, dropna=False)["value"].diff())
    first = ordered.groupby(VARIABLE, dropna=False).cumcount() == 0
    return ordered[~first]


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["time", *VARIABLE, "unit", "value"]
    return frame[columns].sort_values(["time", *VARIABLE]).reset_index(drop=True)


@pytest.fixture(scope="module")
def raw_points(
    sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pd.DataFrame]:
    tmp = tmp_path_factory.mktemp("raw")
    points = {
        name: _export(sandbox, _request(None, None), window, tmp)
        for name, window in (("spring", SPRING), ("autumn", AUTUMN))
    }
    for name, frame in points.items():
        assert len(frame) > 50, f"the {name} window needs points to decimate"
        assert frame["name"].nunique() > 1 and frame["time"].is_unique is False
    return points


WINDOWS = {"spring": SPRING, "autumn": AUTUMN}


@pytest.mark.parametrize("dsf", ["avg", "max", "min", "sum", "stddev", "variance"])
@pytest.mark.parametrize(("ds", "seconds"), [("15m", 900), ("1h", 3600), ("1d", 86_400)])
@pytest.mark.parametrize("season", ["spring", "autumn"])
def test_decimated_values_equal_pandas_on_the_raw_points(
    sandbox: SandboxServer,
    raw_points: dict[str, pd.DataFrame],
    tmp_path: Path,
    dsf: str,
    ds: str,
    seconds: int,
    season: str,
) -> None:
    got = _export(sandbox, _request({"ds": ds, "dsf": dsf}, None), WINDOWS[season], tmp_path)
    expected = _decimated(raw_points[season], seconds, dsf)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(
        _comparable(got), _comparable(expected), check_exact=False, rtol=1e-9
    )


@pytest.mark.parametrize(
    "decimation", [None, {"ds": "15m", "dsf": "avg"}, {"ds": "1h", "dsf": "sum"}]
)
@pytest.mark.parametrize("season", ["spring", "autumn"])
def test_delta_equals_pandas_after_decimation(
    sandbox: SandboxServer,
    raw_points: dict[str, pd.DataFrame],
    tmp_path: Path,
    decimation: dict[str, str] | None,
    season: str,
) -> None:
    got = _export(sandbox, _request(decimation, "delta"), WINDOWS[season], tmp_path)
    points = raw_points[season]
    if decimation is not None:
        seconds = {"15m": 900, "1h": 3600}[decimation["ds"]]
        points = _decimated(points, seconds, decimation["dsf"])
    expected = _delta(points)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(
        _comparable(got), _comparable(expected), check_exact=False, rtol=1e-9
    )
