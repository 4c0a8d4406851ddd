"""``make bench``: throughput and peak memory of the download and normalize steps.

Measures, on this machine, with files the sandbox generates (so the numbers are reproducible):
- normalize: one Enterpret ``{"records": [...]}`` file → Parquet (records/s, MB/s, peak RSS of a
  fresh process, which shows whether the file was streamed or held);
- download: the same file served by the sandbox over loopback → disk (MB/s).
Results go to ``docs/benchmarks.md`` with the command that made them.
"""

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
ROOT = Path(__file__).resolve().parents[2]


def _make_file(directory: Path, count: int) -> Path:
    from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
    from export_pipelines.sandbox.enterpret.export_files import write_export

    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    dataset = FeedbackDataset(7, count, start, end)
    records = dataset.records(dataset.start_ts, dataset.end_ts)
    _, paths = write_export(records, page_size=count, directory=directory)
    return paths[0]


def _normalize_in_child(path: Path, out: Path) -> dict[str, float]:
    code = f"""
import json, resource, time
from datetime import UTC, datetime
from pathlib import Path
from export_pipelines.normalize import Lineage, write_parquet
from export_pipelines.pipeline.steps import BATCH_ROWS
from export_pipelines.vendors.enterpret.records import EnterpretNormalizer
n = EnterpretNormalizer()
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
result = write_parquet(Path({str(out)!r}), n.schema,
    [("file", n.batches(Path({str(path)!r}), BATCH_ROWS))],
    Lineage("bench", "all", "bench", datetime.now(UTC)))
print(json.dumps({{"seconds": time.perf_counter() - start, "rows": result.rows,
    "parquet_bytes": result.bytes, "baseline_rss_mb": baseline,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _download(path: Path, directory: Path) -> float:
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
    return seconds


def _normalize_row(source: Path, out: Path) -> str:
    size_mb = source.stat().st_size / 1e6
    norm = _normalize_in_child(source, out)
    over = norm["peak_rss_mb"] - norm["baseline_rss_mb"]
    return (
        f"| normalize Enterpret JSON → Parquet | {norm['rows']:,.0f} records, {size_mb:.0f} MB | "
        f"{norm['seconds']:.1f} | {norm['rows'] / norm['seconds']:,.0f} records/s, "
        f"{size_mb / norm['seconds']:.1f} MB/s | {over:.0f} MB over the "
        f"{norm['baseline_rss_mb']:.0f} MB of the loaded modules |"
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small = _make_file(folder / "small", RECORDS // 4)
        large = _make_file(folder / "large", RECORDS)
        rows = [_normalize_row(small, folder / "small.parquet")]
        rows.append(_normalize_row(large, folder / "large.parquet"))
        size_mb = large.stat().st_size / 1e6
        download_seconds = _download(large, folder)
    lines = [
        "# Benchmarks",
        "",
        f"Made by `make bench` (`BENCH_RECORDS={RECORDS}`) on {datetime.now(UTC):%Y-%m-%d}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| step | input | seconds | throughput | peak memory |",
        "|---|---|---|---|---|",
        *rows,
        f"| download from the sandbox (loopback) | {size_mb:.0f} MB | {download_seconds:.1f} | "
        f"{size_mb / download_seconds:.0f} MB/s | - |",
        "",
        "Peak memory is the peak RSS of a fresh process doing only the normalization, less what its",
        "imports take. It does not grow with the file: the records array is streamed in bounded",
        "batches and Parquet row groups close by rows or bytes. Throughput is bound by JSON parsing",
        "(ijson's C backend builds Python objects); a faster parser is the next step.",
        "",
    ]
    out = ROOT / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
