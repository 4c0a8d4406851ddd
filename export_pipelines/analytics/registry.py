"""Every vendor's analytics: one line per vendor module (Connhex is one more)."""

from export_pipelines.analytics.spec import AnalyticsSpec
from export_pipelines.analytics.vendors import enterpret, hellodata, hienergy, rebilly

SPECS: tuple[AnalyticsSpec, ...] = (
    *enterpret.SPECS,
    *hellodata.SPECS,
    *hienergy.SPECS,
    *rebilly.SPECS,
)
