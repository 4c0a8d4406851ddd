"""``AnalyticsSpec``: one analytics asset, as its vendor module declares it and the factory builds it.

A vendor module says what it reads (its upstream export tables, each with the partitions of the
catalog and the mapping from an analytics partition onto them), how it computes its result from
them, the figures a person looks for first, an optional chart, and a check with a meaning. The
factory (:mod:`.assets`) turns that into one Dagster asset with its checks; adding a vendor's
analytics is one more module and one line in the registry (:mod:`.registry`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
from matplotlib.figure import Figure

from export_pipelines.analytics.lakeio import UpstreamTables
from export_pipelines.pipeline import keys


@dataclass(frozen=True)
class Upstream:
    """One export table an analytics asset reads, with that export's partitions in the catalog."""

    vendor: str
    export: str
    partitions_def: dg.TimeWindowPartitionsDefinition
    mapping: dg.PartitionMapping

    @property
    def key(self) -> dg.AssetKey:
        return keys.table_key(self.vendor, self.export)

    def partitions_for(
        self, partition_key: str, downstream: dg.TimeWindowPartitionsDefinition
    ) -> list[str]:
        """The export partitions that feed one analytics partition, by the declared mapping (the
        same mapping Dagster uses to plan backfills and automation)."""
        result = self.mapping.get_upstream_mapped_partitions_result_for_partitions(
            downstream.subset_with_partition_keys([partition_key]),
            downstream,
            self.partitions_def,
        )
        return sorted(result.partitions_subset.get_partition_keys())


@dataclass(frozen=True)
class AnalyticsInputs:
    """What a computation sees: its partition and window, the upstream tables found, resources."""

    partition_key: str
    window: dg.TimeWindow
    tables: Mapping[str, UpstreamTables]
    resources: Any = None


@dataclass(frozen=True)
class Computed:
    """A computation's result and anything it learnt on the way that its check needs."""

    frame: pd.DataFrame
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyticsSpec:
    vendor: str
    name: str
    description: str
    partitions_def: dg.TimeWindowPartitionsDefinition
    upstreams: tuple[Upstream, ...]
    compute: Callable[[AnalyticsInputs], Computed]
    #: Columns that identify a row: no two rows may share them (checked on every partition).
    key_columns: tuple[str, ...]
    headline: Callable[[pd.DataFrame], dict[str, float]]
    check_name: str
    check_description: str
    #: The problems the vendor's own check finds in a result (empty: passed).
    check: Callable[[AnalyticsInputs, Computed], list[str]]
    chart: Callable[[pd.DataFrame], Figure | None] | None = None
    resource_keys: frozenset[str] = frozenset()

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["analytics", self.vendor, self.name])
