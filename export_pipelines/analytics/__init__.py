"""Analytics assets downstream of the export tables: what a user of each vendor's data looks at.

One module per vendor under ``vendors/`` declares an :class:`~.spec.AnalyticsSpec`; the factory
(:mod:`.assets`) builds its asset under ``analytics/<vendor>/<name>``, partitioned onto the exports
it reads, updated by declarative automation (:mod:`.automation`) and written through the lake
(:mod:`.lakeio`).
"""

import dagster as dg

from export_pipelines.analytics.assets import build_analytics_asset
from export_pipelines.analytics.automation import automation_sensor
from export_pipelines.analytics.registry import SPECS


def analytics_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[build_analytics_asset(spec) for spec in SPECS], sensors=[automation_sensor()]
    )
