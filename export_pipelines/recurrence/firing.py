"""What an occurrence submits, and which occurrences one evaluation fires after downtime.

Each occurrence closes a window: for a time-partitioned export the partition that ended at or
just before it, otherwise [previous occurrence, this occurrence). Its run key is derived from the
instant alone, so evaluating the same occurrence twice never launches it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

import dagster as dg

from export_pipelines.recurrence.recurrence import Recurrence

#: Run tag: the name of the recurrence (the export) that launched the run.
RECURRENCE_TAG: Final = "export_pipelines/recurrence"
#: Run tag: the occurrence (ISO-8601 UTC) the run was launched for.
OCCURRENCE_TAG: Final = "export_pipelines/occurrence"
#: Run tags of an unpartitioned export: the window [start, end) the occurrence closes (ISO UTC).
WINDOW_START_TAG: Final = "export_pipelines/window_start"
WINDOW_END_TAG: Final = "export_pipelines/window_end"

CatchUp = Literal["latest", "all"]


def iso_utc(instant: datetime) -> str:
    """``2025-03-30T01:30:00Z``: the form of every instant in tags, keys and cursors."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class OccurrenceRequests:
    """Builds the `RunRequest` an occurrence of ``recurrence`` submits for export ``name``."""

    name: str
    recurrence: Recurrence
    partitions_def: dg.TimeWindowPartitionsDefinition | None

    def run_key(self, occurrence: datetime) -> str:
        return f"{self.name}@{iso_utc(occurrence)}"

    def partition_key(self, occurrence: datetime) -> str | None:
        """The partition whose window ended at or just before ``occurrence``, if one has."""
        assert self.partitions_def is not None
        window = self.partitions_def.get_prev_partition_window(occurrence, respect_bounds=False)
        if window is None or window.start < self.partitions_def.start:
            return None
        end = self.partitions_def.end
        if end is not None and window.end > end:
            return None
        return self.partitions_def.get_partition_key_for_timestamp(window.start.timestamp())

    def window_start(self, occurrence: datetime) -> datetime | None:
        """The previous occurrence; for the first, one gap back; None for a lone occurrence."""
        previous = self.recurrence.previous_occurrence(occurrence)
        if previous is not None:
            return previous
        following = self.recurrence.occurrences_after(occurrence, 1)
        return occurrence - (following[0] - occurrence) if following else None

    def run_request(self, occurrence: datetime) -> dg.RunRequest | None:
        """The request for ``occurrence``; None when it closes no partition (before the first)."""
        tags = {RECURRENCE_TAG: self.name, OCCURRENCE_TAG: iso_utc(occurrence)}
        if self.partitions_def is not None:
            partition_key = self.partition_key(occurrence)
            if partition_key is None:
                return None
            return dg.RunRequest(
                run_key=self.run_key(occurrence), partition_key=partition_key, tags=tags
            )
        window_start = self.window_start(occurrence)
        if window_start is not None:
            tags[WINDOW_START_TAG] = iso_utc(window_start)
        tags[WINDOW_END_TAG] = iso_utc(occurrence)
        return dg.RunRequest(run_key=self.run_key(occurrence), tags=tags)

    def run_requests(self, occurrences: list[datetime]) -> list[dg.RunRequest]:
        """Requests for ``occurrences``; a partition closed by several is requested once."""
        requests: dict[str, dg.RunRequest] = {}
        for occurrence in occurrences:
            request = self.run_request(occurrence)
            if request is not None:
                requests[request.partition_key or request.run_key or ""] = request
        return list(requests.values())


def schedule_firing(
    recurrence: Recurrence,
    *,
    tick: datetime,
    now: datetime,
    catch_up: CatchUp,
    max_catch_up: int,
    last_fired: datetime | None,
) -> list[datetime] | str:
    """The occurrences a schedule tick at ``tick`` fires, or why it fires none.

    Dagster's scheduler decides which ticks it evaluates after downtime (the latest only for an
    unpartitioned job, up to its ``max_catchup_runs`` for a partitioned one); the policy is
    applied on top: ``latest`` skips a tick a later occurrence has already superseded, ``all``
    also fires the occurrences missed since ``last_fired`` (the latest run this recurrence
    launched), keeping the ``max_catch_up`` most recent.
    """
    if not recurrence.is_occurrence(tick):
        return f"{iso_utc(tick)} is not an occurrence of the rule"
    if catch_up == "latest" or last_fired is None:
        later = recurrence.occurrences_after(tick, 1)
        if catch_up == "latest" and later and later[0] <= now:
            return f"superseded by the later occurrence {iso_utc(later[0])} (catch-up: latest)"
        return [tick]
    if last_fired >= tick:
        return f"{iso_utc(tick)} was already fired"
    kept = recurrence.latest_occurrences(max(now, tick), max_catch_up, after=last_fired)
    due = [occurrence for occurrence in kept if occurrence <= tick]
    if not due:
        return (
            f"{iso_utc(tick)} is older than the {max_catch_up} most recent missed occurrences"
            " (catch-up: all, bounded)"
        )
    return due


@dataclass(frozen=True)
class SensorCursor:
    """A sensor's progress: every occurrence up to ``through`` has been handled."""

    through: datetime
    last_fired: datetime | None = None

    def dumps(self) -> str:
        last = iso_utc(self.last_fired) if self.last_fired else None
        return json.dumps({"through": iso_utc(self.through), "last_fired": last})

    @staticmethod
    def loads(text: str | None) -> SensorCursor | None:
        """The cursor, or None if there is none or it cannot be read (then start afresh)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            last = data.get("last_fired")
            return SensorCursor(
                through=parse_iso_utc(data["through"]),
                last_fired=parse_iso_utc(last) if last else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def sensor_firing(
    recurrence: Recurrence,
    *,
    cursor: SensorCursor,
    now: datetime,
    catch_up: CatchUp,
    max_catch_up: int,
) -> tuple[list[datetime], bool]:
    """The occurrences due since ``cursor`` to fire now, and whether older ones were dropped."""
    keep = 1 if catch_up == "latest" else max_catch_up
    due = recurrence.latest_occurrences(now, keep, after=cursor.through)
    dropped = bool(due) and recurrence.occurrences_after(cursor.through, 1)[0] < due[0]
    return due, dropped
