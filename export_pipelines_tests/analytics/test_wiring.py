"""The analytics as the code location loads them: keys, partitions, mappings, automation, sensor."""

import dagster as dg

from export_pipelines.analytics import automation
from export_pipelines.analytics.registry import SPECS
from export_pipelines.analytics.vendors import connhex
from export_pipelines.pipeline import keys


def _definitions() -> dg.Definitions:
    from export_pipelines.definitions import defs

    return defs()


def test_each_upstream_declares_the_partitions_the_catalog_gives_its_export() -> None:
    graph = _definitions().resolve_asset_graph()
    for spec in SPECS:
        assert spec.key.path[:2] == ["analytics", spec.vendor]
        node = graph.get(spec.key)
        assert node.automation_condition is not None
        for upstream in spec.upstreams:
            catalog = graph.get(upstream.key).partitions_def
            assert isinstance(catalog, dg.TimeWindowPartitionsDefinition)
            assert catalog.cron_schedule == upstream.partitions_def.cron_schedule, upstream.key
            assert catalog.start == upstream.partitions_def.start, upstream.key
            assert catalog.end == upstream.partitions_def.end, upstream.key
            assert upstream.key in node.parent_keys


def test_a_backfill_of_an_export_partition_reaches_exactly_the_analytics_it_feeds() -> None:
    graph = _definitions().resolve_asset_graph()
    league = graph.get(dg.AssetKey(["analytics", "hienergy", "advertiser_league"]))
    clicks = keys.table_key("hienergy", "clicks_daily")
    deals = keys.table_key("hienergy", "coupon_deals_weekly")
    rents = dg.AssetKey(["analytics", "hellodata", "rent_by_market"])
    survey = keys.table_key("hellodata", "rent_survey_by_market")
    device_daily = dg.AssetKey(["analytics", "connhex", "device_daily"])
    raw_points = keys.table_key("connhex", "raw_points_hourly")

    def children(parent: dg.AssetKey, child: dg.AssetKey, partition: str) -> list[str]:
        mapping = graph.get_partition_mapping(child, parent)
        result = mapping.get_downstream_partitions_for_partitions(
            graph.get(parent).partitions_def.subset_with_partition_keys([partition]),
            graph.get(parent).partitions_def,
            graph.get(child).partitions_def,
        )
        return sorted(result.get_partition_keys())

    assert children(clicks, league.key, "2024-03-31") == ["2024-03-01"]
    assert children(deals, league.key, "2024-03-31") == ["2024-03-01", "2024-04-01"]
    assert children(survey, rents, "2024-04-01") == ["2024"]
    assert children(survey, rents, "2024-12-01") == ["2024"]
    assert children(raw_points, device_daily, "2024-03-04-00:00") == ["2024-03-04"]
    assert children(raw_points, device_daily, "2024-03-04-23:00") == ["2024-03-04"]


def test_a_connhex_day_reads_exactly_its_24_hours_as_the_asset_graph_maps_them() -> None:
    spec = connhex.SPECS[0]
    graph = _definitions().resolve_asset_graph()
    (upstream,) = spec.upstreams
    hours = upstream.partitions_for("2024-03-04", spec.partitions_def)
    assert hours == [f"2024-03-04-{hour:02d}:00" for hour in range(24)]
    mapping = graph.get_partition_mapping(spec.key, upstream.key)
    catalog = graph.get(upstream.key).partitions_def
    assert catalog is not None
    mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
        spec.partitions_def.subset_with_partition_keys(["2024-03-04"]), spec.partitions_def, catalog
    )
    assert sorted(mapped.partitions_subset.get_partition_keys()) == hours
    condition = graph.get(spec.key).automation_condition
    assert condition is not None and condition.get_label() == "when_upstream_lands"
    assert spec.key.path == ["analytics", "connhex", "device_daily"]


def test_the_automation_sensor_runs_by_default_and_no_status_sensor_selects_analytics() -> None:
    definitions = _definitions()
    graph = definitions.resolve_asset_graph()
    sensor = definitions.get_sensor_def(automation.SENSOR_NAME)
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status is dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == automation.TICK_SECONDS
    selected = sensor.asset_selection.resolve(graph)
    assert selected == {spec.key for spec in SPECS}
    names = {s.name for s in definitions.sensors or []}
    assert "default_automation_condition_sensor" not in names
    for vendor in {spec.vendor for spec in SPECS}:
        status = definitions.get_sensor_def(keys.status_sensor_name(vendor))
        assert status.asset_selection is not None
        assert not status.asset_selection.resolve(graph) & {spec.key for spec in SPECS}
