"""Occurrences of a cron string: by definition the ticks Dagster's scheduler fires for it.

A cron has no RFC 5545 meaning across DST, so its meaning is the one cron has always had and
Dagster's scheduler implements: a time skipped by spring-forward fires when the gap ends, a
repeated time fires once (the later one) unless the hour field is ``*``, in which case the rule
fires every hour that passes. Using Dagster's own iterator makes the plan exact by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from dagster._utils.schedules import cron_string_iterator, reverse_cron_string_iterator

from export_pipelines.recurrence.occurrences import EPSILON, OccurrenceSource


class CronOccurrences(OccurrenceSource):
    """The ticks of one cron string in zone ``zone_name``, from ``not_before`` if given."""

    def __init__(self, cron_string: str, zone_name: str, not_before: datetime | None) -> None:
        self.cron_string = cron_string
        self.zone_name = zone_name
        self.not_before = not_before.astimezone(UTC) if not_before else None

    @property
    def first(self) -> datetime | None:
        if self.not_before is None:
            return None
        return next(self.after(self.not_before - EPSILON), None)

    @property
    def typical_gap(self) -> timedelta:
        ticks = self.after(datetime(2001, 1, 1, tzinfo=UTC))
        first = next(ticks)
        return next(ticks) - first

    def after(self, instant: datetime) -> Iterator[datetime]:
        if self.not_before is not None:
            instant = max(instant, self.not_before - EPSILON)
        for tick in cron_string_iterator(instant.timestamp(), self.cron_string, self.zone_name):
            tick_utc = tick.astimezone(UTC)
            if tick_utc > instant:
                yield tick_utc

    def latest(self, through: datetime, n: int, after: datetime | None = None) -> list[datetime]:
        if self.not_before is not None:
            floor = self.not_before - EPSILON
            after = floor if after is None else max(after, floor)
        found: list[datetime] = []
        ticks = reverse_cron_string_iterator(through.timestamp(), self.cron_string, self.zone_name)
        for tick in ticks:
            tick_utc = tick.astimezone(UTC)
            if len(found) >= n or (after is not None and tick_utc <= after):
                break
            if tick_utc <= through:
                found.append(tick_utc)
        return found[::-1]
