"""``make bench``: the engine against pyarrow, polars and duckdb on the same files, side by side.

Inputs, all generated deterministically here: Enterpret ``{"records": [...]}`` files from the
sandbox's own generator (two sizes, so bounded memory is measured, not claimed), and a 12-column
typed table as gzip CSV, gzip JSON Lines and XLSX. Every contender runs alone in a fresh child
process (:mod:`.contenders`); the table reports its seconds (after imports), MB/s of uncompressed
input, the peak RSS of its process (its own ``VmHWM``), and its speed relative to the fastest contender of
the row. A download row measures the transport over loopback. Results go to ``docs/benchmarks.md``.

Knobs: ``BENCH_RECORDS`` (the larger Enterpret file; the smaller is half), ``BENCH_ROWS`` (tabular
rows), ``BENCH_XLSX_ROWS``, ``BENCH_REPEAT`` (runs of each contender, in turn; medians reported).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RECORDS = int(os.environ.get("BENCH_RECORDS", "200000"))
ROWS = int(os.environ.get("BENCH_ROWS", "2000000"))
XLSX_ROWS = int(os.environ.get("BENCH_XLSX_ROWS", "200000"))
#: Runs of each contender per row; the table reports the median (and the range of the seconds).
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
ROOT = Path(__file__).resolve().parents[2]


def _enterpret_file(directory: Path, count: int) -> Path:
    from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
    from export_pipelines.sandbox.enterpret.export_files import write_export

    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    dataset = FeedbackDataset(7, count, start, end)
    _, paths = write_export(dataset.records(dataset.start_ts, dataset.end_ts), count, directory)
    return paths[0]


def _table(rows: int):
    """The 12 typed columns, from a seeded generator (numbers, text with quotes and commas)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(7)
    base = 1_704_067_200 + rng.integers(0, 365 * 86400, rows)
    countries = np.array(["DE", "FR", "US", "JP", "BR", "IN"], dtype=object)
    notes = np.array(
        ["", "ok", 'said "fine", then left', "日本語 🎉", "late; refund"], dtype=object
    )
    created = pa.array(base * 1000, pa.timestamp("ms", tz="UTC"))
    return pa.table(
        {
            "id": pa.array([f"o-{i:09d}" for i in range(rows)]),
            "user": pc.binary_join_element_wise("u", pa.array(rng.integers(0, 50_000, rows)).cast(pa.string()), ""),
            "country": pa.array(countries[rng.integers(0, len(countries), rows)], pa.string()),
            "qty": pa.array(rng.integers(1, 100, rows)),
            "price": pa.array(np.round(rng.random(rows) * 100, 2)),
            "amount": pa.array(rng.integers(0, 10_000_000, rows)).cast(pa.decimal128(19, 0)).cast(pa.decimal128(21, 2)).cast(pa.decimal128(12, 2)),
            "ratio": pa.array(rng.random(rows)),
            "paid": pa.array(rng.random(rows) < 0.5),
            "day": pc.cast(created, pa.date32()),
            "created": pc.strftime(created, "%Y-%m-%dT%H:%M:%SZ"),
            "updated": pa.array(base + 3600),
            "note": pa.array(notes[rng.integers(0, len(notes), rows)], pa.string()),
        }
    )  # fmt: skip


def _gzip(source: Path, dest: Path) -> Path:
    from isal import igzip

    with source.open("rb") as f, igzip.open(dest, "wb", compresslevel=2) as g:
        while chunk := f.read(4 << 20):
            g.write(chunk)
    source.unlink()
    return dest


def _tabular_files(directory: Path) -> dict[str, tuple[Path, int]]:
    """gzip CSV and gzip JSONL of ROWS rows, XLSX of XLSX_ROWS; with their uncompressed bytes."""
    import polars as pl
    import pyarrow.csv as pcsv

    table = _table(ROWS)
    plain_csv = directory / "table.csv"
    pcsv.write_csv(table, plain_csv, pcsv.WriteOptions(quoting_style="needed"))
    csv_bytes = plain_csv.stat().st_size
    plain_jsonl = directory / "table.jsonl"
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame.with_columns(pl.col("amount").cast(pl.String)).write_ndjson(plain_jsonl)
    jsonl_bytes = plain_jsonl.stat().st_size
    xlsx = directory / "table.xlsx"
    _xlsx(table.slice(0, XLSX_ROWS), xlsx)
    return {
        "csv": (_gzip(plain_csv, directory / "table.csv.gz"), csv_bytes),
        "jsonl": (_gzip(plain_jsonl, directory / "table.jsonl.gz"), jsonl_bytes),
        "xlsx": (xlsx, xlsx.stat().st_size),
    }


