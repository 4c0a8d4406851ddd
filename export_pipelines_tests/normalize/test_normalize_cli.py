"""``export-pipelines normalize``: raw files on disk → Parquet with the catalog export's schema."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from export_pipelines.vendors.enterpret.records import RECORD_SCHEMA


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "export_pipelines.cli", "normalize", *args],
        capture_output=True,
        text=True,
    )


def test_normalize_writes_the_rows_and_says_how_many(tmp_path: Path) -> None:
    files = []
    for index, ids in enumerate((["a", "b"], ["c"])):
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps({"records": [{"id": i} for i in ids]}), encoding="utf-8")
        files.append(str(path))
    out = tmp_path / "out" / "t.parquet"
    done = _run("enterpret/feedback_daily", *files, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"3 rows written to {out}")
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == ["a", "b", "c"]
    assert table.schema.names[: len(RECORD_SCHEMA)] == RECORD_SCHEMA.names
    assert set(table.column("_source_file").to_pylist()) == {"0.json", "1.json"}


def test_normalize_refuses_a_bad_file_and_an_unknown_export(tmp_path: Path) -> None:
    bad = tmp_path / "0.json"
    bad.write_text('{"pages": []}', encoding="utf-8")
    out = tmp_path / "t.parquet"
    done = _run("enterpret/feedback_daily", str(bad), "--out", str(out))
    assert done.returncode == 1 and "error: 0.json: not a document of the shape" in done.stderr
    assert not out.exists()
    done = _run("enterpret/nope", str(bad), "--out", str(out))
    assert done.returncode == 2 and "is not an export of the catalog" in done.stderr
