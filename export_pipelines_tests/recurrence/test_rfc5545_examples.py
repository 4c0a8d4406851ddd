"""The examples of RFC 5545 §3.8.5.3, fired through Dagster and compared with dateutil.

Each rule is fired from its DTSTART (1997, America/New_York, as in the RFC) and again two years
into the rule, which exercises seeking; both must launch exactly dateutil's occurrences.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from export_pipelines.recurrence import RecurrenceSpec, parse_recurrence
from export_pipelines_tests.recurrence.harness import (
    fire_through_dagster,
    reference_occurrences,
    utc,
)

NY = "DTSTART;TZID=America/New_York:"

#: (RFC title, rule, plan kind, occurrences compared per window)
EXAMPLES = [
    ("daily for 10 occurrences", f"{NY}19970902T090000\nRRULE:FREQ=DAILY;COUNT=10", "cron", 10),
    (
        "daily until December 24, 1997",
        f"{NY}19970902T090000\nRRULE:FREQ=DAILY;UNTIL=19971224T000000Z",
        "cron",
        120,
    ),
    (
        "every other day - forever",
        f"{NY}19970902T090000\nRRULE:FREQ=DAILY;INTERVAL=2",
        "filtered cron",
        12,
    ),
    (
        "every 10 days, 5 occurrences",
        f"{NY}19970902T090000\nRRULE:FREQ=DAILY;INTERVAL=10;COUNT=5",
        "filtered cron",
        5,
    ),
    (
        "every day in January, for 3 years (yearly)",
        f"{NY}19980101T090000\nRRULE:FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        "cron",
        93,
    ),
    (
        "every day in January, for 3 years (daily)",
        f"{NY}19980101T090000\nRRULE:FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        "cron",
        93,
    ),
    ("weekly for 10 occurrences", f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;COUNT=10", "cron", 10),
    (
        "weekly until December 24, 1997",
        f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;UNTIL=19971224T000000Z",
        "cron",
        20,
    ),
    (
        "every other week - forever",
        f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        "filtered cron",
        10,
    ),
    (
        "weekly on Tuesday and Thursday for five weeks (UNTIL)",
        f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        "cron",
        10,
    ),
    (
        "weekly on Tuesday and Thursday for five weeks (COUNT)",
        f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        "cron",
        10,
    ),
    (
        "every other week on Monday, Wednesday and Friday until December 24, 1997",
        f"{NY}19970901T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        "filtered cron",
        25,
    ),
    (
        "every other week on Tuesday and Thursday, for 8 occurrences",
        f"{NY}19970902T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        "filtered cron",
        8,
    ),
    (
        "monthly on the first Friday for 10 occurrences",
        f"{NY}19970905T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        "filtered cron",
        10,
    ),
    (
        "monthly on the first Friday until December 24, 1997",
        f"{NY}19970905T090000\nRRULE:FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        "filtered cron",
        4,
    ),
    (
        "every other month on the first and last Sunday of the month for 10 occurrences",
        f"{NY}19970907T090000\nRRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        "filtered cron",
        10,
    ),
    (
        "monthly on the second-to-last Monday of the month for 6 months",
        f"{NY}19970922T090000\nRRULE:FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        "filtered cron",
        6,
    ),
    (
        "monthly on the third-to-the-last day of the month, forever",
        f"{NY}19970928T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-3",
        "filtered cron",
        8,
    ),
    (
        "monthly on the 2nd and 15th of the month for 10 occurrences",
        f"{NY}19970902T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        "cron",
        10,
    ),
    (
        "monthly on the first and last day of the month for 10 occurrences",
        f"{NY}19970930T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        "filtered cron",
        10,
    ),
    (
        "every 18 months on the 10th thru 15th of the month for 10 occurrences",
        f"{NY}19970910T090000\nRRULE:FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        "filtered cron",
        10,
    ),
    (
        "every Tuesday, every other month",
        f"{NY}19970902T090000\nRRULE:FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        "cron",
        18,
    ),
    (
        "yearly in June and July for 10 occurrences",
        f"{NY}19970610T090000\nRRULE:FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        "cron",
        10,
    ),
    (
        "every other year on January, February, and March for 10 occurrences",
        f"{NY}19970310T090000\nRRULE:FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        "filtered cron",
        10,
    ),
    (
        "every third year on the 1st, 100th, and 200th day for 10 occurrences",
        f"{NY}19970101T090000\nRRULE:FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        "filtered cron",
        4,
    ),
    (
        "every 20th Monday of the year, forever",
        f"{NY}19970519T090000\nRRULE:FREQ=YEARLY;BYDAY=20MO",
        "filtered cron",
        4,
    ),
    (
        "Monday of week number 20, forever",
        f"{NY}19970512T090000\nRRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "filtered cron",
        4,
    ),
    (
        "every Thursday in March, forever",
        f"{NY}19970313T090000\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        "cron",
        12,
    ),
    (
        "every Thursday, but only during June, July, and August, forever",
        f"{NY}19970605T090000\nRRULE:FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8",
        "cron",
        20,
    ),
    (
        "every Friday the 13th, forever",
        f"{NY}19970902T090000\nRRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
        "filtered cron",
        6,
    ),
    (
        "the first Saturday that follows the first Sunday of the month, forever",
        f"{NY}19970913T090000\nRRULE:FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        "filtered cron",
        10,
    ),
    (
        "every 4 years, the first Tuesday after a Monday in November (U.S. Presidential Election day)",
        f"{NY}19961105T090000\nRRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        "filtered cron",
        4,
    ),
    (
        "the third instance into the month of one of Tuesday, Wednesday, or Thursday",
        f"{NY}19970904T090000\nRRULE:FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        "filtered cron",
        3,
    ),
    (
        "the second-to-last weekday of the month",
        f"{NY}19970929T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        "filtered cron",
        8,
    ),
    (
        "every 3 hours from 9:00 AM to 5:00 PM on a specific day",
        f"{NY}19970902T090000\nRRULE:FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
        "cron",
        3,
    ),
    (
        "every 15 minutes for 6 occurrences",
        f"{NY}19970902T090000\nRRULE:FREQ=MINUTELY;INTERVAL=15;COUNT=6",
        "cron",
        6,
    ),
    (
        "every hour and a half for 4 occurrences",
        f"{NY}19970902T090000\nRRULE:FREQ=MINUTELY;INTERVAL=90;COUNT=4",
        "cron",
        4,
    ),
    (
        "every 20 minutes from 9:00 AM to 4:40 PM every day (daily)",
        f"{NY}19970902T090000\nRRULE:FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        "cron",
        60,
    ),
    (
        "every 20 minutes from 9:00 AM to 4:40 PM every day (minutely)",
        f"{NY}19970902T090000\nRRULE:FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
        "cron",
        60,
    ),
    (
        "WKST: every other week on Tuesday and Sunday, week starting Monday",
        f"{NY}19970805T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        "filtered cron",
        4,
    ),
    (
        "WKST: every other week on Tuesday and Sunday, week starting Sunday",
        f"{NY}19970805T090000\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        "filtered cron",
        4,
    ),
    (
        "an invalid date (February 30) is ignored",
        f"{NY}20070115T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        "cron",
        5,
    ),
]


@pytest.mark.parametrize(
    ("title", "rule", "plan_kind", "compared"), EXAMPLES, ids=[e[0] for e in EXAMPLES]
)
def test_rfc5545_example_fires_dateutils_occurrences(
    title: str, rule: str, plan_kind: str, compared: int
) -> None:
    recurrence = parse_recurrence(rule)
    assert recurrence.plan.kind == plan_kind, recurrence.plan.reason
    spec = RecurrenceSpec(rule=rule)
    first = recurrence.first
    assert first is not None
    # From DTSTART, and two years in (seeking: the rule is rebased, not iterated from 1997).
    for after in (first - timedelta(seconds=1), first + timedelta(days=730)):
        horizon = reference_occurrences(rule, after=after, through=utc(2100, 1, 1), limit=compared)
        if not horizon:
            continue
        through = horizon[-1]
        fired = fire_through_dagster(spec, after=after, through=through, expected=horizon)
        assert fired.occurrences == horizon
        assert fired.launched_at == horizon, "a schedule fires each occurrence at its instant"


def test_rfc5545_known_dates() -> None:
    """A few dates the RFC itself lists, so the reference is not only dateutil's word."""
    friday_13 = parse_recurrence(f"{NY}19970902T090000\nRRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13")
    assert [o.date().isoformat() for o in friday_13.occurrences_after(utc(1997, 9, 2), 3)] == [
        "1998-02-13",
        "1998-03-13",
        "1998-11-13",
    ]
    election = parse_recurrence(
        f"{NY}19961105T090000\nRRULE:FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;"
        "BYMONTHDAY=2,3,4,5,6,7,8"
    )
    assert [o.date().isoformat() for o in election.occurrences_after(utc(1996, 1, 1), 3)] == [
        "1996-11-05",
        "2000-11-07",
        "2004-11-02",
    ]
    first_friday = parse_recurrence(f"{NY}19970905T090000\nRRULE:FREQ=MONTHLY;COUNT=10;BYDAY=1FR")
    occurrences = first_friday.occurrences_after(utc(1997, 1, 1), 20)
    assert len(occurrences) == 10
    assert occurrences[0] == datetime(1997, 9, 5, 13, tzinfo=UTC)  # 09:00 EDT
    assert occurrences[2] == datetime(1997, 11, 7, 14, tzinfo=UTC)  # 09:00 EST
