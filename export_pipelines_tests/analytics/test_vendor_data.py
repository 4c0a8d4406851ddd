"""Rebilly, Enterpret and Connhex analytics over exports the pipeline really ran against the sandbox.

The export runs in-process (request → raw → table) against the sandbox over HTTP, then the
analytics asset; the expected figures are computed here, in plain Python with ``Decimal``, from the
sandbox's own generator of those records (and, for Enterpret, its label set), never from the table.
"""

from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dagster as dg

from export_pipelines.analytics import lakeio
from export_pipelines.analytics.vendors import connhex, enterpret, rebilly
from export_pipelines.lake import LakeResource
from export_pipelines.sandbox import rebilly as rebilly_sandbox
from export_pipelines.sandbox.connhex import expected as connhex_expected
from export_pipelines.sandbox.enterpret.expected import expected_records
from export_pipelines_tests.analytics.connhex_expected import expected_series, result_series
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.helpers import export_keys, failure_messages, materialize

DAY = "2024-03-04"


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _run_export_then_analytics(
    project: Project, vendor: str, export: str, analytics: dg.AssetKey
) -> dg.ExecuteInProcessResult:
    definitions, instance = project.definitions(), project.instance()
    exported = materialize(definitions, instance, export_keys(vendor, export), DAY)
    assert exported.success, failure_messages(exported)
    result = materialize(definitions, instance, [analytics], DAY)
    assert result.success, failure_messages(result)
    return result


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    gateway = record.get("gateway") or {}
    return {**record, "gateway/name": gateway.get("name") if isinstance(gateway, dict) else None}


def test_rebilly_daily_revenue_matches_the_sandbox_transactions(project: Project) -> None:
    spec = rebilly.SPECS[0]
    result = _run_export_then_analytics(project, "rebilly", "transactions_daily", spec.key)
    (job,) = project.ledger().jobs(vendor="rebilly")
    records = list(
        rebilly_sandbox.SANDBOX_VENDOR.expected_records(
            project.sandbox.url, job.vendor_job_id or "", job.request_body
        )
    )
    expected: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "ok": 0, "no": 0, "rev": Decimal(0), "ref": Decimal(0)}
    )
    for record in map(_flat, records):
        row = expected[(record["currency"], record["gateway/name"] or "(none)")]
        row["n"] += 1
        row["ok"] += record["result"] == "approved"
        row["no"] += record["result"] == "declined"
        if record["result"] == "approved" and record["type"] in ("sale", "capture"):
            row["rev"] += Decimal(record["amount"])
            row["ref"] += Decimal(record["refundedAmount"] or 0)

    frame = lakeio.read_result(LakeResource(root=str(project.data)), "rebilly", spec.name, DAY)
    got = {
        (r.currency, r.gateway): {
            "n": r.transactions,
            "ok": r.approved,
            "no": r.declined,
            "rev": r.revenue,
            "ref": r.refunds,
        }
        for r in frame.itertuples()
    }
    assert got == dict(expected)
    assert len(records) >= 10
    for r in frame.itertuples():
        assert r.net_revenue == r.revenue - r.refunds
        if r.approved + r.declined:
            assert abs(r.approval_rate - r.approved / (r.approved + r.declined)) < 1e-12
    assert _checks(result) == {"unique_keys": True, "revenue_matches_transactions": True}
    metadata = result.asset_materializations_for_node(spec.key.to_python_identifier())[0].metadata
    assert metadata["dagster/row_count"].value == len(expected)
    assert metadata["transactions"].value == len(records)
    assert metadata["chart"].value.startswith("![daily_revenue](data:image/png;base64,")
    path = project.data / "lake/analytics/rebilly/daily_revenue" / DAY / "data.parquet"
    assert metadata["path"].value == str(path)


def test_enterpret_label_sentiment_resolves_every_label_through_the_api(
    project: Project,
) -> None:
    spec = enterpret.SPECS[0]
    result = _run_export_then_analytics(project, "enterpret", "feedback_daily", spec.key)
    (job,) = project.ledger().jobs(vendor="enterpret")
    labels = project.sandbox.enterpret.dataset.labels
    expected: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for record in expected_records(project.sandbox.url, job.vendor_job_id or "", job.request_body):
        predictions = record.get("predictions") or []
        tone = "unscored"
        for p in predictions:
            if "sentiment" in p:
                tone = labels.get(p["labelID"])["displayName"].lower()
        seen = set()
        for p in predictions:
            kind = next(k for k in p if k != "labelID")
            if kind == "sentiment" or p["labelID"] in seen:
                continue
            seen.add(p["labelID"])
            name = labels.get(p["labelID"])["displayName"]
            expected[(kind, name, record.get("source") or "(none)")][tone] += 1

    frame = lakeio.read_result(LakeResource(root=str(project.data)), "enterpret", spec.name, DAY)
    got = {
        (r.label_type, r.label_name, r.source): Counter(
            {t: getattr(r, t) for t in enterpret.TONES if getattr(r, t)}
        )
        for r in frame.itertuples()
    }
    assert got == dict(expected)
    assert sum(sum(c.values()) for c in expected.values()) > 50
    assert _checks(result) == {"unique_keys": True, "labels_resolved": True}


#: Hours of ``DAY`` the Connhex test exports: sensor-002 of the sandbox's default seed is silent in
#: hour 2, and hour 4 is left out, so both a silence and a hole in the export are inside the day.
CONNHEX_HOURS = (1, 2, 3, 5)


def test_connhex_device_day_matches_the_sandbox_points(project: Project) -> None:
    spec = connhex.SPECS[0]
    definitions, instance = project.definitions(), project.instance()
    export = "raw_points_hourly"
    for hour in CONNHEX_HOURS:
        exported = materialize(
            definitions, instance, export_keys("connhex", export), f"{DAY}-{hour:02d}:00"
        )
        assert exported.success, failure_messages(exported)
    result = materialize(definitions, instance, [spec.key], DAY)
    assert result.success, failure_messages(result)

    jobs = project.ledger().jobs(vendor="connhex")
    assert len(jobs) == len(CONNHEX_HOURS)
    points = [
        {**record, "time": datetime.fromisoformat(record["time"])}
        for job in jobs
        for record in connhex_expected.expected_records(
            project.sandbox.url, job.vendor_job_id or "", job.request_body
        )
    ]
    day = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    expected = expected_series(points, day, set(CONNHEX_HOURS), connhex.GAP_THRESHOLD_SECONDS)
    # The chosen hours hold a silence and a gap; an unlucky seed change would make this test weak.
    assert any(series["silent_hours"] for series in expected.values())
    assert any(series["gaps_over_threshold"] for series in expected.values())

    frame = lakeio.read_result(LakeResource(root=str(project.data)), "connhex", spec.name, DAY)
    assert result_series(frame) == expected
    assert _checks(result) == {"unique_keys": True, "device_stats_are_consistent": True}
    metadata = result.asset_materializations_for_node(spec.key.to_python_identifier())[0].metadata
    assert metadata["dagster/row_count"].value == len(expected)
    assert metadata["points"].value == len(points)
    assert metadata["gaps_over_threshold"].value == sum(
        series["gaps_over_threshold"] for series in expected.values()
    )
    assert metadata["raw_points_hourly_partitions_read"].value == len(CONNHEX_HOURS)
    assert str(metadata["chart"].value).startswith("![device_daily](data:image/png;base64,")
