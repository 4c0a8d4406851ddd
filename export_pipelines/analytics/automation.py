"""When analytics update: as soon as an export partition they read lands, by declarative automation.

Dagster's ``eager()`` only looks at the latest time partition, so a backfill of last March, or the
demo's fixed dates, would never reach the analytics it feeds. This condition is ``eager()`` for
every partition: an analytics partition is requested when one of the export partitions it maps
onto was updated since the partition was last requested or updated, once none of them is still
being written. A partition whose other upstream partitions are not in the lake yet (a month of
which two days were exported) is computed from those that are, and says which were missing in its
metadata; it is computed again as the others land.

The sensor evaluating it is declared here, running by default and ticking every few seconds (the
asset daemon's own loop is five seconds), rather than relying on Dagster's default automation
sensor, which starts stopped on a fresh instance and ticks every 30 seconds. It targets the
``analytics`` prefix only; the vendors' status sensors target their vendor's prefix, so neither
launches the other's assets.
"""

import dagster as dg

SENSOR_NAME = "analytics_automation"
TICK_SECONDS = 5


def when_upstream_lands() -> dg.AutomationCondition:
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("when_upstream_lands")


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        SENSOR_NAME,
        target=dg.AssetSelection.key_prefixes(["analytics"]),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=TICK_SECONDS,
        # A tick that finds one partition to do launches its run itself; one that finds many (a
        # backfill of the exports landed) emits a backfill, which the backfill daemon runs in
        # ranges of the assets' BackfillPolicy: a year is a dozen runs, not 365.
        emit_backfills=True,
        description="Materializes every analytics partition whose export partitions landed.",
    )
