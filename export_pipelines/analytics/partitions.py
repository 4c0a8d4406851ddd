"""The catalog's partitions of the exports the analytics read, and the mappings onto them.

The analytics must declare each upstream export's partitions as the catalog does
(``defs/<vendor>/defs.yaml``); a test compares them with the loaded catalog, so a change there that
is not made here fails in review instead of mapping onto the wrong partitions.
"""

from datetime import datetime

import dagster as dg

CATALOG_START = "2024-01-01"


def hourly(start: str = CATALOG_START) -> dg.HourlyPartitionsDefinition:
    # An hourly definition parses a text start with its own hourly format; a datetime is taken as is.
    return dg.HourlyPartitionsDefinition(start_date=datetime.fromisoformat(start), timezone="UTC")


def daily(start: str = CATALOG_START) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC")


def weekly(start: str = CATALOG_START) -> dg.WeeklyPartitionsDefinition:
    return dg.WeeklyPartitionsDefinition(start_date=start, timezone="UTC")


def monthly(start: str = CATALOG_START, end: str | None = None) -> dg.MonthlyPartitionsDefinition:
    return dg.MonthlyPartitionsDefinition(start_date=start, end_date=end, timezone="UTC")


#: Same grain: partition P of the analytics reads partition P of the export.
SAME_WINDOW = dg.TimeWindowPartitionMapping()
