"""HelloData: rent by market, month over month (asking and effective rent, concessions, units).

A multifamily analyst compares markets each month: what a unit asks, what it rents for after
concessions, how many units the figures cover, and how both moved since last month. The catalog's
``rent_survey_by_market`` export is HelloData's own aggregate per market and month (``Avg`` of
asking and effective rent, ``Sum`` and ``Max`` of units), so this asset never sees single
properties: the concession is the market's asking minus its effective rent (per month, as the
vendor spreads a one-off concession over twelve months), and the figures across markets are the
median market and the unit-weighted average. HelloData offers no median aggregate, so a median over
properties would need a property-level rent export. Each month reads its own partition and the one
before it, so a re-export of a month also refreshes the next month's change.
"""

import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import WITH_PREVIOUS, monthly
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


def compute(inputs: AnalyticsInputs) -> Computed:
    survey = inputs.tables[EXPORT].read(_COLUMNS).to_pandas()
    month = inputs.window.start.date()
    survey["as_of_month"] = pd.to_datetime(survey["as_of_month"]).dt.date
    current = survey[survey["as_of_month"] == month].copy()
    previous = survey[survey["as_of_month"] < month][
        ["msa", "asking_rent_avg", "effective_rent_avg"]
    ].rename(columns={"asking_rent_avg": "prev_asking", "effective_rent_avg": "prev_effective"})
    frame = pd.DataFrame(
        {
            "month": current["as_of_month"].map(lambda d: d.strftime("%Y-%m")),
            "msa": current["msa"],
            "units": current["number_units_sum"].astype("int64"),
            "largest_property_units": current["number_units_max"].astype("int64"),
            "asking_rent": current["asking_rent_avg"],
            "effective_rent": current["effective_rent_avg"],
        }
    )
    frame["concession"] = frame["asking_rent"] - frame["effective_rent"]
    frame["concession_share"] = frame["concession"] / frame["asking_rent"]
    frame = frame.merge(previous, on="msa", how="left")
    frame["asking_rent_mom"] = frame["asking_rent"] / frame["prev_asking"] - 1
    frame["effective_rent_mom"] = frame["effective_rent"] / frame["prev_effective"] - 1
    frame = frame.drop(columns=["prev_asking", "prev_effective"])
    frame = frame.sort_values("msa").reset_index(drop=True)
    return Computed(frame, facts={"survey_rows": len(survey), "month_rows": len(current)})


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    frame = computed.frame
    problems = []
    if frame.empty:
        problems.append(f"the survey holds no market for {inputs.partition_key[:7]}")
    bad_units = frame[(frame["units"] <= 0) | (frame["largest_property_units"] > frame["units"])]
    if not bad_units.empty:
        problems.append(
            f"units not positive or below the largest property in {bad_units['msa'].tolist()}"
        )
    negative = frame[frame["concession"] < 0]
    if not negative.empty:
        problems.append(f"effective rent above asking rent in {negative['msa'].tolist()}")
    if len(frame) != computed.facts.get("month_rows", len(frame)):
        problems.append("markets of the month were lost or duplicated")
    return problems


def headline(frame: pd.DataFrame) -> dict[str, float]:
    if frame.empty:
        return {"markets": 0.0}
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
    shown = frame.set_index("msa")[["asking_rent", "effective_rent"]]
    shown.plot.barh(ax=axes)
    axes.set_xlabel("average monthly rent (USD)")
    axes.set_title(f"HelloData rent by market, {frame['month'].iloc[0]}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="hellodata",
        name="rent_by_market",
        description=__doc__ or "",
        partitions_def=monthly(end="2025-01-01"),
        upstreams=(Upstream("hellodata", EXPORT, _EXPORT_PARTITIONS, WITH_PREVIOUS),),
        compute=compute,
        key_columns=("month", "msa"),
        headline=headline,
        chart=chart,
        check_name="rents_are_consistent",
        check_description="The month has markets; each market's units are positive and at least "
        "its largest property's; effective rent never exceeds asking rent (no negative "
        "concession); no market of the month is lost or duplicated.",
        check=check,
    ),
)
