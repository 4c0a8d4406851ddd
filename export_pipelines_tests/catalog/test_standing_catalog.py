"""A standing vendor request in the catalog (Connhex's ``type: recurring``): accepted over
partitions of one fixed length, refused at load over any other, with the reason."""

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from export_pipelines.catalog import AsyncExport
from export_pipelines.pipeline.standing import standing_body


def _export(**attributes: Any) -> AsyncExport:
    document: dict[str, Any] = {
        "vendor": "connhex",
        "export": "standing",
        "partitioning": "hourly",
        "start": "2024-03-04",
        "request": {
            "type": "recurring",
            "format": {"extension": "csv"},
            "items": [
                {
                    "params": {
                        "target": {"value": "urn:chx:device:sensor-001"},
                        "channelId": "ch-1",
                        "subtopic": "events.data",
                    }
                }
            ],
        },
    }
    document.update(attributes)
    return AsyncExport.model_validate(document)


def _refused(**attributes: Any) -> str:
    with pytest.raises(ValidationError) as error:
        _export(**attributes)
    return str(error.value)


@pytest.mark.parametrize(
    ("partitioning", "timezone"), [("daily", "Europe/Rome"), ("hourly", "Europe/Rome")]
)
def test_partitions_whose_length_changes_with_dst_are_refused(
    partitioning: str, timezone: str
) -> None:
    message = _refused(partitioning=partitioning, timezone=timezone)
    assert "export connhex/standing: a standing request" in message
    assert "needs partitions of one fixed length" in message
    assert "Europe/Rome's UTC offset changes (between UTC+01:00 and UTC+02:00)" in message
    assert "partition in UTC" in message


def test_partitions_without_one_length_at_all_are_refused() -> None:
    assert "monthly partitions in UTC are not" in _refused(partitioning="monthly")
    assert "the export must be partitioned" in _refused(partitioning="none", start=None)


@pytest.mark.parametrize(
    ("partitioning", "timezone", "periodicity", "period_start"),
    [
        ("hourly", "UTC", "PT1H", "2024-03-04T01:00:00+00:00"),
        ("daily", "UTC", "PT24H", "2024-03-05T00:00:00+00:00"),
        ("weekly", "UTC", "PT168H", "2024-03-17T00:00:00+00:00"),  # weeks start on Sunday
        # No DST in India since 1945: its days are all 24 hours, starting at 18:30 UTC.
        ("daily", "Asia/Kolkata", "PT24H", "2024-03-04T18:30:00+00:00"),
    ],
)
def test_fixed_length_partitions_are_accepted_and_set_the_schedule(
    partitioning: str, timezone: str, periodicity: str, period_start: str
) -> None:
    spec = _export(partitioning=partitioning, timezone=timezone).to_spec()
    assert spec.standing
    body = standing_body(spec)
    assert body["periodicity"] == periodicity
    assert body["items"][0]["params"]["period"] == periodicity
    assert body["periodStart"] == int(datetime.fromisoformat(period_start).timestamp())
