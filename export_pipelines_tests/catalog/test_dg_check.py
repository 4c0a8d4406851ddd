"""The catalog through ``dg`` itself: the real one loads; mistakes name the document and field."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DG = str(Path(sys.executable).with_name("dg"))


def _dg(args: list[str], cwd: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return subprocess.run(
        [DG, *args],
        cwd=cwd,
        env={**os.environ, "DAGSTER_HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_catalog_checks_and_lists(tmp_path: Path) -> None:
    check = _dg(["check", "defs"], PROJECT, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr

    listed = _dg(["list", "defs", "--json"], PROJECT, tmp_path)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    keys = {asset["asset_key"] for asset in defs["assets"]}
    for export in ("feedback_daily", "store_reviews_weekly", "low_ratings_recent"):
        assert {
            f"enterpret/{export}/request",
            f"enterpret/{export}/raw",
            f"enterpret/{export}",
        } <= keys
    for export in ("clicks_daily", "advertisers_monthly", "coupon_deals_weekly", "hot_advertisers"):
        assert {
            f"hienergy/{export}/request",
            f"hienergy/{export}/raw",
            f"hienergy/{export}",
        } <= keys
    assert {s["name"] for s in defs["sensors"]} == {
        f"{vendor}_export_status"
        for vendor in ("enterpret", "hienergy", "rebilly", "hellodata", "connhex")
    } | {"analytics_automation"}
    assert {
        "analytics/connhex/device_daily",
        "analytics/enterpret/label_sentiment",
        "analytics/hellodata/rent_by_market",
        "analytics/hienergy/advertiser_league",
        "analytics/rebilly/daily_revenue",
    } <= keys
    assert {r["name"] for r in defs["resources"]} == {
        "enterpret",
        "hienergy",
        "rebilly",
        "hellodata",
        "connhex",
        "ledger",
        "lake",
    }
    checks = {c["key"] for c in defs["asset_checks"]}
    assert "enterpret/feedback_daily:rows_match_vendor_files" in checks


def _bad_project(tmp_path: Path, document: str) -> Path:
    root = tmp_path / "project"
    package = root / "bad_catalog"
    (package / "defs" / "enterpret").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "bad_catalog"
            version = "0"
            [tool.dg]
            directory_type = "project"
            [tool.dg.project]
            root_module = "bad_catalog"
            defs_module = "bad_catalog.defs"
            """
        )
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\nimport dagster as dg\n\n\n@dg.definitions\ndef defs():\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    (package / "defs" / "enterpret" / "defs.yaml").write_text(textwrap.dedent(document))
    return root


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes: {vendor: enterprett, export: x, request: {pageSize: 5}}
            """,
            ["vendor", "unknown vendor 'enterprett'; known vendors: connhex, enterpret"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes:
              vendor: enterpret
              export: x
              partitioning: daily
              start: "2024-01-01"
              request: {pageSize: 5, listRecords: {filtre: {}}}
            """,
            ["export enterpret/x", "request.listRecords.filtre", "Extra inputs are not permitted"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes:
              vendor: enterpret
              export: x
              partitioning: daily
              start: "2024-01-01"
              request:
                pageSize: 5
                listRecords: {filter: {operation: {op: XOR, params: [{filter: {source: a}}]}}}
            """,
            ["request.listRecords.filter.operation.op", "'AND' or 'OR'"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes:
              vendor: enterpret
              export: nightly
              partitioning: daily
              start: "2024-01-01"
              request: {pageSize: 5}
              recurrence: {rule: "RRULE:FREQ=NIGHTLY", start: "2024-01-01T00:00"}
            """,
            ["export enterpret/nightly", "recurrence:", "invalid recurrence rule", "NIGHTLY"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes: {vendor: enterpret, export: x, partitioning: fortnightly, request: {pageSize: 5}}
            """,
            ["partitioning", "'hourly', 'daily', 'weekly', 'monthly' or 'none'"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes:
              vendor: enterpret
              export: x
              partitioning: daily
              start: "2024-02-01"
              end: "2024-01-01"
              request: {pageSize: 5}
            """,
            ["export enterpret/x", "end: 2024-01-01 is not after start 2024-02-01"],
        ),
        (
            """
            type: export_pipelines.catalog.AsyncExport
            attributes: {vendor: enterpret, export: x, partitioning: daily, start: "2024-01-01",
                         request: {pageSize: 100000000000000000000000}}
            """,
            ["request.pageSize", "less than or equal to 1000000"],
        ),
    ],
)
def test_a_mistake_fails_dg_check_naming_document_and_field(
    tmp_path: Path, document: str, expected: list[str]
) -> None:
    root = _bad_project(tmp_path, document)
    result = _dg(["check", "defs"], root, tmp_path, PYTHONPATH=str(root))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "defs.yaml (AsyncExport) (error)" in output
    for text in expected:
        assert text in output, output


def test_an_export_declared_twice_names_both_documents(tmp_path: Path) -> None:
    root = _bad_project(
        tmp_path,
        """
        type: export_pipelines.catalog.AsyncExport
        attributes: {vendor: enterpret, export: twice, partitioning: daily, start: "2024-01-01",
                     request: {pageSize: 5}}
        ---
        type: export_pipelines.catalog.AsyncExport
        attributes: {vendor: enterpret, export: other, partitioning: daily, start: "2024-01-01",
                     request: {pageSize: 5}}
        ---
        type: export_pipelines.catalog.AsyncExport
        attributes: {vendor: enterpret, export: twice, partitioning: weekly, start: "2024-01-01",
                     request: {pageSize: 9}}
        """,
    )
    result = _dg(["check", "defs"], root, tmp_path, PYTHONPATH=str(root))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert (
        "export enterpret/twice is declared 2 times: in defs/enterpret/defs.yaml, document 1 "
        "and in defs/enterpret/defs.yaml, document 3"
    ) in output, output
