"""The analytics assets and the sensor that automates them, loaded with the catalog."""

import dagster as dg

from export_pipelines.analytics import analytics_definitions


@dg.definitions
def analytics() -> dg.Definitions:
    return analytics_definitions()
