"""HelloData: rent by market, month over month (asking and effective rent, concessions, units).

A multifamily analyst compares markets month by month: what a unit asks, what it rents for after
concessions, how many units the figures cover, and how both moved since the month before. The
catalog's ``rent_survey_by_market`` export is HelloData's own aggregate per market and month
(``Avg`` of asking and effective rent, ``Sum`` and ``Max`` of units), so this asset never sees
single properties: the concession is the market's asking minus its effective rent (per month, as
the vendor spreads a one-off concession over twelve months), and the figures across markets are
the median market and the unit-weighted average. HelloData offers no median aggregate, so a median
over properties would need a property-level rent export.

One partition is a year of months (the export's catalog covers 2024), so every monthly export
partition feeds exactly one analytics partition and the month-over-month change is computed inside
it; a month whose previous month is not in the lake (January, or a month not exported) has no
change rather than a wrong one.
"""

import dagster as dg
import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import monthly
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed, Upstream

EXPORT = "rent_survey_by_market"
_COLUMNS = [
    "msa",
    "as_of_month",
    "asking_rent_avg",
    "effective_rent_avg",
    "number_units_sum",
    "number_units_max",
]
#: The catalog's partitions of the export (``defs/hellodata/defs.yaml``: 2024, monthly).
_EXPORT_PARTITIONS = monthly(end="2025-01-01")
YEARS = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *", fmt="%Y", start="2024", end="2025", timezone="UTC"
)


def compute(inputs: AnalyticsInputs) -> Computed:
    survey = inputs.tables[EXPORT].read(_COLUMNS).to_pandas()
    months = pd.to_datetime(survey["as_of_month"])
    frame = pd.DataFrame(
        {
            "month": months.dt.strftime("%Y-%m"),
            "msa": survey["msa"],
            "units": survey["number_units_sum"].astype("int64"),
            "largest_property_units": survey["number_units_max"].astype("int64"),
            "asking_rent": survey["asking_rent_avg"],
            "effective_rent": survey["effective_rent_avg"],
        }
    )
    frame["concession"] = frame["asking_rent"] - frame["effective_rent"]
    frame["concession_share"] = frame["concession"] / frame["asking_rent"]
    previous = frame[["month", "msa", "asking_rent", "effective_rent"]].copy()
    previous["month"] = (pd.to_datetime(previous["month"]) + pd.DateOffset(months=1)).dt.strftime(
        "%Y-%m"
    )
    previous = previous.rename(
        columns={"asking_rent": "prev_asking", "effective_rent": "prev_effective"}
    )
    frame = frame.merge(previous, on=["month", "msa"], how="left")
    frame["asking_rent_mom"] = frame["asking_rent"] / frame["prev_asking"] - 1
    frame["effective_rent_mom"] = frame["effective_rent"] / frame["prev_effective"] - 1
    frame = frame.drop(columns=["prev_asking", "prev_effective"])
    frame = frame.sort_values(["month", "msa"]).reset_index(drop=True)
    return Computed(frame, facts={"survey_rows": len(survey)})


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    frame = computed.frame
    problems = []
    if frame.empty:
        problems.append(f"the survey holds no market for {inputs.partition_key}")
    outside = frame[~frame["month"].str.startswith(inputs.partition_key)]
    if not outside.empty:
        problems.append(f"months outside {inputs.partition_key}: {sorted(set(outside['month']))}")
    bad_units = frame[(frame["units"] <= 0) | (frame["largest_property_units"] > frame["units"])]
    if not bad_units.empty:
        problems.append(
            f"units not positive or below the largest property in {bad_units['msa'].tolist()}"
        )
    negative = frame[frame["concession"] < 0]
    if not negative.empty:
        problems.append(f"effective rent above asking rent in {negative['msa'].tolist()}")
    if len(frame) != computed.facts.get("survey_rows", len(frame)):
        problems.append("markets of the survey were lost or duplicated")
    return problems


def headline(frame: pd.DataFrame) -> dict[str, float]:
    """The latest month's figures across markets."""
    if frame.empty:
        return {"markets": 0.0}
    frame = frame[frame["month"] == frame["month"].max()]
    units = frame["units"]
    return {
        "markets": float(len(frame)),
        "units": float(units.sum()),
        "median_asking_rent": float(frame["asking_rent"].median()),
        "median_effective_rent": float(frame["effective_rent"].median()),
        "median_concession": float(frame["concession"].median()),
        "unit_weighted_effective_rent": float(
            (frame["effective_rent"] * units).sum() / units.sum()
        ),
    }


def chart(frame: pd.DataFrame) -> Figure | None:
    if frame.empty:
        return None
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    for msa, group in frame.groupby("msa"):
        axes.plot(group["month"], group["asking_rent"], marker="o", label=f"{msa} asking")
        axes.plot(
            group["month"], group["effective_rent"], marker="x", ls="--", label=f"{msa} effective"
        )
    axes.set_ylabel("average monthly rent (USD)")
    axes.legend(fontsize="x-small")
    axes.set_title(f"HelloData rent by market, {frame['month'].min()} to {frame['month'].max()}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="hellodata",
        name="rent_by_market",
        description=__doc__ or "",
        partitions_def=YEARS,
        upstreams=(
            Upstream("hellodata", EXPORT, _EXPORT_PARTITIONS, dg.TimeWindowPartitionMapping()),
        ),
        compute=compute,
        key_columns=("month", "msa"),
        headline=headline,
        chart=chart,
        check_name="rents_are_consistent",
        check_description="The year has markets, all of its own months; each market's units are positive and at least "
        "its largest property's; effective rent never exceeds asking rent (no negative "
        "concession); no market-month of the survey is lost or duplicated.",
        check=check,
    ),
)
