"""Resumable, atomic, exclusive downloads against the sandbox's file server."""

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.transport import (
    DownloadedFile,
    DownloadPolicy,
    ExpiredUrlError,
    RetryPolicy,
    download_to_file,
)

BODY = {
    "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709856000}},
    "pageSize": 1000,
}
FAST = RetryPolicy(max_attempts=5, base_delay_seconds=0.01)


def fetch_to(url: str, dest: Path, server: SandboxServer, **kwargs: Any) -> DownloadedFile:
    """``download_to_file`` as the pipeline calls it: the sandbox is the configured base URL."""
    return download_to_file(
        url,
        dest,
        vendor="enterpret",
        policy=DownloadPolicy.for_base_url(server.base_url("enterpret")),
        lock_dir=dest.parent / "locks",
        retry=kwargs.pop("retry", FAST),
        **kwargs,
    )


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SandboxServer, str, bytes]]:
    """The sandbox with one finished export; its first file's URL and exact bytes."""
    config = SandboxConfig(port=0, enterpret=EnterpretSandboxConfig(completion_delay_seconds=0))
    with SandboxServer(config) as server:
        job = server.enterpret.submit(BODY)
        server.enterpret.complete(job.query_id)
        headers = {"Authorization": f"Bearer {server.api_key('enterpret')}"}
        answer = httpx.post(
            f"{server.base_url('enterpret')}/export/external/v1/async/fetch",
            json={"queryID": job.query_id},
            headers=headers,
        ).json()
        url = answer["responseFiles"][0]
        path = server.enterpret.file_path(job.query_id, 0)
        assert path is not None
        yield server, url, path.read_bytes()


def test_a_cut_download_resumes_with_range_to_the_exact_bytes(served, tmp_path: Path) -> None:
    server, url, expected = served
    server.add_fault("enterpret", "file", cut_after_bytes=len(expected) // 3, times=2)
    got = fetch_to(url, tmp_path / "f.json", server)
    assert got.resumes == 2
    assert (tmp_path / "f.json").read_bytes() == expected
    assert got.sha256 == hashlib.sha256(expected).hexdigest() and got.bytes == len(expected)
    assert not (tmp_path / "f.json.part").exists()


def test_a_refused_url_raises_expired_and_leaves_no_file(served, tmp_path: Path) -> None:
    server, url, _ = served
    server.add_fault("enterpret", "file", status=403, times=1)
    with pytest.raises(ExpiredUrlError) as error:
        fetch_to(url, tmp_path / "f.json", server)
    assert "signature=" not in str(error.value)  # signed query strings never reach messages
    assert not (tmp_path / "f.json").exists()


def test_concurrent_downloads_of_one_file_do_not_interleave(served, tmp_path: Path) -> None:
    server, url, expected = served
    results = []

    def fetch() -> None:
        results.append(fetch_to(url, tmp_path / "f.json", server))

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.sha256 for r in results] == [hashlib.sha256(expected).hexdigest()] * 3
    assert (tmp_path / "f.json").read_bytes() == expected
