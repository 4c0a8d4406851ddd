"""Names shared by the assets, the sensors, the schedules and the demo: one place for each."""

import dagster as dg

#: Run tag carrying the ledger job a raw+table run works on (set by the status sensor).
LEDGER_JOB_TAG = "export_pipelines/ledger_job_id"
#: Run tags carrying an explicit window [start, end) for an unpartitioned export (recurrences).
WINDOW_START_TAG = "export_pipelines/window_start"
WINDOW_END_TAG = "export_pipelines/window_end"

#: Name of the asset check on every export table.
ROWS_CHECK = "rows_match_vendor_files"


def request_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export, "request"])


def raw_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export, "raw"])


def table_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export])


def status_sensor_name(vendor: str) -> str:
    return f"{vendor}_export_status"


def ingest_run_key(vendor: str, ledger_job_id: int) -> str:
    """One raw+table launch per ledger job, whatever the number of sensor ticks that see it."""
    return f"{vendor}:job-{ledger_job_id}:ingest"
