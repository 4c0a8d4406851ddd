"""Connhex: each device's day, per variable: statistics of its values and the gaps in its telemetry.

An operator of a Connhex deployment asks of every device each day "what did it measure, and when
did it stop talking?". From the hourly raw points (``raw_points_hourly``: the long table, ``time``
UTC, ``publisher`` the device, ``channel``, ``name`` the variable, ``unit``, ``value``) one row per
device, channel and variable of the day: points, values (non-null), min, max, mean and sample
standard deviation of the value, the first and last point's time, the hours with points, and the
gaps: the largest interval between consecutive points, the intervals longer than
``GAP_THRESHOLD_SECONDS``, and the silent hours (no point at all).

Gaps are measured on each variable's own series, because a device publishes each variable on its
own cadence: a device silent for an hour shows in every one of its variables, and a variable that
stops while the others go on (a failed sensor on a live device) shows in that one only, which an
interval over all of a device's points would hide. Connhex writes a raw long file in arrival order,
so late messages sit out of time order; intervals are taken between points consecutive in time,
never in file order. An interval is only measured inside a run of consecutive hours that are in
the lake: an hour not exported yet is not a silence of the device, and the two hours around it are
not one interval. For the same reason the silent hours of a series are the exported hours of the
day in which it has no point at all; hours not exported are listed in the materialization's
metadata (``raw_points_hourly_partitions_missing``) instead. The first interval of a day starts at
its first point: a silence across midnight is split between the two days' rows.
"""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import daily, hourly
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed, Upstream

EXPORT = "raw_points_hourly"
#: The catalog's partitions of the export (``defs/connhex/defs.yaml``: hourly from 2024, UTC).
_EXPORT_PARTITIONS = hourly()
#: An interval between two consecutive points of a series longer than this is a gap. Against the
#: sandbox generator's cadence (12 points an hour: one every 300 s, jittered by up to 100 s) a
#: dropped message (4 % of points) makes an interval of at most 700 s, and reaching 1,800 s takes
#: five dropped in a row (a chance near 1e-7); a silent hour (one device-hour in fifty) always
#: makes more than 3,600 s. So a counted gap is an outage of the device, not a lost message or two.
GAP_THRESHOLD_SECONDS = 1_800
_MEAN_TOLERANCE = 1e-9

_SERIES = """
with points as (
    select
        coalesce(publisher, '(none)') as publisher,
        coalesce(channel, '(none)') as channel,
        name,
        unit,
        time,
        value,
        epoch_ms(time) as ms,
        (epoch_ms(time) - $start_ms) // 3600000 as hour
    from raw_points
),
spaced as (
    select
        points.*,
        ms - lag(ms) over (
            partition by publisher, channel, name, segment order by ms
        ) as gap_ms
    from points left join hours using (hour)
),
series as (
    select
        publisher,
        channel,
        name,
        any_value(unit) as unit,
        count(*) as points,
        count(value) as "values",
        min(value) as min_value,
        max(value) as max_value,
        avg(value) as mean_value,
        stddev_samp(value) as stddev_value,
        min(time) as first_time,
        max(time) as last_time,
        max(gap_ms) / 1000.0 as largest_gap_seconds,
        count(*) filter (where gap_ms > $threshold_ms) as gaps_over_threshold,
        list(distinct hour order by hour) as reporting_hours
    from spaced
    group by publisher, channel, name
),
silent as (
    select s.publisher, s.channel, s.name, list(h.hour order by h.hour) as silent_hours
    from series s cross join hours h
    where not exists (
        select 1 from points p
        where p.publisher = s.publisher and p.channel = s.channel and p.name = s.name
            and p.hour = h.hour
    )
    group by s.publisher, s.channel, s.name
)
select
    series.*,
    len(reporting_hours) as reporting_hour_count,
    coalesce(silent.silent_hours, []::bigint[]) as silent_hours,
    len(coalesce(silent.silent_hours, []::bigint[])) as silent_hour_count
from series left join silent using (publisher, channel, name)
order by publisher, channel, name
"""


def exported_hours(inputs: AnalyticsInputs) -> list[int]:
    """The hours of the day (0 to 23, UTC) whose export partition is in the lake."""
    start = inputs.window.start
    return sorted(
        int((_EXPORT_PARTITIONS.time_window_for_partition_key(k).start - start).total_seconds())
        // 3600
        for k in inputs.tables[EXPORT].found
    )


def _hour_segments(hours: list[int]) -> pd.DataFrame:
    """Each exported hour with the run of consecutive exported hours it belongs to (hour minus
    its rank is constant along a run), so intervals never span an hour that is not exported."""
    numbers = np.asarray(hours, dtype=np.int64)
    return pd.DataFrame({"hour": numbers, "segment": numbers - np.arange(len(numbers))})


