"""Where raw files and Parquet tables live: ``<root>/raw/…`` and ``<root>/lake/…``."""

from export_pipelines.lake.resource import LakeResource

__all__ = ["LakeResource"]
