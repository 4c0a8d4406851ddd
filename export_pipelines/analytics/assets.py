"""The factory: one ``AnalyticsSpec`` → one asset under ``analytics/<vendor>/<name>`` and its checks.

Each asset reads the export partitions its partition maps onto (the mapping Dagster also uses to
turn a backfill of the exports into the analytics partitions they feed), writes its result through
:mod:`.lakeio`, and reports the row count, a preview, its headline figures as numbers (so the UI
plots them across partitions), a chart, and which upstream partitions it read and which were not in
the lake yet. Two checks run with it: no two rows share the key columns, and the vendor's own. A
run may hold a range of partitions (a backfill's, which the automation follows in ranges too):
each is computed and written on its own, with its own metadata, and the checks cover them all.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from export_pipelines.analytics import lakeio
from export_pipelines.analytics.automation import when_upstream_lands
from export_pipelines.analytics.metadata import markdown_image, markdown_preview, png_bytes
from export_pipelines.analytics.spec import AnalyticsInputs, AnalyticsSpec, Computed
from export_pipelines.lake import LakeResource
from export_pipelines.pipeline import ranges
from export_pipelines.pipeline.spec import DEFAULT_PARTITIONS_PER_RUN as PARTITIONS_PER_RUN

UNIQUE_KEYS_CHECK = "unique_keys"


def duplicate_key_problems(spec: AnalyticsSpec, computed: Computed) -> list[str]:
    frame = computed.frame
    missing = [c for c in spec.key_columns if c not in frame.columns]
    if missing:
        return [f"key columns {missing} are not in the result"]
    duplicated = frame[frame.duplicated(list(spec.key_columns), keep=False)]
    if duplicated.empty:
        return []
    sample = duplicated[list(spec.key_columns)].drop_duplicates().head(3).to_dict("records")
    return [f"{len(duplicated)} rows share their key {list(spec.key_columns)}, e.g. {sample}"]


def _check_result(name: str, spec: AnalyticsSpec, problems: list[str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=spec.key,
        passed=not problems,
        metadata={"problems": "; ".join(problems) or "none", "problem_count": len(problems)},
    )


def compute_partition(
    spec: AnalyticsSpec, lake: LakeResource, partition_key: str, resources: object = None
) -> tuple[AnalyticsInputs, Computed]:
    """Read the partition's upstream tables and compute (shared by the asset and the tests)."""
    tables = {
        up.export: lakeio.upstream_tables(
            lake, up.vendor, up.export, up.partitions_for(partition_key, spec.partitions_def)
        )
        for up in spec.upstreams
    }
    inputs = AnalyticsInputs(
        partition_key=partition_key,
        window=spec.partitions_def.time_window_for_partition_key(partition_key),
        tables=tables,
        resources=resources,
    )
    return inputs, spec.compute(inputs)


def _compute_and_write(
    context: dg.AssetExecutionContext, spec: AnalyticsSpec, lake: LakeResource, partition_key: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Compute one partition and write it: its metadata, and each check's problems."""
    inputs, computed = compute_partition(spec, lake, partition_key, context.resources)
    location = lakeio.write_result(lake, spec.vendor, spec.name, partition_key, computed.frame)
    frame = computed.frame
    metadata: dict[str, Any] = {
        "dagster/row_count": len(frame),
        "dagster/uri": location.uri,
        "path": dg.MetadataValue.path(str(location)),
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
    }
    for name, value in spec.headline(frame).items():
        metadata[name] = dg.MetadataValue.float(float(value))
    for export, tables in inputs.tables.items():
        metadata[f"{export}_partitions_read"] = len(tables.found)
        metadata[f"{export}_partitions_missing"] = dg.MetadataValue.json(list(tables.missing))
    figure = spec.chart(frame) if spec.chart is not None else None
    if figure is not None:
        metadata["chart"] = dg.MetadataValue.md(markdown_image(png_bytes(figure), spec.name))
    for export, tables in inputs.tables.items():
        if tables.missing:
            context.log.warning(
                f"{spec.vendor}/{export}: partitions {', '.join(tables.missing)} are not in "
                f"the lake yet; partition {partition_key} is computed without them"
            )
    problems = {
        UNIQUE_KEYS_CHECK: duplicate_key_problems(spec, computed),
        spec.check_name: spec.check(inputs, computed),
    }
    return metadata, problems


def build_analytics_asset(spec: AnalyticsSpec) -> dg.AssetsDefinition:
    key = spec.key

    @dg.asset(
        key=key,
        description=spec.description,
        group_name="analytics",
        kinds={spec.vendor, "parquet", "pandas"},
        partitions_def=spec.partitions_def,
        deps=[dg.AssetDep(up.key, partition_mapping=up.mapping) for up in spec.upstreams],
        automation_condition=when_upstream_lands(),
        # The automation asks for the partitions a backfill of the exports fed in ranges of up to
        # this many, like the exports' own runs (``pipeline.ranges``).
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN),
        required_resource_keys={"lake", *spec.resource_keys},
        check_specs=[
            dg.AssetCheckSpec(
                UNIQUE_KEYS_CHECK,
                asset=key,
                description=f"No two rows share {', '.join(spec.key_columns)}.",
            ),
            dg.AssetCheckSpec(spec.check_name, asset=key, description=spec.check_description),
        ],
    )
    def analytics(
        context: dg.AssetExecutionContext,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetMaterialization]:
        lake: LakeResource = context.resources.lake
        partitions = list(context.partition_keys)
        ranged = context.has_partition_key_range
        results: list[tuple[str, dict[str, Any]]] = []
        problems: dict[str, list[str]] = {UNIQUE_KEYS_CHECK: [], spec.check_name: []}
        failures = []
        for partition_key in partitions:
            try:
                metadata, found = _compute_and_write(context, spec, lake, partition_key)
            except ValueError as exc:
                failures.append(f"{partition_key}: {exc}" if ranged else str(exc))
                continue
            results.append((partition_key, metadata))
            for name, listed in found.items():
                problems[name] += [f"{partition_key}: {p}" if ranged else p for p in listed]
        if failures:
            yield from ranges.landed_before_failing(spec.key, results)
            raise ranges.failure(failures, len(results), len(partitions))
        yield ranges.materialized(
            context,
            results,
            check_results=[_check_result(name, spec, listed) for name, listed in problems.items()],
        )

    return analytics
