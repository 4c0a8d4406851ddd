"""Connhex's day per series worked out in plain Python, apart from the analytics' query.

From points (the test's own, or the sandbox generator's records of an export): each series' points
sorted by time, its intervals kept only where every hour they span was exported, its silent hours
the exported hours it has no point in. ``result_series`` turns the asset's frame into the same
shape, so a test compares the two.
"""

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

Key = tuple[str, str, str]


def expected_series(
    points: Iterable[Mapping[str, Any]], day: datetime, exported: set[int], threshold: float
) -> dict[Key, dict[str, Any]]:
    by_series: dict[Key, list[tuple[datetime, float | None]]] = defaultdict(list)
    for point in points:
        key = (point["publisher"] or "(none)", point["channel"] or "(none)", point["name"])
        by_series[key].append((point["time"], point["value"]))
    expected = {}
    for key, series in by_series.items():
        series.sort(key=lambda point: point[0])
        times = [time for time, _ in series]
        values = [value for _, value in series if value is not None]
        hours = [int((time - day).total_seconds() // 3600) for time in times]
        intervals = [
            (later - earlier).total_seconds()
            for earlier, later, first_hour, last_hour in zip(
                times, times[1:], hours, hours[1:], strict=False
            )
            if all(hour in exported for hour in range(first_hour, last_hour + 1))
        ]
        expected[key] = {
            "points": len(times),
            "values": len(values),
            "min_value": min(values),
            "max_value": max(values),
            "mean_value": pytest.approx(statistics.fmean(values), rel=1e-12),
            "stddev_value": pytest.approx(statistics.stdev(values), rel=1e-9)
            if len(values) > 1
            else None,
            "first_time": times[0],
            "last_time": times[-1],
            "largest_gap_seconds": max(intervals) if intervals else None,
            "gaps_over_threshold": sum(interval > threshold for interval in intervals),
            "reporting_hours": sorted(set(hours)),
            "silent_hours": sorted(exported - set(hours)),
        }
    return expected


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, float) and value != value:
        return None
    return value


def result_series(frame: pd.DataFrame) -> dict[Key, dict[str, Any]]:
    """The asset's rows in ``expected_series``'s shape (NaN as None, hour lists as lists)."""
    got = {}
    for row in frame.to_dict("records"):
        got[(row["publisher"], row["channel"], row["name"])] = {
            "points": row["points"],
            "values": row["values"],
            "min_value": row["min_value"],
            "max_value": row["max_value"],
            "mean_value": row["mean_value"],
            "stddev_value": _plain(row["stddev_value"]),
            "first_time": _plain(row["first_time"]),
            "last_time": _plain(row["last_time"]),
            "largest_gap_seconds": _plain(row["largest_gap_seconds"]),
            "gaps_over_threshold": row["gaps_over_threshold"],
            "reporting_hours": [int(hour) for hour in row["reporting_hours"]],
            "silent_hours": [int(hour) for hour in row["silent_hours"]],
        }
    return got
