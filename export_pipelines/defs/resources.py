"""Resources every export shares (the ledger and the lake, local or on S3, both configured by
environment), and the executor of every run.

Runs execute their steps in the run's own process: a run's steps (raw, then the table) are
sequential and bound by the network and disk, and the default multiprocess executor would start a
fresh Python with Dagster and the whole code location for each step, seconds of CPU a step that
the demo and every backfill pay once per partition. Each run still has its own process (Dagster's
run launcher), so a crashed run harms no other.
"""

import dagster as dg

from export_pipelines.lake import lake_from_settings
from export_pipelines.ledger import LedgerResource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"ledger": LedgerResource(), "lake": lake_from_settings()},
        executor=dg.in_process_executor,
    )
