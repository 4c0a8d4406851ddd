"""ISO-8601 durations (``P1Y6M4DT12H30M5S``, ``P2W``) as the Connhex create body carries them.

An item's ``period`` may hold years and months, which are calendar ones counted back from the run
time in UTC; a request's ``periodicity`` must be a fixed length (C-1 rule in ``decisions.connhex``),
so it is refused with years or months.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class DurationError(ValueError):
    """Not an ISO-8601 duration this exporter understands."""


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def calendar(self) -> bool:
        """True when the length depends on the date (years or months)."""
        return bool(self.years or self.months)

    def fixed_seconds(self) -> int:
        """The length in seconds; only for durations without years or months."""
        if self.calendar:
            raise DurationError("a duration with years or months has no fixed length")
        return (
            ((self.weeks * 7 + self.days) * 24 + self.hours) * 60 + self.minutes
        ) * 60 + self.seconds

    def before(self, epoch_seconds: int) -> int:
        """The Unix second this duration before ``epoch_seconds`` (calendar-aware, UTC)."""
        moment = datetime.fromtimestamp(epoch_seconds, UTC) - relativedelta(
            years=self.years,
            months=self.months,
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )
        return int(moment.timestamp())


def parse_duration(text: object) -> Duration:
    if not isinstance(text, str):
        raise DurationError("must be an ISO-8601 duration string, e.g. PT1H")
    match = _DURATION.match(text)
    if match is None:
        raise DurationError(f"{text!r} is not an ISO-8601 duration (e.g. P1DT12H, PT15M, P2W)")
    parts = {name: int(value) for name, value in match.groupdict().items() if value is not None}
    duration = Duration(**parts)
    if duration == Duration():
        raise DurationError(f"{text!r} is a zero duration")
    return duration
