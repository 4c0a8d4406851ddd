"""Recurring exports: an RRULE, ISO-8601 duration or cron fired exactly by Dagster.

A catalog entry's `RecurrenceSpec` parses its rule into a `Recurrence` (its occurrences as UTC
instants and a `Plan`); `build_recurrence_definitions` turns that into the schedule or sensor that
submits the export once per occurrence, for the window the occurrence closes.

Semantics, decided once here:

- RRULEs follow RFC 5545 as python-dateutil expands them, in the DTSTART's zone: a wall time DST
  skips is read on the offset before the gap (02:30 on spring-forward fires at 03:30), a repeated
  wall time is its first occurrence (fires once), and wall times naming one instant fire once.
- ISO-8601 durations recur as start + k x duration, computed from the start (no month-end drift);
  years, months, weeks and days are calendar arithmetic on the zone's wall clock, hours, minutes
  and seconds are elapsed time (PT15M is every 15 real minutes across DST, P1D keeps the time).
- Crons mean what Dagster's scheduler (like cron) does across DST: they are their own schedule.
"""

from export_pipelines.recurrence.dagster_defs import build_recurrence_definitions, definition_name
from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.firing import (
    OCCURRENCE_TAG,
    RECURRENCE_TAG,
    WINDOW_END_TAG,
    WINDOW_START_TAG,
)
from export_pipelines.recurrence.parse import parse_recurrence
from export_pipelines.recurrence.plan import CronPlan, FilteredCronPlan, Plan, SensorPlan
from export_pipelines.recurrence.preview import preview_command, recurrence_cli
from export_pipelines.recurrence.recurrence import Recurrence
from export_pipelines.recurrence.spec import RecurrenceSpec

__all__ = [
    "OCCURRENCE_TAG",
    "RECURRENCE_TAG",
    "WINDOW_END_TAG",
    "WINDOW_START_TAG",
    "CronPlan",
    "FilteredCronPlan",
    "Plan",
    "Recurrence",
    "RecurrenceError",
    "RecurrenceSpec",
    "SensorPlan",
    "build_recurrence_definitions",
    "definition_name",
    "parse_recurrence",
    "preview_command",
    "recurrence_cli",
]
