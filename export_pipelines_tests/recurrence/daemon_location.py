"""A code location for the daemon test: one export recurring by a filtered cron, one by a sensor."""

from __future__ import annotations

import dagster as dg

from export_pipelines.recurrence import RecurrenceSpec, build_recurrence_definitions

#: Monthly on the first Friday (a filtered cron) and daily at 09:00:30 (a sensor), in Berlin.
FIRST_FRIDAY = "DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=MONTHLY;BYDAY=1FR"
DAILY_AT_SECONDS = "DTSTART;TZID=Europe/Berlin:20250301T090030\nRRULE:FREQ=DAILY"


@dg.asset
def fridays_request() -> None:
    return None


@dg.asset
def daily_request() -> None:
    return None


recurrences = [
    *build_recurrence_definitions(
        name="fridays",
        spec=RecurrenceSpec(rule=FIRST_FRIDAY, catch_up="all", max_catch_up=2),
        target=[fridays_request.key],
        partitions_def=None,
    ),
    *build_recurrence_definitions(
        name="daily",
        spec=RecurrenceSpec(rule=DAILY_AT_SECONDS, catch_up="all", max_catch_up=3),
        target=[daily_request.key],
        partitions_def=None,
    ),
]
defs = dg.Definitions(
    assets=[fridays_request, daily_request],
    schedules=[d for d in recurrences if isinstance(d, dg.ScheduleDefinition)],
    sensors=[d for d in recurrences if isinstance(d, dg.SensorDefinition)],
)
