"""``dateRange.start`` / ``.end``: ISO-8601 or a relative phrase, resolved in UTC (R-3).

The vendor accepts "any valid datetime" of PHP's ``strtotime``, a grammar far larger than any
client needs. The sandbox understands the subset DECISIONS.md fixes, with PHP's meaning:

* ISO-8601 (``2024-01-21T15:15:15Z``, ``2024-01-21 15:15:15``, ``2024-01-21``); no zone means UTC.
* ``now``; ``today`` and ``midnight`` (00:00 today), ``noon`` (12:00 today), ``yesterday`` and
  ``tomorrow`` (00:00 of that day).
* ``[+|-]N unit[s]`` and ``N unit[s] ago`` with units second, minute, hour, day, week, month, year
  (``sec``/``min`` too); ``ago`` negates the amounts before it. Months and years are calendar
  ones clamped to the month's end (31 March minus 1 month is 29 February; PHP would overflow to 2 March).
* ``first day of`` / ``last day of`` ``this|last|next month``; as in PHP they keep the time of day.

Words combine as in PHP: ``3 days ago midnight`` is 00:00 three days ago, ``first day of last month
midnight`` is 00:00 on the first of last month. Anything else is refused with the phrase and the
word that was not understood.
"""

import re
from datetime import UTC, datetime, time, timedelta

from dateutil.relativedelta import relativedelta

from export_pipelines.decisions.rebilly import RELATIVE_KEYWORDS, RELATIVE_UNITS

_UNIT_ALIASES = {"sec": "second", "secs": "second", "min": "minute", "mins": "minute"}
_AMOUNT = re.compile(r"^([+-]?)(\d+)$")
_KEYWORDS = (*RELATIVE_KEYWORDS, "noon")


class DateRangeError(ValueError):
    """A ``dateRange`` bound the sandbox does not understand."""


def _unit(word: str) -> str | None:
    word = _UNIT_ALIASES.get(word, word)
    if word.endswith("s") and word[:-1] in RELATIVE_UNITS:
        word = word[:-1]
    return word if word in RELATIVE_UNITS else None


def _offset(unit: str, number: int) -> relativedelta:
    if unit == "week":
        return relativedelta(weeks=number)
    if unit in ("month", "year"):
        return relativedelta(months=number) if unit == "month" else relativedelta(years=number)
    return relativedelta(
        seconds=number * {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit]
    )


def _absolute(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def resolve(text: str, now: datetime) -> datetime:
    """The UTC instant ``text`` names, relative phrases anchored at ``now``."""
    stripped = text.strip()
    if not stripped:
        raise DateRangeError("empty date")
    absolute = _absolute(stripped)
    if absolute is not None:
        return absolute
    now = now.astimezone(UTC).replace(microsecond=0)
    words = stripped.lower().split()
    day_shift = 0
    time_of_day: time | None = None
    offsets: list[relativedelta] = []
    month_edge: tuple[str, int] | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word in _KEYWORDS:
            if word == "yesterday":
                day_shift -= 1
            elif word == "tomorrow":
                day_shift += 1
            if word != "now":
                time_of_day = time(12) if word == "noon" else time(0)
            i += 1
            continue
        if word == "ago":
            if not offsets:
                raise DateRangeError(f"{text!r}: 'ago' without an amount before it")
            offsets = [-offset for offset in offsets]
            i += 1
            continue
        if word in ("first", "last") and words[i + 1 : i + 3] == ["day", "of"]:
            which = words[i + 3] if i + 3 < len(words) else ""
            shift = {"this": 0, "last": -1, "next": 1}.get(which)
            if shift is None or words[i + 4 : i + 5] != ["month"]:
                raise DateRangeError(
                    f"{text!r}: expected '{word} day of this|last|next month' at {word!r}"
                )
            month_edge = (word, shift)
            i += 5
            continue
        amount = _AMOUNT.match(word)
        if amount is not None and i + 1 < len(words) and _unit(words[i + 1]) is not None:
            number = int(amount.group(2)) * (-1 if amount.group(1) == "-" else 1)
            unit = _unit(words[i + 1])
            offsets.append(_offset(str(unit), number))
            i += 2
            continue
        raise DateRangeError(
            f"{text!r}: {word!r} is not understood; the sandbox knows ISO-8601, "
            f"{', '.join(_KEYWORDS)}, '[+|-]N unit(s)', 'N unit(s) ago' and "
            "'first|last day of this|last|next month'"
        )
    result = now + timedelta(days=day_shift)
    if time_of_day is not None:
        result = datetime.combine(result.date(), time_of_day, tzinfo=UTC)
    for offset in offsets:
        result = result + offset
    if month_edge is not None:
        edge, shift = month_edge
        result = result + relativedelta(months=shift, day=1)
        if edge == "last":
            result = result + relativedelta(months=1, days=-1)
    return result
