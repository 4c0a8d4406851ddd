"""``export-pipelines recurrence preview``: a rule's next occurrences and how it is scheduled."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.parse import parse_recurrence
from export_pipelines.recurrence.zones import zone


@click.group(name="recurrence")
def recurrence_cli() -> None:
    """Recurring exports: check a rule before putting it in the catalog."""


@recurrence_cli.command(name="preview")
@click.argument("rule")
@click.option("--start", help="Start of a duration or bare RRULE (ISO-8601; naive = in --tz).")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option("-n", "count", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--after", help="List occurrences after this ISO-8601 instant instead of now.")
def preview_command(
    rule: str, start: str | None, timezone: str, count: int, after: str | None
) -> None:
    """Print RULE's next occurrences and whether it runs as a cron, a filtered cron or a sensor.

    RULE is an RRULE block (lines may be separated by spaces or a literal \\n), an ISO-8601
    duration (with --start), R[n]/<start>/<duration>, or a 5-field cron.
    """
    try:
        recurrence = parse_recurrence(
            rule.replace("\\n", "\n"),
            default_start=_instant(start, "--start") if start else None,
            default_tz=timezone,
        )
    except RecurrenceError as error:
        raise click.ClickException(str(error)) from error
    now = _instant(after, "--after") if after else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=zone(timezone))
    click.echo(recurrence.describe(now=now, n=count))


def _instant(text: str, option: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(
            f"{text!r} is not an ISO-8601 date-time", param_hint=option
        ) from error
