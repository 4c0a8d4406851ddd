"""What the Connhex pipeline tests share: the catalog's item targets (device and channel)."""

from pathlib import Path
from typing import Any

import yaml

CATALOG = (
    Path(__file__).resolve().parents[2] / "export_pipelines" / "defs" / "connhex" / "defs.yaml"
)


def _catalog_targets() -> list[dict[str, Any]]:
    """The ``target``, ``channelId`` and ``subtopic`` of the catalog's raw-points export's items."""
    for document in yaml.safe_load_all(CATALOG.read_text()):
        attributes = document["attributes"]
        if attributes.get("export") == "raw_points_hourly":
            return [
                {k: item["params"][k] for k in ("target", "channelId", "subtopic")}
                for item in attributes["request"]["items"]
            ]
    raise AssertionError("the Connhex catalog has no raw_points_hourly export")


ITEM_TARGETS = _catalog_targets()
