"""Enterpret: feedback volume and sentiment by label name and source, per day.

A product team asks "how much feedback mentions *Slow sync*, from which channel, and how does it
feel?". Enterpret's records carry only label ids in their ``predictions`` (a ``reason`` or
``aspect`` label, and at most one ``sentiment`` label whose name is the tone): names come from the
labels API (``GET /labels/{id}``), asked once per distinct id of the partition. Hidden labels
(``isVisible: false``) still resolve and are kept; a label the API does not know (404) keeps its
row with no name and fails the check, rather than its feedback vanishing from the counts. A record
without a sentiment prediction counts as ``unscored``, so each row's sentiment shares sum to 1.
"""

from collections.abc import Iterable
from contextlib import closing
from typing import Any

import duckdb
import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.partitions import SAME_WINDOW, daily
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed, Upstream
from export_pipelines.transport.errors import RequestRejected

EXPORT = "feedback_daily"
TONES = ("positive", "negative", "neutral", "mixed", "unscored")
_SHARE_TOLERANCE = 1e-9

_PREDICTIONS = """
with predicted as (
    select id, source, unnest(predictions) as p from feedback
),
tone as (
    select id, any_value(p.label_id) as sentiment_label_id
    from predicted where p.kind = 'sentiment' group by id
)
select distinct predicted.id, predicted.source, p.label_id, p.kind, tone.sentiment_label_id
from predicted left join tone using (id)
where p.kind <> 'sentiment'
"""
_SENTIMENT_IDS = """
select distinct p.label_id from (select unnest(predictions) as p from feedback)
where p.kind = 'sentiment'
"""


def resolve_labels(
    client: Any, label_ids: Iterable[str]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Each label by id from the labels API; ids it answers 404 for are returned apart."""
    found: dict[str, dict[str, Any]] = {}
    unknown: list[str] = []
    for label_id in sorted(set(label_ids)):
        try:
            found[label_id] = client.label(label_id)
        except RequestRejected as exc:
            if exc.status != 404:
                raise
            unknown.append(label_id)
    return found, unknown


def compute(inputs: AnalyticsInputs) -> Computed:
    feedback = inputs.tables[EXPORT].dataset()
    with duckdb.connect() as con:
        con.register("feedback", feedback)
        predicted = con.execute(_PREDICTIONS).df()
        sentiment_ids = [row[0] for row in con.execute(_SENTIMENT_IDS).fetchall()]
        records = feedback.count_rows()
    with closing(inputs.resources.enterpret.client()) as client:
        labels, unknown = resolve_labels(client, [*predicted["label_id"], *sentiment_ids])
    name = {label_id: label.get("displayName") for label_id, label in labels.items()}
    predicted["label_name"] = predicted["label_id"].map(name)
    predicted["label_type"] = predicted["kind"]
    predicted["tone"] = predicted["sentiment_label_id"].map(name).str.lower().fillna("unscored")
    unnamed_tones = sorted(set(predicted["tone"]) - set(TONES))
    predicted["source"] = predicted["source"].fillna("(none)")
    keys = ["label_type", "label_name", "label_id", "source"]
    counts = (
        predicted.groupby(keys, dropna=False)["tone"]
        .value_counts()
        .unstack(fill_value=0)
        .reindex(columns=list(TONES), fill_value=0)
        .reset_index()
    )
    counts.columns.name = None
    counts["feedback"] = counts[list(TONES)].sum(axis=1)
    for tone in TONES:
        counts[f"{tone}_share"] = counts[tone] / counts["feedback"]
    counts["net_sentiment"] = (counts["positive"] - counts["negative"]) / counts["feedback"]
    counts.insert(0, "day", inputs.window.start.date())
    counts = counts.sort_values(["feedback", "label_name"], ascending=[False, True])
    return Computed(
        counts.reset_index(drop=True),
        facts={
            "unknown_labels": unknown,
            "unnamed_tones": unnamed_tones,
            "records": records,
            "labelled_records": int(predicted["id"].nunique()),
        },
    )


def check(inputs: AnalyticsInputs, computed: Computed) -> list[str]:
    frame = computed.frame
    problems = []
    unknown = list(computed.facts.get("unknown_labels", []))
    unnamed = frame[frame["label_name"].isna()]["label_id"].tolist()
    missing = sorted(set(unknown) | set(unnamed))
    if missing:
        problems.append(f"{len(missing)} labels not resolved by the labels API: {missing[:5]}")
    if computed.facts.get("unnamed_tones"):
        problems.append(f"sentiment labels outside {TONES}: {computed.facts['unnamed_tones']}")
    shares = frame[[f"{tone}_share" for tone in TONES]].sum(axis=1)
    off = frame[(shares - 1.0).abs() > _SHARE_TOLERANCE]
    if not off.empty:
        problems.append(f"sentiment shares do not sum to 1 for {len(off)} rows")
    counted = frame[list(TONES)].sum(axis=1)
    if not (counted == frame["feedback"]).all():
        problems.append("feedback counts are not the sum of their tones")
    return problems


def headline(frame: pd.DataFrame) -> dict[str, float]:
    reasons = frame[frame["label_type"] == "reason"]
    total = reasons["feedback"].sum()
    return {
        "labels": float(frame["label_id"].nunique()),
        "reason_mentions": float(total),
        "net_sentiment_of_reasons": float(
            (reasons["positive"].sum() - reasons["negative"].sum()) / total
        )
        if total
        else 0.0,
    }


def chart(frame: pd.DataFrame) -> Figure | None:
    reasons = frame[frame["label_type"] == "reason"]
    if reasons.empty:
        return None
    by_label = reasons.groupby("label_name")[list(TONES)].sum()
    top = by_label.loc[by_label.sum(axis=1).nlargest(12).index][::-1]
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    top.plot.barh(ax=axes, stacked=True)
    axes.set_xlabel("feedback records")
    axes.set_title(f"Enterpret reasons by sentiment, {frame['day'].iloc[0]}")
    return figure


SPECS = (
    AnalyticsSpec(
        vendor="enterpret",
        name="label_sentiment",
        description=__doc__ or "",
        partitions_def=daily(),
        upstreams=(Upstream("enterpret", EXPORT, daily(), SAME_WINDOW),),
        compute=compute,
        key_columns=("day", "label_type", "label_name", "source"),
        headline=headline,
        chart=chart,
        check_name="labels_resolved",
        check_description="Every label id of the day's feedback is resolved to a name by the "
        "labels API, every sentiment label is a known tone, and each row's sentiment shares sum "
        "to 1.",
        check=check,
        resource_keys=frozenset({"enterpret"}),
    ),
)