def compute(inputs: AnalyticsInputs) -> Computed:
    hours = exported_hours(inputs)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("raw_points", inputs.tables[EXPORT].dataset())
        con.register("hours", _hour_segments(hours))
        params = {
            "start_ms": int(inputs.window.start.timestamp() * 1000),
            "threshold_ms": GAP_THRESHOLD_SECONDS * 1000,
        }
        result = con.sql(_SERIES, params=params).to_arrow_table()
        assert result is not None, "a select always answers a table"
    frame = result.to_pandas()
    frame.insert(0, "day", inputs.window.start.date())
    for column in (
        "points",
        "values",
        "gaps_over_threshold",
        "reporting_hour_count",
        "silent_hour_count",
    ):
        frame[column] = frame[column].astype("int64")
    return Computed(frame)


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    frame = computed.frame
    problems = []
    rows = inputs.tables[EXPORT].dataset().count_rows()
    if int(frame["points"].sum()) != rows:
        problems.append(f"{int(frame['points'].sum())} points counted, the exports hold {rows}")
    slack = _MEAN_TOLERANCE * frame[["min_value", "max_value"]].abs().max(axis=1).clip(lower=1)
    disordered = frame[
        (frame["min_value"] > frame["mean_value"] + slack)
        | (frame["mean_value"] > frame["max_value"] + slack)
    ]
    if not disordered.empty:
        problems.append(f"min <= mean <= max does not hold for {_series(disordered)}")
    start, end = pd.Timestamp(inputs.window.start), pd.Timestamp(inputs.window.end)
    outside = frame[
        (frame["first_time"] < start)
        | (frame["last_time"] >= end)
        | (frame["first_time"] > frame["last_time"])
    ]
    if not outside.empty:
        problems.append(
            f"first or last point outside {inputs.partition_key} for {_series(outside)}"
        )
    span = (frame["last_time"] - frame["first_time"]).dt.total_seconds()
    gaps = frame[
        (frame["largest_gap_seconds"] > span)
        | (frame["gaps_over_threshold"] > (frame["points"] - 1).clip(lower=0))
    ]
    if not gaps.empty:
        problems.append(f"more gap than the series' points and span allow for {_series(gaps)}")
    exported = exported_hours(inputs)
    silent = frame["silent_hours"].explode().dropna().astype("int64")
    unexported = sorted(set(silent) - set(exported))
    if unexported:
        problems.append(f"silent hours {unexported} are not exported hours")
    uncovered = frame[frame["reporting_hour_count"] + frame["silent_hour_count"] != len(exported)]
    if not uncovered.empty:
        problems.append(
            f"reporting and silent hours are not the {len(exported)} exported hours for "
            f"{_series(uncovered)}"
        )
    return problems


def _series(frame: pd.DataFrame) -> list[str]:
    return (frame["publisher"] + "/" + frame["name"]).head(5).tolist()


def headline(frame: pd.DataFrame) -> dict[str, float]:
    gappy = frame[(frame["gaps_over_threshold"] > 0) | (frame["silent_hour_count"] > 0)]
    silent = frame[["publisher", "silent_hours"]].explode("silent_hours").dropna()
    series_per_device = frame.groupby("publisher").size()
    silent_series = silent.groupby(["publisher", "silent_hours"]).size()
    # A device-hour is silent when every series of the device had no point in it.
    device_hours = silent_series[
        silent_series.to_numpy()
        == series_per_device.reindex(silent_series.index.get_level_values(0)).to_numpy()
    ]
    return {
        "devices": float(frame["publisher"].nunique()),
        "series": float(len(frame)),
        "points": float(frame["points"].sum()),
        "devices_with_gaps": float(gappy["publisher"].nunique()),
        "gaps_over_threshold": float(frame["gaps_over_threshold"].sum()),
        "largest_gap_seconds": float(frame["largest_gap_seconds"].max())
        if frame["largest_gap_seconds"].notna().any()
        else 0.0,
        "silent_device_hours": float(len(device_hours)),
        "silent_series_hours": float(frame["silent_hour_count"].sum()),
    }


def chart(frame: pd.DataFrame) -> Figure | None:
    """A strip per series over the day: its hours with points, its silent hours in red; hours
    not exported stay blank."""
    if frame.empty:
        return None
    device = frame["publisher"].str.rsplit(":", n=1).str[-1]
    labels = (device + " " + frame["name"]).tolist()
    rows = np.arange(len(frame))
    figure = Figure(figsize=(7, 1.2 + 0.3 * len(frame)))
    axes = figure.subplots()
    for column, color, label in (
        ("reporting_hours", "#9ecae1", "points"),
        ("silent_hours", "#de2d26", "no point at all"),
    ):
        hours = frame[column].explode().dropna()
        if hours.empty:
            continue
        axes.barh(
            rows[hours.index.to_numpy()],
            1.0,
            left=hours.astype(float).to_numpy(),
            height=0.6,
            color=color,
            label=label,
        )
    axes.set_yticks(rows, labels, fontsize="small")
    axes.invert_yaxis()
    axes.set_xlim(0, 24)
    axes.set_xticks(range(0, 25, 3))
    axes.set_xlabel("hour of the day (UTC); blank: not exported")
    axes.legend(fontsize="x-small", loc="lower right")
    axes.set_title(f"Connhex telemetry per device and variable, {frame['day'].iloc[0]}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="connhex",
        name="device_daily",
        description=__doc__ or "",
        partitions_def=daily(),
        # A day's partition reads the day's 24 hours; an hour feeds the day it lies in.
        upstreams=(
            Upstream("connhex", EXPORT, _EXPORT_PARTITIONS, dg.TimeWindowPartitionMapping()),
        ),
        compute=compute,
        key_columns=("day", "publisher", "channel", "name"),
        headline=headline,
        chart=chart,
        check_name="device_stats_are_consistent",
        check_description="Every point of the day's exported hours is counted once; each series' "
        "min <= mean <= max; its first and last points lie in the day; its largest gap fits its "
        "span and it has no more gaps than intervals; its hours with points and its silent "
        "hours together are exactly the exported hours.",
        check=check,
    ),
)
