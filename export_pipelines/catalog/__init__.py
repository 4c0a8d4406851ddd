"""The export catalog: the component types a ``defs.yaml`` document instantiates."""

from export_pipelines.catalog.component import AsyncExport, VendorConnection

__all__ = ["AsyncExport", "VendorConnection"]
