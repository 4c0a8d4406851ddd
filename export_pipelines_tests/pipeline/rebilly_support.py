"""Rebilly pipeline tests' support: a catalog of test exports as a code location, and what a table
must hold (the sandbox's records for an export, typed by plain Python).

The expected rows are independent of the normalizer: the records come from the sandbox's own
generator (through its control endpoints), nested members are flattened by hand, and each value is
typed with ``Decimal``/``datetime`` the way the README documents the table.
"""

import importlib
import sys
import textwrap
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pyarrow as pa

from export_pipelines.normalize import LINEAGE_FIELDS
from export_pipelines.sandbox import rebilly as rebilly_sandbox
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.rebilly.tables import AMOUNT, TABLES, TIMESTAMP


def sandbox_control(sandbox: SandboxServer) -> httpx.Client:
    return httpx.Client(base_url=f"{sandbox.url}/_sandbox/rebilly", timeout=10)


def _flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _typed(value: Any, kind: pa.DataType) -> Any:
    if value is None or value == "":
        return None
    if kind == AMOUNT:
        return Decimal(value)
    if kind == TIMESTAMP:
        return datetime.fromisoformat(value)
    return value


def expected_rows(
    sandbox: SandboxServer, vendor_job_id: str, body: Mapping[str, Any]
) -> list[dict[str, Any]]:
    resource = body.get("resource", "transactions")
    table = TABLES[resource]
    records = rebilly_sandbox.SANDBOX_VENDOR.expected_records(sandbox.url, vendor_job_id, body)
    rows = []
    for record in records:
        flat = _flat(record)
        rows.append({c.name: _typed(flat.get(c.source), c.type) for c in table.columns})
    return rows


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows without the lineage columns."""
    return table.drop_columns([f.name for f in LINEAGE_FIELDS]).to_pylist()


def write_catalog_project(
    root: Path, catalog: str, name: str = "rebilly_catalog", folder: str = "rebilly"
) -> str:
    """A code location ``name`` of ``catalog`` (its ``defs/<folder>/defs.yaml``) plus the
    project's shared resources; its module name."""
    package = root / name
    (package / "defs" / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0"\n[tool.dg]\n'
        f'directory_type = "project"\n[tool.dg.project]\nroot_module = "{name}"\n'
        f'defs_module = "{name}.defs"\n'
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "defs" / folder / "defs.yaml").write_text(catalog)
    (package / "definitions.py").write_text(
        textwrap.dedent(
            """\
            from pathlib import Path

            import dagster as dg

            from export_pipelines.lake import LakeResource
            from export_pipelines.ledger import LedgerResource


            @dg.definitions
            def defs():
                return dg.Definitions.merge(
                    dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
                    dg.Definitions(
                        resources={"ledger": LedgerResource(), "lake": LakeResource()},
                        executor=dg.in_process_executor,
                    ),
                )
            """
        )
    )
    return f"{name}.definitions"


def load_catalog(module: str) -> dg.Definitions:
    """The definitions of a catalog project on ``sys.path``, imported afresh: each
    test writes its own catalog under the same package name."""
    package = module.split(".", 1)[0]
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    definitions: dg.Definitions = importlib.import_module(module).defs()
    return definitions
