"""Reading a recurrence text: an RRULE, an ISO-8601 duration or repeating interval, or a cron.

python-dateutil parses RRULEs and isodate parses durations; written here is only what they leave
open: telling the four forms apart, giving a floating DTSTART the catalog's zone, splitting a
duration into its calendar and elapsed parts, and handing durations that are exactly an RRULE to
the RRULE machinery.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import isodate
from dagster._utils.schedules import has_out_of_range_cron_interval, is_valid_cron_string
from dateutil import rrule as du

from export_pipelines.recurrence.cron_derivation import (
    Candidates,
    duration_candidates,
    rrule_candidates,
)
from export_pipelines.recurrence.cron_occurrences import CronOccurrences
from export_pipelines.recurrence.duration_occurrences import CalendarDuration, DurationOccurrences
from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.occurrences import OccurrenceSource
from export_pipelines.recurrence.plan import CronPlan, plan_for
from export_pipelines.recurrence.recurrence import Recurrence, RecurrenceKind
from export_pipelines.recurrence.rrule_occurrences import MAX_COUNT, RRuleOccurrences, rebuilt
from export_pipelines.recurrence.rule_fields import fields_of
from export_pipelines.recurrence.zones import zone, zone_name

_RRULE_PREFIXES = ("DTSTART", "RRULE:", "FREQ=", "RDATE", "EXDATE", "EXRULE")
_REPEATING = re.compile(r"^R(?P<count>\d*)/(?P<start>[^/]+)/(?P<duration>[^/]+)$", re.IGNORECASE)
_FLOATING_DTSTART = re.compile(
    r"^DTSTART(?P<value>;VALUE=DATE(?:-TIME)?)?:(?P<date>\d{8}(?:T\d{6})?)$", re.IGNORECASE
)


def parse_recurrence(
    text: str, *, default_start: datetime | None = None, default_tz: str = "UTC"
) -> Recurrence:
    """Parse ``text`` into a `Recurrence`, or raise `RecurrenceError` with the parser's reason.

    ``default_start`` anchors a duration or a bare RRULE (a naive one is wall-clock time in
    ``default_tz``); ``default_tz`` is the zone of anything that does not name its own: a
    floating DTSTART, a naive start, a cron.
    """
    stripped = text.strip()
    if not stripped:
        raise RecurrenceError("the recurrence is empty")
    zone(default_tz)
    upper = stripped.upper()
    if upper.startswith(_RRULE_PREFIXES) or "RRULE:" in upper:
        return _parse_rrule(stripped, default_start, default_tz)
    repeating = _REPEATING.match(stripped)
    if repeating and repeating["duration"].upper().startswith("P"):
        return _parse_repeating(stripped, repeating, default_tz)
    if upper.startswith("R") and "/" in upper:
        raise RecurrenceError(
            f"unsupported repeating interval {stripped!r}: expected R/<start>/<duration> or"
            " R<n>/<start>/<duration>"
        )
    if upper.startswith("P"):
        if default_start is None:
            raise RecurrenceError(
                f"the duration {stripped!r} needs a start: set `start`, or write"
                f" R/<start>/{stripped}"
            )
        duration = parse_duration(stripped)
        return _duration_recurrence(stripped, "duration", default_start, default_tz, duration, None)
    return _parse_cron(stripped, default_start, default_tz)


def parse_duration(text: str) -> CalendarDuration:
    """An ISO-8601 duration as calendar parts (Y, M, W, D) and an elapsed part (H, M, S)."""
    upper = text.strip().upper()
    if not upper.startswith("P"):
        raise RecurrenceError(f"invalid ISO-8601 duration {text!r}: it must start with P")
    date_part, has_time, time_part = upper[1:].partition("T")
    if re.search(r"[.,]", date_part):
        raise RecurrenceError(
            f"invalid ISO-8601 duration {text!r}: fractional years, months, weeks or days"
            " have no calendar meaning"
        )
    try:
        nominal = isodate.parse_duration("P" + date_part) if date_part else timedelta(0)
        exact = isodate.parse_duration("PT" + time_part) if has_time else timedelta(0)
    except (isodate.ISO8601Error, ValueError) as error:
        raise RecurrenceError(f"invalid ISO-8601 duration {text!r}: {error}") from error
    if not isinstance(exact, timedelta):
        raise RecurrenceError(f"invalid ISO-8601 duration {text!r}: bad time part")
    if exact.microseconds:
        raise RecurrenceError(f"invalid ISO-8601 duration {text!r}: below a second")
    if isinstance(nominal, timedelta):
        years, months, days = 0, 0, nominal.days
    else:
        years, months, days = int(nominal.years), int(nominal.months), nominal.tdelta.days
    duration = CalendarDuration(years=years, months=months, days=days, exact=exact)
    if duration.average_length <= timedelta(0):
        raise RecurrenceError(f"invalid ISO-8601 duration {text!r}: it must be longer than zero")
    return duration


def _parse_rrule(text: str, default_start: datetime | None, default_tz: str) -> Recurrence:
    lines = text.replace("\r\n", "\n").split()
    has_dtstart = any(line.upper().startswith("DTSTART") for line in lines)
    lines = [_zoned_dtstart(line, default_tz) for line in lines]
    options: dict[str, Any] = {}
    if not has_dtstart:
        if default_start is None:
            raise RecurrenceError(
                "the RRULE has no DTSTART: add DTSTART;TZID=<zone>:<YYYYMMDDTHHMMSS> or set `start`"
            )
        options["dtstart"] = _wall_start(default_start, default_tz)
    try:
        parsed = du.rrulestr("\n".join(lines), tzids=zone, **options)
    except RecurrenceError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise RecurrenceError(f"invalid RRULE: {error}") from error
    if not isinstance(parsed, du.rrule):
        raise RecurrenceError(
            "unsupported RRULE block: only DTSTART and one RRULE are supported"
            " (no RDATE, EXDATE, EXRULE or second RRULE)"
        )
    rule = _with_zoneinfo(parsed)
    parts = fields_of(rule)
    if parts.count is not None and parts.until is not None:
        raise RecurrenceError("invalid RRULE: COUNT and UNTIL must not both be given (RFC 5545)")
    if parts.count is not None and not 1 <= parts.count <= MAX_COUNT:
        raise RecurrenceError(f"invalid RRULE: COUNT must be between 1 and {MAX_COUNT}")
    if parts.interval < 1:
        raise RecurrenceError("invalid RRULE: INTERVAL must be a positive integer")
    return _rrule_recurrence(text, "rrule", rule, None)


def _parse_repeating(text: str, match: re.Match[str], default_tz: str) -> Recurrence:
    count = int(match["count"]) if match["count"] else None
    if count == 0:
        raise RecurrenceError(f"invalid repeating interval {text!r}: R0 has no occurrences")
    start = _parse_start(match["start"], text)
    duration = parse_duration(match["duration"])
    return _duration_recurrence(text, "repeating interval", start, default_tz, duration, count)


def _parse_cron(text: str, default_start: datetime | None, default_tz: str) -> Recurrence:
    cron_string = " ".join(text.split())
    if len(cron_string.split()) != 5 or not is_valid_cron_string(cron_string):
        raise RecurrenceError(
            f"unrecognised recurrence {text!r}: not a valid 5-field cron string, and not an"
            " RRULE, an ISO-8601 duration (P...) or a repeating interval (R/<start>/<duration>)"
        )
    if has_out_of_range_cron_interval(cron_string):
        raise RecurrenceError(
            f"invalid cron {text!r}: a step larger than its field's range fires at the range's"
            " start only (e.g. */90 minutes fires hourly)"
        )
    not_before = _wall_start(default_start, default_tz) if default_start else None
    source = CronOccurrences(cron_string, default_tz, not_before)
    plan = CronPlan(
        cron_strings=(cron_string,),
        timezone=default_tz,
        reason="a cron string is its own schedule (Dagster's cron semantics across DST)",
    )
    return Recurrence(text=text, kind="cron", tz=default_tz, plan=plan, source=source)


def _duration_recurrence(
    text: str,
    kind: RecurrenceKind,
    start: datetime,
    default_tz: str,
    duration: CalendarDuration,
    count: int | None,
) -> Recurrence:
    wall_start = _wall_start(start, default_tz).replace(microsecond=0)
    if count is not None and count > MAX_COUNT:
        raise RecurrenceError(f"invalid repeating interval {text!r}: at most R{MAX_COUNT}")
    rule = _duration_as_rrule(wall_start, duration, count)
    if rule is not None:
        equivalent = str(rule).splitlines()[-1].removeprefix("RRULE:")
        if fields_of(rule).dtstart.tzinfo != wall_start.tzinfo:
            equivalent += " (elapsed time, in UTC)"
        return _rrule_recurrence(text, kind, rule, equivalent, display_tz=default_tz)
    source = DurationOccurrences(wall_start, ZoneInfo(default_tz), duration, count)
    _require_occurrences(source, text)
    return _recurrence(text, kind, default_tz, source, duration_candidates(source), None)


def _duration_as_rrule(
    wall_start: datetime, duration: CalendarDuration, count: int | None
) -> du.rrule | None:
    """The RRULE with exactly the duration's occurrences, where one exists."""
    if duration.is_time_only:
        seconds = int(duration.exact.total_seconds())
        freq, unit = (
            (du.HOURLY, 3600)
            if seconds % 3600 == 0
            else (du.MINUTELY, 60)
            if seconds % 60 == 0
            else (du.SECONDLY, 1)
        )
        utc_start = wall_start.astimezone(ZoneInfo("UTC"))
        return du.rrule(freq, dtstart=utc_start, interval=seconds // unit, count=count)  # type: ignore[arg-type]
    if duration.exact:
        return None
    if not duration.years and not duration.months:
        if duration.days % 7 == 0:
            return du.rrule(du.WEEKLY, dtstart=wall_start, interval=duration.days // 7, count=count)
        return du.rrule(du.DAILY, dtstart=wall_start, interval=duration.days, count=count)
    if duration.days or wall_start.day > 28:
        return None
    months = duration.years * 12 + duration.months
    if months % 12 == 0:
        return du.rrule(du.YEARLY, dtstart=wall_start, interval=months // 12, count=count)
    return du.rrule(du.MONTHLY, dtstart=wall_start, interval=months, count=count)


def _rrule_recurrence(
    text: str,
    kind: RecurrenceKind,
    rule: du.rrule,
    equivalent: str | None,
    *,
    display_tz: str | None = None,
) -> Recurrence:
    source = RRuleOccurrences(rule)
    _require_occurrences(source, text)
    tz = display_tz or source.zone.key
    return _recurrence(text, kind, tz, source, rrule_candidates(rule), equivalent, source.zone.key)


def _recurrence(
    text: str,
    kind: RecurrenceKind,
    tz: str,
    source: OccurrenceSource,
    candidates: Candidates,
    equivalent: str | None,
    plan_zone: str | None = None,
) -> Recurrence:
    plan = plan_for(source, candidates, plan_zone or tz, last=_last(source))
    return Recurrence(
        text=text, kind=kind, tz=tz, plan=plan, source=source, equivalent_rrule=equivalent
    )


def _require_occurrences(source: OccurrenceSource, text: str) -> None:
    if source.first is None:
        raise RecurrenceError(f"the recurrence {text!r} has no occurrences")


def _last(source: OccurrenceSource) -> datetime | None:
    """The last occurrence of a finite rule (an upper bound is enough), None if it never ends."""
    if isinstance(source, RRuleOccurrences):
        return source.last
    if isinstance(source, DurationOccurrences) and source.count is not None:
        return source.occurrence(source.count - 1)
    return None


def _zoned_dtstart(line: str, default_tz: str) -> str:
    """A floating DTSTART line (no TZID, no Z) with the catalog's zone attached."""
    match = _FLOATING_DTSTART.match(line)
    if not match:
        return line
    return f"DTSTART{match['value'] or ''};TZID={default_tz}:{match['date']}"


def _with_zoneinfo(rule: du.rrule) -> du.rrule:
    """The rule with DTSTART in a `ZoneInfo` (a ``Z`` DTSTART comes back in dateutil's tzutc)."""
    parts = fields_of(rule)
    tz = parts.dtstart.tzinfo
    if isinstance(tz, ZoneInfo):
        return rule
    utc_start = parts.dtstart.replace(tzinfo=ZoneInfo(zone_name(tz)))
    return rebuilt(rule, dtstart=utc_start, count=parts.count, until=parts.until)


def _wall_start(start: datetime, default_tz: str) -> datetime:
    """``start`` as wall-clock time in ``default_tz`` (a naive start already is)."""
    tz = zone(default_tz)
    if start.tzinfo is None:
        return start.replace(tzinfo=tz)
    return start.astimezone(tz)


def _parse_start(text: str, whole: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise RecurrenceError(
            f"invalid start {text!r} in {whole!r}: expected an ISO-8601 date-time ({error})"
        ) from error
