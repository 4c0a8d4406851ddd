"""Resources every export shares: the ledger and the data root (both configured by environment)."""

import dagster as dg

from export_pipelines.lake import LakeResource
from export_pipelines.ledger import LedgerResource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"ledger": LedgerResource(), "lake": LakeResource()})
