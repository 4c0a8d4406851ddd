"""The catalog's recurrence field: a rule plus the policy for firing it, validated by parsing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import dagster as dg
from pydantic import Field, PrivateAttr, field_validator, model_validator

from export_pipelines.recurrence.errors import RecurrenceError
from export_pipelines.recurrence.parse import parse_recurrence
from export_pipelines.recurrence.recurrence import Recurrence


class RecurrenceSpec(dg.Resolvable, dg.Model):
    """When an export recurs: ``rule`` in ``timezone`` from ``start``, and how to catch up.

    A rule that does not parse fails validation with the parser's reason, which is how an
    invalid rule fails ``dg check defs``.
    """

    rule: str = Field(
        description="RFC 5545 RRULE block, ISO-8601 duration (P1D), R[n]/<start>/<duration>,"
        " or a 5-field cron."
    )
    start: str | None = Field(
        default=None,
        description="ISO-8601 start of a duration or bare RRULE; naive means wall-clock time in"
        " timezone.",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA zone of wall-clock times that name none (a DTSTART's TZID wins).",
    )
    catch_up: Literal["latest", "all"] = Field(
        default="latest",
        description="After downtime, fire only the latest missed occurrence, or all of them.",
    )
    max_catch_up: int = Field(
        default=10, ge=1, le=1000, description="With catch_up: all, fire at most this many."
    )
    enabled: bool = Field(
        default=False,
        description="Start the schedule or sensor running; otherwise a user turns it on.",
    )

    _recurrence: Recurrence | None = PrivateAttr(default=None)

    @field_validator("start", mode="before")
    @classmethod
    def _start_as_text(cls, value: object) -> object:
        """YAML may hand over a parsed timestamp; it is kept as the ISO text the user wrote."""
        return value.isoformat() if isinstance(value, datetime) else value

    @model_validator(mode="after")
    def _parses(self) -> RecurrenceSpec:
        try:
            self._recurrence = parse_recurrence(
                self.rule, default_start=self.start_datetime, default_tz=self.timezone
            )
        except RecurrenceError as error:
            raise ValueError(f"invalid recurrence rule: {error}") from error
        return self

    @property
    def start_datetime(self) -> datetime | None:
        if self.start is None:
            return None
        try:
            return datetime.fromisoformat(self.start)
        except ValueError as error:
            raise RecurrenceError(
                f"invalid start {self.start!r}: expected an ISO-8601 date-time"
            ) from error

    @property
    def recurrence(self) -> Recurrence:
        assert self._recurrence is not None, "set by validation"
        return self._recurrence
