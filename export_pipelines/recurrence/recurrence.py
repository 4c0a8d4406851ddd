"""A parsed recurrence: its text, zone, occurrences and the Dagster plan that fires them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice, takewhile
from typing import Literal

from export_pipelines.recurrence.occurrences import OccurrenceSource
from export_pipelines.recurrence.plan import CronPlan, FilteredCronPlan, Plan, SensorPlan
from export_pipelines.recurrence.zones import zone

RecurrenceKind = Literal["rrule", "duration", "repeating interval", "cron"]


@dataclass(frozen=True)
class Recurrence:
    """One rule's occurrences (UTC instants) and how Dagster fires them.

    ``tz`` is the zone whose wall clock the rule is read in (and occurrences are shown in); the
    plan's own ``timezone`` may be UTC where that is what makes a cron exact.
    """

    text: str
    kind: RecurrenceKind
    tz: str
    plan: Plan
    source: OccurrenceSource = field(compare=False, repr=False)
    #: The RRULE a duration was read as, when it is one (shown to the user).
    equivalent_rrule: str | None = None

    @property
    def first(self) -> datetime | None:
        return self.source.first

    def occurrences_after(self, instant: datetime, n: int) -> list[datetime]:
        """The next ``n`` occurrences strictly after ``instant`` (fewer if the rule ends)."""
        return list(islice(self.source.after(_aware(instant)), n))

    def occurrences_between(self, after: datetime, through: datetime) -> Iterator[datetime]:
        """Every occurrence ``o`` with ``after < o <= through``, ascending."""
        through = _aware(through)
        return takewhile(lambda o: o <= through, self.source.after(_aware(after)))

    def latest_occurrences(
        self, through: datetime, n: int, after: datetime | None = None
    ) -> list[datetime]:
        """Up to ``n`` latest occurrences ``o`` with ``after < o <= through``, ascending."""
        return self.source.latest(_aware(through), n, _aware(after) if after else None)

    def previous_occurrence(self, instant: datetime) -> datetime | None:
        """The latest occurrence strictly before ``instant``."""
        return self.source.previous(_aware(instant))

    def is_occurrence(self, instant: datetime) -> bool:
        return self.source.is_occurrence(_aware(instant))

    def describe(self, *, now: datetime | None = None, n: int = 5) -> str:
        """The rule, how it is scheduled and its next ``n`` occurrences, for the UI and the CLI."""
        now = _aware(now) if now else datetime.now(UTC)
        lines = [f"Rule: {' '.join(self.text.split())}", f"Time zone: {self.tz}"]
        if self.equivalent_rrule:
            lines.append(f"Read as: {self.equivalent_rrule}")
        lines.append(f"Scheduled as: {describe_plan(self.plan)}")
        if self.plan.reason:
            lines.append(f"Why: {self.plan.reason}")
        upcoming = self.occurrences_after(now, n)
        if upcoming:
            lines.append(f"Next {len(upcoming)} occurrences after {now:%Y-%m-%d %H:%M} UTC:")
            lines.extend(f"  {self.format_instant(o)}" for o in upcoming)
        else:
            lines.append(f"No occurrences after {now:%Y-%m-%d %H:%M} UTC: the rule has ended.")
        return "\n".join(lines)

    def format_instant(self, instant: datetime) -> str:
        """``2025-03-30 03:30 CEST (+02:00) = 2025-03-30T01:30:00Z``."""
        local = instant.astimezone(zone(self.tz))
        utc = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{local:%Y-%m-%d %H:%M:%S %Z (%z)} = {utc}"


def describe_plan(plan: Plan) -> str:
    if isinstance(plan, CronPlan):
        crons = ", ".join(f"'{c}'" for c in plan.cron_strings)
        return f"cron {crons} in {plan.timezone}"
    if isinstance(plan, FilteredCronPlan):
        return f"filtered cron '{plan.cron_string}' in {plan.timezone}"
    assert isinstance(plan, SensorPlan)
    return f"sensor every {plan.minimum_interval_seconds}s"


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"{instant!r} has no time zone: occurrences are instants")
    return instant.astimezone(UTC)
