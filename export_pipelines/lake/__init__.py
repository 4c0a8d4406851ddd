"""Where raw files and Parquet tables live: ``<root>/raw/…`` and ``<root>/lake/…``, on local
disk or under ``s3://<bucket>/<prefix>/``."""

from export_pipelines.lake.location import LakeLocation
from export_pipelines.lake.resource import LakeResource, lake_from_settings
from export_pipelines.lake.store import LakeError

__all__ = ["LakeError", "LakeLocation", "LakeResource", "lake_from_settings"]
