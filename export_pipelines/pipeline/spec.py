"""``ExportSpec``: one validated catalog entry, as the pipeline factories consume it."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import dagster as dg
from pydantic import BaseModel

from export_pipelines.normalize.drift import DriftPolicy
from export_pipelines.recurrence import RecurrenceSpec
from export_pipelines.vendors import adapter_for
from export_pipelines.vendors.base import VendorAdapter

Cadence = Literal["hourly", "daily", "weekly", "monthly", "none"]

#: The lake folder of an unpartitioned export materialized without a window.
UNPARTITIONED_KEY = "all"
#: Partitions one run works on at most, when a backfill or the status sensor gives a run many: a
#: run costs a process loading the code location (seconds of CPU), so 365 daily partitions are a
#: dozen request runs, not 365; small enough that a failed run asks again for a month at most.
DEFAULT_PARTITIONS_PER_RUN = 31


@dataclass(frozen=True)
class ExportSpec:
    vendor: str
    name: str
    description: str
    cadence: Cadence
    start: datetime | None
    end: datetime | None
    timezone: str
    pool: str | None
    request: BaseModel
    recurrence: RecurrenceSpec | None = None
    #: What an undeclared field in the files does (:mod:`export_pipelines.normalize.drift`).
    schema_drift: DriftPolicy = "rescue"
    #: Partitions one run of the export's assets takes at most (their ``BackfillPolicy``).
    partitions_per_run: int = DEFAULT_PARTITIONS_PER_RUN

    @property
    def adapter(self) -> VendorAdapter[Any]:
        return adapter_for(self.vendor)

    @property
    def standing(self) -> bool:
        """Whether the export is fed by one vendor-side standing request (``VendorAdapter``)."""
        return self.adapter.is_standing(self.request)

    @property
    def partitioned(self) -> bool:
        return self.cadence != "none"

    def backfill_policy(self) -> dg.BackfillPolicy | None:
        """Runs over ranges of partitions, each at most ``partitions_per_run`` long: the request
        asset submits them one after another inside its one pool slot, so a backfill of a year
        holds the vendor's pool like a backfill of a day."""
        if not self.partitioned:
            return None
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=self.partitions_per_run)

    def partitions_def(self) -> dg.TimeWindowPartitionsDefinition | None:
        if self.cadence == "none":
            return None
        assert self.start is not None
        factory: Any = {
            "hourly": dg.HourlyPartitionsDefinition,
            "daily": dg.DailyPartitionsDefinition,
            "weekly": dg.WeeklyPartitionsDefinition,
            "monthly": dg.MonthlyPartitionsDefinition,
        }[self.cadence]
        partitions: dg.TimeWindowPartitionsDefinition = factory(
            start_date=self.start, end_date=self.end, timezone=self.timezone
        )
        return partitions
