"""Which window and lake partition a run works on."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from export_pipelines.pipeline.keys import WINDOW_END_TAG, WINDOW_START_TAG
from export_pipelines.pipeline.spec import UNPARTITIONED_KEY, ExportSpec
from export_pipelines.vendors.base import Window


@dataclass(frozen=True)
class Target:
    """What a run exports: the lake partition key and the vendor window (None: the request's)."""

    partition_key: str
    partitioned: bool
    window: Window | None


def _window_label(window: Window) -> str:
    return f"{window.start:%Y%m%dT%H%M%SZ}_{window.end:%Y%m%dT%H%M%SZ}"


def resolve_targets(context: dg.AssetExecutionContext, spec: ExportSpec) -> list[Target]:
    """Every target of the run, in partition order: one, or each partition of the range a
    backfill (``BackfillPolicy``) or the status sensor gave the run."""
    if not spec.partitioned or not context.has_partition_key_range:
        return [resolve_target(context, spec)]
    partitions = spec.partitions_def()
    assert partitions is not None
    return [
        Target(key, True, _utc(partitions.time_window_for_partition_key(key)))
        for key in context.partition_keys
    ]


def _utc(tw: dg.TimeWindow) -> Window:
    return Window(tw.start.astimezone(UTC), tw.end.astimezone(UTC))


def resolve_target(context: dg.AssetExecutionContext, spec: ExportSpec) -> Target:
    if spec.partitioned:
        tw = context.partition_time_window
        window = Window(tw.start.astimezone(UTC), tw.end.astimezone(UTC))
        return Target(context.partition_key, True, window)
    tags = context.run.tags
    if WINDOW_START_TAG in tags and WINDOW_END_TAG in tags:
        window = Window(
            datetime.fromisoformat(tags[WINDOW_START_TAG]).astimezone(UTC),
            datetime.fromisoformat(tags[WINDOW_END_TAG]).astimezone(UTC),
        )
        return Target(_window_label(window), False, window)
    return Target(UNPARTITIONED_KEY, False, None)


def fingerprint(vendor: str, export: str, body: dict[str, Any]) -> str:
    """Identity of a vendor export: the same body for the same export is the same data."""
    canonical = json.dumps(
        {"vendor": vendor, "export": export, "body": body}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
