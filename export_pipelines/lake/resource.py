"""``LakeResource``: the layout of the data root, in one place.

- ``raw/<vendor>/<export>/<partition>/job-<ledger id>/<file>``: every file a vendor job produced,
  kept as downloaded, so a partition can be normalized again without a new vendor export;
- ``lake/<vendor>/<export>/<partition>/data.parquet``: the normalized table of a partition;
- ``lake/analytics/<vendor>/<name>/<partition>/data.parquet``: an analytics asset's result for a
  partition, computed from the export tables above.
"""

from pathlib import Path

import dagster as dg

from export_pipelines import settings


def _safe(part: str) -> str:
    """A path segment that cannot climb out of its folder (partition keys are user data)."""
    cleaned = part.replace("/", "_").replace("\\", "_").replace("\x00", "")
    return "_" if cleaned in ("", ".", "..") else cleaned


class LakeResource(dg.ConfigurableResource):
    """The data root; empty means ``$EXPORT_PIPELINES_DATA_DIR`` or ``./data``."""

    root: str = ""

    def root_path(self) -> Path:
        return Path(self.root).resolve() if self.root else settings.data_dir()

    def raw_dir(self, vendor: str, export: str, partition: str, job_id: int) -> Path:
        return self.root_path() / "raw" / vendor / export / _safe(partition) / f"job-{job_id:06d}"

    def table_path(self, vendor: str, export: str, partition: str) -> Path:
        return self.root_path() / "lake" / vendor / export / _safe(partition) / "data.parquet"

    def analytics_path(self, vendor: str, name: str, partition: str) -> Path:
        return (
            self.root_path()
            / "lake"
            / "analytics"
            / vendor
            / _safe(name)
            / _safe(partition)
            / "data.parquet"
        )
