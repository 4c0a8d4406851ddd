"""The code location's definitions against a committed snapshot: a renamed key shows up in review.

With several vendors and their recurrences, a changed asset key, partitioning, check, schedule or
sensor is easy to miss in a diff of YAML. This test loads the definitions, renders what a user and
the daemon depend on as plain JSON, and compares it with ``snapshots/definitions.json``. After an
intended change, regenerate the file and commit it with the change:

    EXPORT_PIPELINES_UPDATE_SNAPSHOT=1 .venv/bin/pytest export_pipelines_tests/test_definitions_snapshot.py
"""

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE_ENV = "EXPORT_PIPELINES_UPDATE_SNAPSHOT"


def _partitions(partitions_def: dg.PartitionsDefinition | None) -> dict[str, Any] | None:
    if partitions_def is None:
        return None
    assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    return {
        "cron": partitions_def.cron_schedule,
        "start": partitions_def.start.isoformat(),
        "end": partitions_def.end.isoformat() if partitions_def.end else None,
        "timezone": partitions_def.timezone,
        "format": partitions_def.fmt,
    }


def render(definitions: dg.Definitions) -> dict[str, Any]:
    """What the snapshot holds: keys, partitions, deps, pools, checks, schedules and sensors."""
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(dep.to_user_string() for dep in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "pool": sorted(node.pools) or None,
            "partitions": _partitions(node.partitions_def),
            "partitions_per_run": node.backfill_policy.max_partitions_per_run
            if node.backfill_policy
            else None,
        }
    checks = sorted(
        f"{check.asset_key.to_user_string()}:{check.name}" for check in graph.asset_check_keys
    )
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "default_status": schedule.default_status.value,
        }
        for schedule in definitions.schedules or []
        if isinstance(schedule, dg.ScheduleDefinition)
    }
    sensors = {
        sensor.name: {
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
        }
        for sensor in definitions.sensors or []
        if isinstance(sensor, dg.SensorDefinition)
    }
    resources = sorted(definitions.resources or {})
    return {
        "assets": assets,
        "asset_checks": checks,
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": resources,
    }


@pytest.fixture
def definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    from export_pipelines.definitions import defs

    return defs()


def differences(current: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    """One line per asset, check, schedule or sensor added, removed or changed."""
    lines = []
    for section in sorted(set(current) | set(committed)):
        now, then = current.get(section), committed.get(section)
        if isinstance(now, dict) and isinstance(then, dict):
            for name in sorted(set(now) | set(then)):
                if name not in then:
                    lines.append(f"{section}: added {name}")
                elif name not in now:
                    lines.append(f"{section}: removed {name}")
                elif now[name] != then[name]:
                    lines.append(f"{section}: changed {name}: {then[name]} -> {now[name]}")
        elif isinstance(now, list) and isinstance(then, list):
            lines += [f"{section}: added {name}" for name in sorted(set(now) - set(then))]
            lines += [f"{section}: removed {name}" for name in sorted(set(then) - set(now))]
        elif now != then:
            lines.append(f"{section}: {then} -> {now}")
    return lines


def test_the_definitions_match_the_committed_snapshot(definitions: dg.Definitions) -> None:
    current = render(definitions)
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert SNAPSHOT.exists(), f"no snapshot yet: run with {UPDATE_ENV}=1 and commit {SNAPSHOT}"
    changed = differences(current, json.loads(SNAPSHOT.read_text()))
    assert not changed, (
        f"the definitions differ from {SNAPSHOT.name} (regenerate it with {UPDATE_ENV}=1 and "
        "commit it if the change is intended):\n" + "\n".join(changed)
    )


def test_a_renamed_asset_key_shows_up_as_a_difference(definitions: dg.Definitions) -> None:
    current = render(definitions)
    renamed = json.loads(json.dumps(current))
    renamed["assets"]["enterpret/feedback_daily_v2"] = renamed["assets"].pop(
        "enterpret/feedback_daily"
    )
    renamed["sensors"]["enterpret_export_status"]["minimum_interval_seconds"] += 1
    assert differences(renamed, current) == [
        "assets: removed enterpret/feedback_daily",
        "assets: added enterpret/feedback_daily_v2",
        "sensors: changed enterpret_export_status: "
        f"{current['sensors']['enterpret_export_status']} -> "
        f"{renamed['sensors']['enterpret_export_status']}",
    ]
