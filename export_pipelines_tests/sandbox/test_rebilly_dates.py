"""Relative ``dateRange`` forms (R-3), resolved in UTC: the grammar, and windows over HTTP."""

import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from dateutil.relativedelta import relativedelta

from export_pipelines.sandbox import SandboxServer
from export_pipelines.sandbox.rebilly.dates import DateRangeError, resolve
from export_pipelines_tests.sandbox.test_rebilly_support import (
    api,
    complete,
    control,
    create,
    exported_file,
    get,
    server,
    simulator,
)

__all__ = ["api", "control", "server"]

NOW = datetime(2024, 3, 15, 13, 45, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("now", NOW),
        ("today", datetime(2024, 3, 15, tzinfo=UTC)),
        ("midnight", datetime(2024, 3, 15, tzinfo=UTC)),
        ("noon", datetime(2024, 3, 15, 12, tzinfo=UTC)),
        ("yesterday", datetime(2024, 3, 14, tzinfo=UTC)),
        ("tomorrow", datetime(2024, 3, 16, tzinfo=UTC)),
        ("-1 day", datetime(2024, 3, 14, 13, 45, 30, tzinfo=UTC)),
        ("-2 hours", datetime(2024, 3, 15, 11, 45, 30, tzinfo=UTC)),
        ("+90 minutes", datetime(2024, 3, 15, 15, 15, 30, tzinfo=UTC)),
        ("3 days ago", datetime(2024, 3, 12, 13, 45, 30, tzinfo=UTC)),
        ("3 days ago midnight", datetime(2024, 3, 12, tzinfo=UTC)),
        ("1 week ago", datetime(2024, 3, 8, 13, 45, 30, tzinfo=UTC)),
        ("-1 month", datetime(2024, 2, 15, 13, 45, 30, tzinfo=UTC)),
        ("-1 year", datetime(2023, 3, 15, 13, 45, 30, tzinfo=UTC)),
        ("first day of last month", datetime(2024, 2, 1, 13, 45, 30, tzinfo=UTC)),
        ("first day of last month midnight", datetime(2024, 2, 1, tzinfo=UTC)),
        ("last day of last month midnight", datetime(2024, 2, 29, tzinfo=UTC)),
        ("first day of this month midnight", datetime(2024, 3, 1, tzinfo=UTC)),
        ("first day of next month midnight", datetime(2024, 4, 1, tzinfo=UTC)),
        ("  Yesterday  ", datetime(2024, 3, 14, tzinfo=UTC)),
        ("2018-01-21T15:15:15Z", datetime(2018, 1, 21, 15, 15, 15, tzinfo=UTC)),
        ("2018-01-21 15:15:15", datetime(2018, 1, 21, 15, 15, 15, tzinfo=UTC)),
        ("2018-01-21", datetime(2018, 1, 21, tzinfo=UTC)),
        ("2018-01-21T17:15:15+02:00", datetime(2018, 1, 21, 15, 15, 15, tzinfo=UTC)),
    ],
)
def test_phrases_resolve_in_utc(phrase: str, expected: datetime) -> None:
    assert resolve(phrase, NOW) == expected


def test_months_clamp_to_the_end_of_the_shorter_month() -> None:
    assert resolve("-1 month", datetime(2024, 3, 31, 8, tzinfo=UTC)) == datetime(
        2024, 2, 29, 8, tzinfo=UTC
    )


def test_the_anchor_is_read_in_utc_whatever_its_zone() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))  # already 16 March there
    assert resolve("today", tokyo) == datetime(2024, 3, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "word"),
    [("next friday", "'next'"), ("3 fortnights ago", "'3'"), ("ago", "ago"), ("", "empty")],
)
def test_other_phrases_are_refused_naming_the_word(phrase: str, word: str) -> None:
    with pytest.raises(DateRangeError, match=word):
        resolve(phrase, NOW)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def test_relative_windows_over_http_are_resolved_when_processing_starts(
    server: SandboxServer, api: httpx.Client, control: httpx.Client
) -> None:
    summary, content = exported_file(
        api,
        control,
        resource="transactions",
        format="json",
        dateRange={"start": "7 days ago midnight", "end": "today"},
    )
    resolved = datetime.fromtimestamp(summary["resolved_at"], UTC).replace(microsecond=0)
    today = _midnight(resolved)
    assert summary["window_start"] == int((today - timedelta(days=7)).timestamp())
    assert summary["window_end"] == int(today.timestamp())
    records = json.loads(content)
    start = (today - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = today.strftime("%Y-%m-%dT%H:%M:%SZ")
    dataset = simulator(server).dataset
    expected = [
        record
        for record in (dataset.record("transactions", i) for i in range(dataset.record_count))
        if start <= record["processedTime"] < end
    ]
    assert records == expected and len(expected) > 0


def test_a_pending_export_resolves_its_window_only_when_it_runs(
    api: httpx.Client, control: httpx.Client
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    export = create(
        api,
        resource="customers",
        format="csv",
        scheduledTime=later,
        dateRange={"start": "-1 month", "end": "now"},
    )
    assert get(api, export["id"])["dateRange"]["start"] == "-1 month"
    pending = control.get(f"/exports/{export['id']}").json()
    assert (pending["status"], pending["resolved_at"], pending["window_start"]) == (
        "pending",
        None,
        None,
    )
    summary = complete(control, export["id"])
    resolved = datetime.fromtimestamp(summary["resolved_at"], UTC).replace(microsecond=0)
    assert summary["window_start"] == int((resolved - relativedelta(months=1)).timestamp())
    assert summary["window_end"] == int(resolved.timestamp())
