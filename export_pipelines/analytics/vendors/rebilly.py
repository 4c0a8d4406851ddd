"""Rebilly: daily revenue, approval rate and refunds by currency and gateway, from transactions.

Rebilly's transactions carry an independent ``type`` (sale, authorize, capture, refund, void) and
``result`` (approved, declined, or unknown while pending), and an original transaction's refunds
accumulate in its ``refundedAmount`` rather than arriving only as separate refund rows. So revenue
is the amount of approved ``sale`` and ``capture`` transactions, refunds the ``refundedAmount`` of
those same transactions, and the approval rate approved over decided (approved + declined):
a pending transaction is neither. Amounts stay decimals in their own currency; no currency is ever
added to another.
"""

from decimal import Decimal

import duckdb
import pandas as pd
import pyarrow.compute as pc
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import SAME_WINDOW, daily
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed, Upstream

EXPORT = "transactions_daily"
REVENUE_TYPES = ("sale", "capture")

_QUERY = """
select
    currency,
    coalesce(gateway_name, '(none)') as gateway,
    count(*) as transactions,
    count(*) filter (where result = 'approved') as approved,
    count(*) filter (where result = 'declined') as declined,
    coalesce(sum(amount) filter (where {revenue}), 0)::decimal(38, 4) as revenue,
    coalesce(sum(refunded_amount) filter (where {revenue}), 0)::decimal(38, 4) as refunds
from transactions
group by all
order by currency, gateway
"""
_REVENUE = "result = 'approved' and type in ('sale', 'capture')"


def compute(inputs: AnalyticsInputs) -> Computed:
    tables = inputs.tables[EXPORT]
    transactions = tables.dataset()
    with duckdb.connect() as con:
        con.register("transactions", transactions)
        result = con.sql(_QUERY.format(revenue=_REVENUE)).to_arrow_table()
        assert result is not None, "a select always answers a table"
        frame = result.to_pandas()
    frame.insert(0, "day", inputs.window.start.date())
    decided = frame["approved"] + frame["declined"]
    frame["approval_rate"] = (frame["approved"] / decided.where(decided > 0)).astype("float64")
    frame["net_revenue"] = frame["revenue"] - frame["refunds"]
    return Computed(frame)


def _revenue_by_currency(inputs: AnalyticsInputs) -> dict[str, Decimal]:
    """The revenue of each currency summed straight from the transactions, without the query."""
    table = inputs.tables[EXPORT].read(["currency", "amount", "result", "type"])
    revenue = table.filter(
        pc.and_(
            pc.equal(table["result"], "approved"),
            pc.is_in(table["type"], value_set=pc.cast(list(REVENUE_TYPES), "string")),
        )
    )
    grouped = revenue.group_by("currency").aggregate([("amount", "sum")]).to_pylist()
    return {row["currency"]: row["amount_sum"] for row in grouped}


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    frame = computed.frame
    problems = []
    negative = frame[(frame["revenue"] < 0) | (frame["refunds"] < 0)]
    if not negative.empty:
        problems.append(
            f"negative revenue or refunds for {negative[['currency', 'gateway']].to_dict('records')}"
        )
    over = frame[frame["refunds"] > frame["revenue"]]
    if not over.empty:
        problems.append(
            f"refunds exceed revenue for {over[['currency', 'gateway']].to_dict('records')}"
        )
    expected = _revenue_by_currency(inputs)
    reported = {c: sum(g, Decimal(0)) for c, g in frame.groupby("currency")["revenue"]}
    for currency in sorted(set(expected) | set(reported)):
        want = expected.get(currency, Decimal(0))
        got = reported.get(currency, Decimal(0))
        if want != got:
            problems.append(f"{currency} revenue {got} is not the sum of its transactions, {want}")
    rows = inputs.tables[EXPORT].dataset().count_rows()
    if int(frame["transactions"].sum()) != rows:
        problems.append(
            f"{int(frame['transactions'].sum())} transactions counted, the table holds {rows}"
        )
    return problems


def headline(frame: pd.DataFrame) -> dict[str, float]:
    approved, declined = frame["approved"].sum(), frame["declined"].sum()
    figures: dict[str, float] = {
        "transactions": float(frame["transactions"].sum()),
        "approval_rate": float(approved / (approved + declined)) if approved + declined else 0.0,
    }
    for currency, group in frame.groupby("currency"):
        figures[f"net_revenue_{currency}"] = float(group["net_revenue"].sum())
    return figures


def chart(frame: pd.DataFrame) -> Figure | None:
    if frame.empty:
        return None
    figure = Figure(figsize=(7, 3.5))
    axes = figure.subplots()
    pivot = frame.pivot_table(
        index="currency", columns="gateway", values="net_revenue", aggfunc="sum"
    )
    pivot.astype(float).plot.bar(ax=axes, stacked=True)
    axes.set_ylabel("net revenue (own currency)")
    axes.set_title(f"Rebilly net revenue by currency and gateway, {frame['day'].iloc[0]}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="rebilly",
        name="daily_revenue",
        description=__doc__ or "",
        partitions_def=daily(),
        upstreams=(Upstream("rebilly", EXPORT, daily(), SAME_WINDOW),),
        compute=compute,
        key_columns=("day", "currency", "gateway"),
        headline=headline,
        chart=chart,
        check_name="revenue_matches_transactions",
        check_description="Revenue and refunds are never negative, refunds never exceed revenue, "
        "each currency's revenue is exactly the sum of its approved sale and capture "
        "transactions, and every transaction is counted once.",
        check=check,
    ),
)
