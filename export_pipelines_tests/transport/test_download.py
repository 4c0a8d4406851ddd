"""Resumable, atomic, exclusive downloads against the sandbox's file server."""

import hashlib
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    DownloadedFile,
    DownloadPolicy,
    ExpiredUrlError,
    RetryPolicy,
    TransportError,
    download_to_file,
)
from export_pipelines_tests.transport.conftest import Served, TinyServer

FAST = RetryPolicy(max_attempts=5, base_delay_seconds=0.01)


def fetch_to(url: str, dest: Path, server: SandboxServer, **kwargs: Any) -> DownloadedFile:
    """``download_to_file`` as the pipeline calls it: the sandbox is the configured base URL."""
    return download_to_file(
        url,
        dest,
        vendor="enterpret",
        policy=DownloadPolicy.for_base_url(server.base_url("enterpret")),
        lock_dir=kwargs.pop("lock_dir", dest.parent.parent / "locks"),
        retry=kwargs.pop("retry", FAST),
        **kwargs,
    )


def test_a_cut_download_resumes_with_range_to_the_exact_bytes(
    served: Served, tmp_path: Path
) -> None:
    expected = served.expected
    served.server.add_fault("enterpret", "file", cut_after_bytes=len(expected) // 3, times=2)
    got = fetch_to(served.url, tmp_path / "raw" / "f.json", served.server)
    assert got.resumes == 2
    assert (tmp_path / "raw" / "f.json").read_bytes() == expected
    assert got.sha256 == hashlib.sha256(expected).hexdigest() and got.bytes == len(expected)
    assert not (tmp_path / "raw" / "f.json.part").exists()


def test_a_resume_starts_at_exactly_the_bytes_on_disk(served: Served, tmp_path: Path) -> None:
    """Before: httpx's 64 KiB chunker held back what it had not yet yielded when the connection
    broke, so the .part (and the Range) stopped at the last multiple of 64 KiB."""
    cut = 100_001  # not a multiple of any chunk size
    assert len(served.expected) > 2 * cut
    dest = tmp_path / "raw" / "f.json"
    served.server.add_fault("enterpret", "file", cut_after_bytes=cut, times=1)
    with pytest.raises(TransportError, match="kept breaking"):
        fetch_to(served.url, dest, served.server, retry=RetryPolicy(max_attempts=1))
    part = dest.with_name("f.json.part")
    assert part.stat().st_size == cut
    assert part.read_bytes() == served.expected[:cut]

    ranges: list[str | None] = []
    hooks = {"request": [lambda request: ranges.append(request.headers.get("Range"))]}
    with httpx.Client(event_hooks=hooks) as client:
        got = fetch_to(served.url, dest, served.server, client=client)
    assert ranges == [f"bytes={cut}-"]
    assert dest.read_bytes() == served.expected and got.resumes == 0
    assert got.sha256 == hashlib.sha256(served.expected).hexdigest()


def test_locks_live_apart_from_the_data(served: Served, tmp_path: Path) -> None:
    """Before: a 0-byte ``<file>.lock`` sat beside every raw file."""
    raw, locks = tmp_path / "raw", tmp_path / "locks"
    fetch_to(served.url, raw / "f.json", served.server, lock_dir=locks)
    assert sorted(p.name for p in raw.iterdir()) == ["f.json"]
    assert [p.suffix for p in locks.iterdir()] == [".lock"]


def test_a_refused_url_raises_expired_and_leaves_no_file(served: Served, tmp_path: Path) -> None:
    served.server.add_fault("enterpret", "file", status=403, times=1)
    with pytest.raises(ExpiredUrlError) as error:
        fetch_to(served.url, tmp_path / "raw" / "f.json", served.server)
    assert "signature=" not in str(error.value)  # signed query strings never reach messages
    assert not (tmp_path / "raw" / "f.json").exists()


def test_concurrent_downloads_of_one_file_do_not_interleave(served: Served, tmp_path: Path) -> None:
    results = []

    def fetch() -> None:
        results.append(fetch_to(served.url, tmp_path / "raw" / "f.json", served.server))

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.sha256 for r in results] == [hashlib.sha256(served.expected).hexdigest()] * 3
    assert (tmp_path / "raw" / "f.json").read_bytes() == served.expected


def test_a_download_killed_midway_resumes_from_the_bytes_on_disk(
    tiny: TinyServer, tmp_path: Path
) -> None:
    """A run SIGKILLed mid-file: its .part holds what arrived, its lock dies with it, and the next
    download asks for exactly the rest."""
    body = bytes(range(256)) * 2000  # 512,000 bytes
    half = 200_003
    release = threading.Event()

    def serve(handler: BaseHTTPRequestHandler) -> None:
        wanted = handler.headers.get("Range")
        start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
        handler.send_response(206 if start else 200)
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        handler.send_header("Content-Length", str(len(body) - start))
        handler.end_headers()
        if start:
            handler.wfile.write(body[start:])
            return
        handler.wfile.write(body[:half])
        handler.wfile.flush()
        release.wait(60)  # hold the rest until the downloader is dead

    tiny.routes["/f.json"] = serve
    dest, locks = tmp_path / "raw" / "f.json", tmp_path / "locks"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path;"
            "from export_pipelines.transport import DownloadPolicy, download_to_file;"
            "download_to_file(sys.argv[1], Path(sys.argv[2]), vendor='t',"
            " policy=DownloadPolicy.for_base_url(sys.argv[1]), lock_dir=Path(sys.argv[3]))",
            f"{tiny.url}/f.json",
            str(dest),
            str(locks),
        ]
    )
    part = dest.with_name("f.json.part")
    try:
        for _ in range(600):
            if part.exists() and part.stat().st_size == half:
                break
            time.sleep(0.05)
        assert part.stat().st_size == half
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        release.set()

    ranges: list[str | None] = []
    hooks = {"request": [lambda request: ranges.append(request.headers.get("Range"))]}
    with httpx.Client(event_hooks=hooks) as client:
        got = download_to_file(
            f"{tiny.url}/f.json",
            dest,
            vendor="t",
            policy=DownloadPolicy.for_base_url(tiny.url),
            lock_dir=locks,
            client=client,
        )
    assert ranges == [f"bytes={half}-"]
    assert dest.read_bytes() == body and got.sha256 == hashlib.sha256(body).hexdigest()
