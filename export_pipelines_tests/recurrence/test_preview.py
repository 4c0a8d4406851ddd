"""``export-pipelines recurrence preview``."""

from __future__ import annotations

from click.testing import CliRunner

from export_pipelines.recurrence import recurrence_cli


def test_preview_prints_plan_and_next_occurrences() -> None:
    result = CliRunner().invoke(
        recurrence_cli,
        [
            "preview",
            r"DTSTART;TZID=Europe/Berlin:20250301T090000\nRRULE:FREQ=MONTHLY;BYDAY=1FR",
            "-n",
            "3",
            "--after",
            "2025-03-01T00:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Rule: DTSTART;TZID=Europe/Berlin:20250301T090000 RRULE:FREQ=MONTHLY;BYDAY=1FR",
        "Time zone: Europe/Berlin",
        "Scheduled as: filtered cron '0 9 * * 5' in Europe/Berlin",
        "Why: not a union of crons: an nth weekday (e.g. 1FR) has no cron equivalent; this cron"
        " fires at every occurrence and its other ticks are skipped",
        "Next 3 occurrences after 2025-03-01 00:00 UTC:",
        "  2025-03-07 09:00:00 CET (+0100) = 2025-03-07T08:00:00Z",
        "  2025-04-04 09:00:00 CEST (+0200) = 2025-04-04T07:00:00Z",
        "  2025-05-02 09:00:00 CEST (+0200) = 2025-05-02T07:00:00Z",
    ]


def test_preview_of_a_duration_and_a_cron() -> None:
    runner = CliRunner()
    duration = runner.invoke(
        recurrence_cli,
        [
            "preview",
            "PT15M",
            "--start",
            "2025-03-01T09:00",
            "--tz",
            "Europe/Berlin",
            "-n",
            "2",
            "--after",
            "2025-03-01T09:00",
        ],
    )
    assert duration.exit_code == 0, duration.output
    assert "Scheduled as: cron '*/15 * * * *' in UTC" in duration.output
    assert "2025-03-01 09:15:00 CET (+0100) = 2025-03-01T08:15:00Z" in duration.output
    assert "2025-03-01 09:30:00 CET" in duration.output
    cron = runner.invoke(recurrence_cli, ["preview", "30 2 * * *", "--tz", "Europe/Berlin"])
    assert cron.exit_code == 0, cron.output
    assert "Scheduled as: cron '30 2 * * *' in Europe/Berlin" in cron.output
    assert len([line for line in cron.output.splitlines() if line.startswith("  ")]) == 10


def test_preview_of_an_invalid_rule_fails_with_the_reason() -> None:
    result = CliRunner().invoke(recurrence_cli, ["preview", "P1D"])
    assert result.exit_code == 1
    assert "Error: the duration 'P1D' needs a start" in result.output
    bad_start = CliRunner().invoke(recurrence_cli, ["preview", "P1D", "--start", "soon"])
    assert bad_start.exit_code == 2
    assert "not an ISO-8601 date-time" in bad_start.output