def _xlsx(table, path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("data")
    columns = table.column_names
    sheet.write_row(0, 0, columns)
    values = [table.column(c).to_pylist() for c in columns]
    for r in range(table.num_rows):
        row = []
        for c in values:
            v = c[r]
            row.append(
                float(v)
                if hasattr(v, "as_tuple")
                else (v.isoformat() if hasattr(v, "isoformat") and not isinstance(v, str) else v)
            )
        sheet.write_row(r + 1, 0, row)
    book.close()


#: The Arrow memory pool the shell chose, if any, before this runner imported the package (which
#: picks jemalloc for its own process, export_pipelines/__init__.py).
_SHELL_POOL = os.environ.get("ARROW_DEFAULT_MEMORY_POOL")


def _environment(name: str) -> dict[str, str]:
    """The engine runs with the pool the package picks (its child imports pyarrow before the
    package, too late for Arrow to read the choice); the other contenders with pyarrow's default."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    pool = _SHELL_POOL or ("jemalloc" if name == "engine" and sys.platform == "linux" else None)
    if pool:
        env["ARROW_DEFAULT_MEMORY_POOL"] = pool
    return env


def _run(name: str, kind: str, src: Path, out: Path) -> dict[str, float] | str:
    """One contender in its own process: its result, or why it failed."""
    command = [
        sys.executable,
        "-m",
        "export_pipelines_tests.bench.contenders",
        name,
        kind,
        str(src),
        str(out),
    ]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(
            command, stdout=stdout, stderr=stderr, cwd=ROOT, env=_environment(name)
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out.unlink(missing_ok=True)
        if child.returncode != 0:
            last = (stderr.read().strip().splitlines() or ["?"])[-1]
            return f"failed: {last[:120]}"
        result = json.loads(stdout.read().strip().splitlines()[-1])
    del usage
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _rows(label: str, kind: str, src: Path, size: int, names: list[str], out: Path) -> list[str]:
    """The row's contenders, each REPEAT times in turn (engine, polars, …, engine, polars, …), so
    that a noisy stretch of the machine lands on all of them; each reported by its median."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    failed: dict[str, str] = {}
    for _ in range(REPEAT):
        for name in names:
            if name in failed:
                continue
            result = _run(name, kind, src, out)
            if isinstance(result, str):
                failed[name] = result
            else:
                runs[name].append(result)
    results = {
        name: {
            "seconds": _median([r["seconds"] for r in done]),
            "cpu_seconds": _median([r["cpu_seconds"] for r in done]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in done),
            "rows": done[0]["rows"],
            "spread": f"{min(r['seconds'] for r in done):.2f}-{max(r['seconds'] for r in done):.2f}",
        }
        for name, done in runs.items()
        if name not in failed
    }
    fastest = min((r["seconds"] for r in results.values()), default=float("nan"))
    leanest = min((r["cpu_seconds"] for r in results.values()), default=float("nan"))
    lines = []
    for name in names:
        if name in failed:
            lines.append(f"| {label} | {name} | - | - | - | - | - | - | - | {failed[name]} |")
            continue
        r = results[name]
        mb = size / 1e6
        lines.append(
            f"| {label} | {name} | {r['seconds']:.2f} | {r['spread']} | {mb / r['seconds']:.0f} | "
            f"{r['peak_rss_mb']:.0f} MB | {fastest / r['seconds']:.2f}x | "
            f"{r['cpu_seconds']:.2f} | {leanest / r['cpu_seconds']:.2f}x | {r['rows']:,.0f} rows |"
        )
        print(lines[-1], flush=True)
    return lines


def _download_seconds(path: Path, directory: Path) -> float:
    from starlette.responses import FileResponse
    from starlette.routing import Route

    from export_pipelines.sandbox.config import SandboxConfig
    from export_pipelines.sandbox.server import SandboxServer
    from export_pipelines.transport import DownloadPolicy, download_to_file

    with SandboxServer(SandboxConfig(port=0)) as server:
        assert server._server is not None
        app = server._server.config.app
        app.router.routes.insert(0, Route("/bench-file", lambda request: FileResponse(path)))
        start = time.perf_counter()
        got = download_to_file(
            f"{server.url}/bench-file",
            directory / "copy.json",
            vendor="bench",
            policy=DownloadPolicy.for_base_url(server.url),
            lock_dir=directory / "locks",
        )
        seconds = time.perf_counter() - start
    assert got.bytes == path.stat().st_size
    (directory / "copy.json").unlink()
    return seconds


#: Each input kind's contenders (add a kind here and a branch in :mod:`.contenders`).
CONTENDERS = {
    "enterpret": ["engine", "pyarrow", "polars", "duckdb"],
    "csv": ["engine", "pyarrow", "polars", "duckdb"],
    "jsonl": ["engine", "pyarrow", "polars", "duckdb"],
    "xlsx": ["engine", "polars", "fastexcel"],
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m export_pipelines_tests.bench",
        description="The engine against pyarrow, polars, duckdb (and fastexcel for XLSX) on the "
        "same files, each in its own process; writes docs/benchmarks.md.",
    )
    parser.add_argument(
        "--only",
        default=",".join(CONTENDERS),
        help="comma-separated input kinds to run (default: all): " + ", ".join(CONTENDERS),
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.epilog = (
        "Sizes: BENCH_RECORDS (larger Enterpret file; the smaller is half), BENCH_ROWS (gzip CSV "
        "and JSONL rows), BENCH_XLSX_ROWS."
    )
    return parser.parse_args()


def main() -> None:
    arguments = _arguments()
    kinds = [k for k in arguments.only.split(",") if k]
    unknown = sorted(set(kinds) - set(CONTENDERS))
    if unknown:
        raise SystemExit(f"unknown input kinds: {', '.join(unknown)}")
    lines: list[str] = []
    download_line = ""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "out.parquet"
        if "enterpret" in kinds:
            for count in (RECORDS // 2, RECORDS):
                src = _enterpret_file(folder / f"enterpret-{count}", count)
                size = src.stat().st_size
                label = f"Enterpret JSON, {count:,} records, {size / 1e6:.0f} MB"
                lines += _rows(label, "enterpret", src, size, CONTENDERS["enterpret"], out)
                if count == RECORDS:
                    download = _download_seconds(src, folder)
                    download_line = (
                        f"Download from the sandbox over loopback: {size / 1e6:.0f} MB in "
                        f"{download:.1f} s ({size / 1e6 / download:.0f} MB/s)."
                    )
                src.unlink()
        tabular = [k for k in kinds if k != "enterpret"]
        files = _tabular_files(folder) if tabular else {}
        labels = {
            "csv": f"gzip CSV, {ROWS:,} rows x 12",
            "jsonl": f"gzip JSONL, {ROWS:,} rows x 12",
            "xlsx": f"XLSX, {XLSX_ROWS:,} rows x 12",
        }
        for kind in tabular:
            src, size = files[kind]
            lines += _rows(labels[kind], kind, src, size, CONTENDERS[kind], out)
    page = [
        "# Benchmarks",
        "",
        f"Made by `make bench` (`BENCH_RECORDS={RECORDS} BENCH_ROWS={ROWS} BENCH_XLSX_ROWS={XLSX_ROWS} "
        f"BENCH_REPEAT={REPEAT} python -m export_pipelines_tests.bench`) on "
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        "Each contender converts the same file to zstd Parquet in its own fresh process, "
        f"{REPEAT} times, the contenders of a row taking turns. Seconds (the median; the range "
        "beside it) exclude interpreter start and imports; MB/s is of the uncompressed input; "
        "peak RSS is the process's highest; the ratio is the fastest contender's median over "
        "this one's (1.00x is the fastest). CPU s is the median CPU time of all the process's "
        "threads during the conversion, and its ratio the leanest contender's over this one's.",
        "",
        "| input | contender | seconds | range | MB/s | peak RSS | vs fastest | CPU s "
        "| vs leanest CPU | output |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        download_line,
        "",
    ]
    target = arguments.out
    target.parent.mkdir(exist_ok=True)
    target.write_text("\n".join(page), encoding="utf-8")
    print("\n".join(page))


if __name__ == "__main__":
    main()
