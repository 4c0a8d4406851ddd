"""HiEnergy: the month's advertiser league table (clicks, conversions, commission, EPC, network).

An affiliate ranks advertisers by what they earn: commission, and EPC (earnings per click, the
commission over the clicks sent, which HiEnergy's own advertiser reports quote) beside the network
the advertiser is on and the coupon and sale deals it started in the month. Built from the daily
click exports of the month (every click, converted or not, with its commission) and the weekly deal
exports overlapping it; a week that straddles two months feeds both, each counting only the deals
that start inside it. Commissions are in the advertiser's currency, so ranks and shares are within
a currency: the league of each currency is its own.
"""

import warnings

import dagster as dg
import duckdb
import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import daily, monthly, weekly
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed, Upstream

CLICKS = "clicks_daily"
DEALS = "coupon_deals_weekly"
_SHARE_TOLERANCE = 1e-9

with warnings.catch_warnings():
    # Beta in Dagster 1.13 and needed: January 2024 overlaps the week of 2023-12-31, before the
    # catalog's first week (2024-01-07).
    warnings.simplefilter("ignore", dg.BetaWarning)
    _WEEKS_OVERLAPPING = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)

_LEAGUE = """
with by_advertiser as (
    select
        advertiser_id,
        any_value(advertiser_name) as advertiser_name,
        any_value(network) as network,
        currency,
        count(*) as clicks,
        count(*) filter (where converted) as conversions,
        coalesce(sum(sale_amount), 0)::decimal(38, 2) as sales,
        coalesce(sum(commission_amount), 0)::decimal(38, 2) as commission
    from clicks
    group by advertiser_id, currency
)
select
    *,
    rank() over (partition by currency order by commission desc, advertiser_id) as rank
from by_advertiser
order by currency, rank
"""
_DEALS = """
select advertiser_id, count(*) as deals_started
from deals
where starts_on >= ? and starts_on < ?
group by advertiser_id
"""


def compute(inputs: AnalyticsInputs) -> Computed:
    clicks = inputs.tables[CLICKS].dataset()
    deals = inputs.tables[DEALS]
    with duckdb.connect() as con:
        con.register("clicks", clicks)
        result = con.sql(_LEAGUE).to_arrow_table()
        assert result is not None, "a select always answers a table"
        league = result.to_pandas()
        if deals.found:
            con.register("deals", deals.dataset())
            started = con.execute(
                _DEALS, [inputs.window.start.date(), inputs.window.end.date()]
            ).df()
        else:
            started = pd.DataFrame({"advertiser_id": [], "deals_started": []})
    league = league.merge(started, on="advertiser_id", how="left")
    league["deals_started"] = league["deals_started"].fillna(0).astype("int64")
    league.insert(0, "month", inputs.window.start.strftime("%Y-%m"))
    commission = league["commission"].astype(float)
    league["epc"] = commission / league["clicks"]
    league["conversion_rate"] = league["conversions"] / league["clicks"]
    totals = commission.groupby(league["currency"]).transform("sum")
    league["commission_share"] = (commission / totals.where(totals > 0)).fillna(0.0)
    league["rank"] = league["rank"].astype("int64")
    return Computed(league)


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    league = computed.frame
    problems = []
    for currency, group in league.groupby("currency"):
        total = group["commission"].astype(float).sum()
        shares = group["commission_share"].sum()
        if total > 0 and abs(shares - 1.0) > _SHARE_TOLERANCE:
            problems.append(f"{currency} commission shares sum to {shares}, not 1")
        ranks = sorted(group["rank"])
        if ranks != list(range(1, len(ranks) + 1)):
            problems.append(f"{currency} ranks {ranks[:10]} are not 1 to {len(ranks)}")
    epc = league["commission"].astype(float) / league["clicks"]
    off = league[(epc - league["epc"]).abs() > 1e-9]
    if not off.empty:
        problems.append(
            f"EPC is not commission per click for advertisers {off['advertiser_id'].tolist()[:5]}"
        )
    rows = inputs.tables[CLICKS].dataset().count_rows()
    if int(league["clicks"].sum()) != rows:
        problems.append(
            f"{int(league['clicks'].sum())} clicks in the league, the exports hold {rows}"
        )
    return problems


def headline(frame: pd.DataFrame) -> dict[str, float]:
    figures: dict[str, float] = {
        "advertisers": float(frame["advertiser_id"].nunique()),
        "clicks": float(frame["clicks"].sum()),
        "conversion_rate": float(frame["conversions"].sum() / frame["clicks"].sum())
        if frame["clicks"].sum()
        else 0.0,
    }
    for currency, group in frame.groupby("currency"):
        commission = group["commission"].astype(float).sum()
        figures[f"commission_{currency}"] = float(commission)
        figures[f"epc_{currency}"] = float(commission / group["clicks"].sum())
    return figures


def chart(frame: pd.DataFrame) -> Figure | None:
    if frame.empty:
        return None
    top = frame.assign(c=frame["commission"].astype(float)).nlargest(10, "c")
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    labels = [
        f"{n} ({net}, {cur})"
        for n, net, cur in zip(top["advertiser_name"], top["network"], top["currency"], strict=True)
    ]
    axes.barh(labels[::-1], top["c"].tolist()[::-1])
    axes.set_xlabel("commission (advertiser's currency)")
    axes.set_title(f"HiEnergy top advertisers by commission, {frame['month'].iloc[0]}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="hienergy",
        name="advertiser_league",
        description=__doc__ or "",
        partitions_def=monthly(),
        upstreams=(
            Upstream("hienergy", CLICKS, daily(), dg.TimeWindowPartitionMapping()),
            Upstream("hienergy", DEALS, weekly(), _WEEKS_OVERLAPPING),
        ),
        compute=compute,
        key_columns=("month", "advertiser_id", "currency"),
        headline=headline,
        chart=chart,
        check_name="league_is_consistent",
        check_description="Within each currency commission shares sum to 1 and ranks run from 1 "
        "without gaps; EPC is commission per click; every click of the month's exports is counted "
        "once.",
        check=check,
    ),
)
