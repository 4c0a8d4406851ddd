"""``export-pipelines normalize <vendor>/<export> FILE... --out PATH.parquet``.

Re-normalizes raw files already on disk (``data/raw/…``) with the catalog export's schema, without
a new vendor export: after a mapping fix, to rebuild a partition, or to time the engine. The
Parquet is written like the table asset writes it (atomically, lineage columns; the vendor job id
is ``local``), and the rows written are printed.
"""

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml

from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.lineage import Lineage
from export_pipelines.normalize.writer import write_parquet

if TYPE_CHECKING:
    from export_pipelines.vendors.base import Normalizer

BATCH_ROWS = 2_000
_DEFS = Path(__file__).resolve().parents[1] / "defs"


def catalog_exports() -> list[str]:
    """Every ``vendor/export`` the catalog declares."""
    return list(_catalog_requests())


def _catalog_requests() -> dict[str, dict[str, object]]:
    """Every ``vendor/export`` the catalog declares, with its ``request`` block."""
    found: dict[str, dict[str, object]] = {}
    for defs in sorted(_DEFS.glob("*/defs.yaml")):
        for document in yaml.safe_load_all(defs.read_text(encoding="utf-8")):
            if not isinstance(document, dict) or not str(document.get("type", "")).endswith(
                "AsyncExport"
            ):
                continue
            attributes = document.get("attributes") or {}
            name = f"{attributes.get('vendor')}/{attributes.get('export')}"
            found[name] = attributes.get("request") or {}
    return found


def normalizer_for(target: str) -> "Normalizer":
    # The vendor registry imports every adapter, and so Dagster: only when a command runs.
    from export_pipelines.vendors import VENDORS, adapter_for

    requests = _catalog_requests()
    known = list(requests)
    if target not in known:
        raise click.BadParameter(
            f"{target!r} is not an export of the catalog; known: {', '.join(known) or 'none'}",
            param_hint="VENDOR/EXPORT",
        )
    vendor = target.split("/", 1)[0]
    if vendor not in VENDORS:
        raise click.BadParameter(f"vendor {vendor!r} is not registered", param_hint="VENDOR/EXPORT")
    adapter = adapter_for(vendor)
    # The export's own table: some vendors' tables depend on the request (Rebilly's resource).
    return adapter.normalizer_for(adapter.parse_request(requests[target]))


@click.command("normalize")
@click.argument("target", metavar="VENDOR/EXPORT")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Parquet file."
)
@click.option("--partition", default="manual", show_default=True, help="The _partition value.")
def normalize_cli(target: str, files: tuple[Path, ...], out: Path, partition: str) -> None:
    """Normalize raw files already on disk into one Parquet file with the export's schema."""
    normalizer = normalizer_for(target)
    lineage = Lineage(
        export=target.split("/", 1)[1],
        partition=partition,
        vendor_job_id="local",
        ingested_at=datetime.now(UTC),
    )
    sources = ((path.name, normalizer.batches(path, BATCH_ROWS)) for path in files)
    try:
        result = write_parquet(out, normalizer.schema, sources, lineage)
    except NormalizeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{result.rows} rows written to {result.path} ({result.bytes:,} bytes)")
