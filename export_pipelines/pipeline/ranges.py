"""One run over a range of partitions, reported as each partition's own materialization.

A backfill (or the status sensor, or the analytics' automation) gives a run up to
``partitions_per_run`` partitions (the assets' ``BackfillPolicy``) so that a year is a dozen
processes rather than 365. Dagster records one materialization per partition of the range; each
gets the metadata of its own partition here. A partition that fails must not take the ones that
landed with it: they are recorded one by one before the run fails.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg


def materialized(
    context: dg.AssetExecutionContext,
    results: list[tuple[str, dict[str, Any]]],
    check_results: list[dg.AssetCheckResult] | None = None,
) -> dg.MaterializeResult:
    """The run's materialization: of its one partition (or none), with its metadata; of each
    partition of a range, each with its own."""
    if not context.has_partition_key_range:
        [(_, metadata)] = results
        return dg.MaterializeResult(metadata=metadata, check_results=check_results)
    for key, metadata in results:
        context.add_asset_metadata(metadata, partition_key=key)
    return dg.MaterializeResult(check_results=check_results)


def landed_before_failing(
    key: dg.AssetKey, results: list[tuple[str, dict[str, Any]]]
) -> Iterator[dg.AssetMaterialization]:
    """The materializations of a range's partitions that landed, for a run about to fail."""
    for partition, metadata in results:
        yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)


def failure(failures: list[str], landed: int, of: int) -> dg.Failure:
    """The run's failure: its one partition's reason, or how many of the range failed and why."""
    if of == 1:
        return dg.Failure(description=failures[0], allow_retries=False)
    return dg.Failure(
        description=f"{len(failures)} of the run's {of} partitions failed, {landed} landed: "
        + " | ".join(failures),
        allow_retries=False,
    )
