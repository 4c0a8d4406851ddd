"""Each check fails on data that breaks it: tables written by the test, labels from the sandbox."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pytest

from export_pipelines.analytics.assets import compute_partition, duplicate_key_problems
from export_pipelines.analytics.vendors import connhex, enterpret, rebilly
from export_pipelines.lake import LakeResource
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.connhex.records import LONG
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.analytics.lake_tables import write_table

AMOUNT = pa.decimal128(20, 4)
TRANSACTIONS = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("result", pa.string()),
        ("amount", AMOUNT),
        ("currency", pa.string()),
        ("refunded_amount", AMOUNT),
        ("gateway_name", pa.string()),
    ]
)
PREDICTION = pa.struct(
    [("label_id", pa.string()), ("kind", pa.string()), ("confidences", pa.list_(pa.float64()))]
)
FEEDBACK = pa.schema(
    [("id", pa.string()), ("source", pa.string()), ("predictions", pa.list_(PREDICTION))]
)
DAY = "2024-03-04"


@pytest.fixture
def lake(tmp_path: Path) -> LakeResource:
    return LakeResource(root=str(tmp_path))


def _txn(
    n: int, kind: str, result: str, amount: str, refunded: str, gateway: str
) -> dict[str, Any]:
    return {
        "id": f"txn_{n}",
        "type": kind,
        "result": result,
        "amount": Decimal(amount),
        "currency": "USD" if n % 2 else "EUR",
        "refunded_amount": Decimal(refunded),
        "gateway_name": gateway,
    }


ROWS = [
    _txn(1, "sale", "approved", "10.50", "0", "stripe"),
    _txn(2, "sale", "approved", "20.00", "5.00", "stripe"),
    _txn(3, "capture", "approved", "7.25", "0", "adyen"),
    _txn(4, "sale", "declined", "99.00", "0", "adyen"),
    _txn(5, "authorize", "approved", "50.00", "0", "stripe"),
    _txn(6, "refund", "unknown", "3.00", "0", "stripe"),
]


def test_rebilly_check_passes_on_its_own_result_and_fails_on_a_tampered_one(
    lake: LakeResource,
) -> None:
    write_table(lake, "rebilly", "transactions_daily", DAY, ROWS, TRANSACTIONS)
    spec = rebilly.SPECS[0]
    inputs, computed = compute_partition(spec, lake, DAY)
    usd = computed.frame[computed.frame["currency"] == "USD"].set_index("gateway")
    # USD: txn 1 (stripe sale), 3 (adyen capture) and 5 (stripe authorize, not revenue).
    assert usd.loc["stripe", "revenue"] == Decimal("10.50")
    assert usd.loc["adyen", "revenue"] == Decimal("7.25")
    assert usd.loc["stripe", "approval_rate"] == 1.0
    assert spec.check(inputs, computed) == []

    frame = computed.frame.copy()
    frame.loc[0, "revenue"] = frame.loc[0, "revenue"] + Decimal("1")
    problems = spec.check(inputs, replace(computed, frame=frame))
    assert any("is not the sum of its transactions" in p for p in problems)

    frame = computed.frame.copy()
    frame["refunds"] = frame["revenue"] + Decimal("1")
    assert any(
        "refunds exceed revenue" in p for p in spec.check(inputs, replace(computed, frame=frame))
    )

    frame = computed.frame.copy()
    frame.loc[0, "revenue"] = Decimal("-1")
    assert any("negative revenue" in p for p in spec.check(inputs, replace(computed, frame=frame)))


def test_duplicate_keys_fail_the_unique_keys_check(lake: LakeResource) -> None:
    write_table(lake, "rebilly", "transactions_daily", DAY, ROWS, TRANSACTIONS)
    spec = rebilly.SPECS[0]
    _, computed = compute_partition(spec, lake, DAY)
    assert duplicate_key_problems(spec, computed) == []
    doubled = replace(computed, frame=computed.frame.iloc[[0, 0, 1]])
    (problem,) = duplicate_key_problems(spec, doubled)
    assert problem.startswith("2 rows share their key ['day', 'currency', 'gateway']")


def test_enterpret_check_fails_on_a_label_the_labels_api_does_not_know(
    lake: LakeResource, sandbox: SandboxServer
) -> None:
    labels = sandbox.enterpret.dataset.labels
    sentiment = labels.ids_by_kind["sentiment"][0]
    reason = labels.ids_by_kind["reason"][0]
    unknown = "00000000-0000-4000-8000-000000000000"
    rows = [
        {
            "id": "r1",
            "source": "Twitter",
            "predictions": [
                {"label_id": sentiment, "kind": "sentiment", "confidences": []},
                {"label_id": reason, "kind": "reason", "confidences": [0.9]},
            ],
        },
        {
            "id": "r2",
            "source": "Twitter",
            "predictions": [{"label_id": unknown, "kind": "reason", "confidences": [0.7]}],
        },
    ]
    write_table(lake, "enterpret", "feedback_daily", DAY, rows, FEEDBACK)
    resources = SimpleNamespace(
        enterpret=EnterpretResource(
            base_url=sandbox.base_url("enterpret"), api_key=sandbox.api_key("enterpret")
        )
    )
    spec = enterpret.SPECS[0]
    inputs, computed = compute_partition(spec, lake, DAY, resources)
    frame = computed.frame.set_index("label_id")
    tone = labels.get(sentiment)["displayName"].lower()
    assert frame.loc[reason, "label_name"] == labels.get(reason)["displayName"]
    assert frame.loc[reason, tone] == 1
    assert frame.loc[reason, f"{tone}_share"] == 1.0
    # The unknown label's feedback is kept, unnamed and unscored, and the check names it.
    assert frame.loc[unknown, "unscored"] == 1
    assert spec.check(inputs, computed) == [
        f"1 labels not resolved by the labels API: ['{unknown}']"
    ]
    broken = computed.frame.copy()
    broken["positive_share"] += 0.5
    assert any("do not sum to 1" in p for p in spec.check(inputs, replace(computed, frame=broken)))
    assert datetime(2024, 3, 4, tzinfo=UTC) == inputs.window.start


def _points(hour: int, device: str) -> list[dict[str, Any]]:
    start = datetime(2024, 3, 4, hour, tzinfo=UTC)
    return [
        {
            "time": start + timedelta(minutes=minute),
            "publisher": device,
            "channel": "ch-1",
            "name": "power",
            "unit": "W",
            "value": 400.0 + minute,
        }
        for minute in range(0, 60, 5)
    ]


def test_connhex_check_passes_on_its_own_result_and_fails_on_a_tampered_one(
    lake: LakeResource,
) -> None:
    for hour in (8, 9):
        rows = _points(hour, "urn:chx:device:sensor-001")
        if hour == 8:  # sensor-002 says nothing in hour 9
            rows += _points(hour, "urn:chx:device:sensor-002")
        partition = f"{DAY}-{hour:02d}:00"
        write_table(lake, "connhex", "raw_points_hourly", partition, rows, LONG.arrow())
    spec = connhex.SPECS[0]
    inputs, computed = compute_partition(spec, lake, DAY)
    frame = computed.frame.set_index("publisher")
    assert frame.loc["urn:chx:device:sensor-001", "points"] == 24
    assert list(frame.loc["urn:chx:device:sensor-002", "silent_hours"]) == [9]
    assert spec.check(inputs, computed) == []
    assert duplicate_key_problems(spec, computed) == []

    def problems(column: str, value: Any) -> str:
        broken = computed.frame.copy()
        broken.at[0, column] = value
        return " | ".join(spec.check(inputs, replace(computed, frame=broken)))

    assert "25 points counted, the exports hold 36" in problems("points", 13)
    assert "min <= mean <= max" in problems("min_value", 10_000.0)
    early = computed.frame.loc[0, "first_time"] - timedelta(days=1)
    assert f"outside {DAY}" in problems("first_time", early)
    assert "more gap than" in problems("gaps_over_threshold", 99)
    assert "silent hours [3] are not exported hours" in problems("silent_hours", [3])
    assert "are not the 2 exported hours" in problems("reporting_hour_count", 0)
    doubled = replace(computed, frame=computed.frame.iloc[[0, 0, 1]])
    (duplicated,) = duplicate_key_problems(spec, doubled)
    assert duplicated.startswith("2 rows share their key ['day', 'publisher', 'channel', 'name']")
