"""Names shared by the assets, the sensors, the schedules and the demo: one place for each."""

from collections.abc import Mapping

import dagster as dg

# Run tags carrying an explicit window [start, end) for an unpartitioned export; a recurrence sets
# them on the runs it launches, and the request asset reads them.
from export_pipelines.recurrence.firing import WINDOW_END_TAG as WINDOW_END_TAG
from export_pipelines.recurrence.firing import WINDOW_START_TAG as WINDOW_START_TAG

#: Run tag carrying the ledger job a raw+table run works on (set by the status sensor).
LEDGER_JOB_TAG = "export_pipelines/ledger_job_id"
#: Run tag carrying which launch of that job's raw+table run this is (1 is the first).
INGEST_ATTEMPT_TAG = "export_pipelines/ingest_attempt"
#: Run tag of a raw+table run over a range of partitions (the status sensor batches the jobs of
#: adjacent partitions that finish together): its ledger jobs, in partition order.
LEDGER_JOBS_TAG = "export_pipelines/ledger_job_ids"

#: Run tag of a request run the status sensor launched to ask again for a failed job's window
#: (the retry policy): the ledger job it resubmits.
RESUBMIT_OF_TAG = "export_pipelines/resubmit_of"
#: Run tag of a request run asking for a too-large job's window in sub-windows: the job it splits.
SPLIT_OF_TAG = "export_pipelines/split_of"
#: Run tag of a request run the status sensor launched to submit a deferred job (the vendor's
#: quota was spent) once its ``not_before`` has come: the ledger job it submits.
DEFERRED_OF_TAG = "export_pipelines/deferred_of"
#: Run tag of a request run over a range of partitions whose jobs were deferred together: their
#: ledger jobs (for the record: the run's claims take them up as any run of those partitions would).
DEFERRED_JOBS_TAG = "export_pipelines/deferred_jobs"

#: Name of the asset check on every export table.
ROWS_CHECK = "rows_match_vendor_files"


def request_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export, "request"])


def raw_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export, "raw"])


def table_key(vendor: str, export: str) -> dg.AssetKey:
    return dg.AssetKey([vendor, export])


def form_key(vendor: str, export: str, form: str) -> dg.AssetKey:
    """A further table of an export, made from the same files (``VendorAdapter.output_forms``)."""
    return dg.AssetKey([vendor, export, form])


def status_sensor_name(vendor: str) -> str:
    return f"{vendor}_export_status"


def ingest_run_key(vendor: str, ledger_job_id: int, attempt: int = 1) -> str:
    """One raw+table launch per ledger job and attempt, whatever the number of sensor ticks that
    see it; a relaunch after a failed run is a new attempt, so a new key."""
    suffix = "" if attempt == 1 else f"-{attempt}"
    return f"{vendor}:job-{ledger_job_id}:ingest{suffix}"


def ingests_job_tag(ledger_job_id: int) -> str:
    """Run tag set on every raw+table run for each ledger job it ingests (one job, or a range's),
    so that the runs of one job are found by one tag query whichever way they were launched."""
    return f"export_pipelines/ingests_job_{ledger_job_id}"


def ingested_jobs(tags: Mapping[str, str]) -> list[int]:
    """The ledger jobs a raw+table run (or its request) ingests, from its tags."""
    if LEDGER_JOBS_TAG in tags:
        return [int(i) for i in tags[LEDGER_JOBS_TAG].split(",")]
    return [int(tags[LEDGER_JOB_TAG])] if LEDGER_JOB_TAG in tags else []


def ingest_batch_run_key(vendor: str, ledger_job_ids: list[int], attempt: int = 1) -> str:
    """One raw+table launch per batch of jobs (the ids in partition order) and attempt."""
    suffix = "" if attempt == 1 else f"-{attempt}"
    return f"{vendor}:jobs-{'-'.join(map(str, ledger_job_ids))}:ingest{suffix}"


def resubmit_run_key(vendor: str, ledger_job_id: int) -> str:
    """One resubmission per failed ledger job (the next attempt is a new job, with its own key)."""
    return f"{vendor}:job-{ledger_job_id}:resubmit"


def deferred_run_key(vendor: str, ledger_job_id: int, deferrals: int) -> str:
    """One submit per deferral of a ledger job: a job deferred again (the quota was still spent)
    is asked once more, under the next key."""
    return f"{vendor}:job-{ledger_job_id}:deferred-{deferrals}"


def deferred_batch_run_key(vendor: str, ledger_job_ids: list[int], deferrals: int) -> str:
    """One submit run per stretch of adjacent deferred jobs and deferral."""
    return f"{vendor}:jobs-{'-'.join(map(str, ledger_job_ids))}:deferred-{deferrals}"


def split_run_key(vendor: str, ledger_job_id: int) -> str:
    """One split per too-large ledger job (a sub-window too large again is its own job)."""
    return f"{vendor}:job-{ledger_job_id}:split"
