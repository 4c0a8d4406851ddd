"""Every vendor's analytics: one line per vendor module."""

from export_pipelines.analytics.spec import AnalyticsSpec
from export_pipelines.analytics.vendors import connhex, enterpret, hellodata, hienergy, rebilly

SPECS: tuple[AnalyticsSpec, ...] = (
    *connhex.SPECS,
    *enterpret.SPECS,
    *hellodata.SPECS,
    *hienergy.SPECS,
    *rebilly.SPECS,
)
