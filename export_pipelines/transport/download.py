"""Streamed, resumable, atomic file downloads.

A result file can be gigabytes. It is streamed to ``<dest>.part`` in 64 KiB chunks (httpx's default
chunking is faster than larger chunks), hashed as it arrives, resumed with ``Range`` when the
connection breaks (restarted from zero when the server ignores the range), and renamed onto
``dest`` only when complete — so ``dest`` either does not exist or holds the whole file. A partial
``.part`` left by a crashed run is resumed by the next attempt, even with a fresh URL.
"""

import fcntl
import hashlib
import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from export_pipelines.transport.errors import ExpiredUrlError, TransportError, VendorUnavailable
from export_pipelines.transport.redact import redact_url
from export_pipelines.transport.retry import RetryPolicy

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_BROKEN = (
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.ConnectError,
    httpx.ConnectTimeout,
)


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    bytes: int
    sha256: str
    resumes: int


def _hash_existing(part: Path) -> tuple["hashlib._Hash", int]:
    digest = hashlib.sha256()
    size = 0
    if part.exists():
        with part.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
    return digest, size


def download_to_file(
    url: str,
    dest: Path,
    *,
    vendor: str,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> DownloadedFile:
    """Download ``url`` to ``dest`` atomically; raise :class:`ExpiredUrlError` on 403/410.

    ``headers`` are for vendors whose download link needs the API key on the vendor's own host;
    pre-signed URLs get none.
    """
    retry = retry or RetryPolicy()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.with_name(dest.name + ".lock")):
        return _download(url, dest, vendor=vendor, client=client, headers=headers, retry=retry)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One downloader per destination across processes (a UI run and a sensor-launched run may
    download the same job at once): the second waits, then downloads onto a whole file."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _download(
    url: str,
    dest: Path,
    *,
    vendor: str,
    client: httpx.Client | None,
    headers: dict[str, str] | None,
    retry: RetryPolicy,
) -> DownloadedFile:
    part = dest.with_name(dest.name + ".part")
    digest, have = _hash_existing(part)
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
    where = redact_url(url)
    attempts = 0
    resumes = 0
    try:
        while True:
            attempts += 1
            request_headers = dict(headers or {})
            if have:
                request_headers["Range"] = f"bytes={have}-"
            try:
                with http.stream("GET", url, headers=request_headers) as response:
                    status = response.status_code
                    if status in (403, 410):
                        raise ExpiredUrlError(
                            vendor, f"file URL {where} refused with HTTP {status}"
                        )
                    if status == 416 and have:
                        # Our .part is already whole (or longer than the file): start over.
                        part.unlink(missing_ok=True)
                        digest, have = hashlib.sha256(), 0
                        continue
                    if status == 429 or status >= 500:
                        delay = retry.delay(attempts, response)
                        if attempts >= retry.max_attempts or delay is None:
                            raise VendorUnavailable(
                                vendor, f"file {where} answered HTTP {status}", status=status
                            )
                        time.sleep(delay)
                        continue
                    if status not in (200, 206):
                        raise TransportError(vendor, f"file {where} answered HTTP {status}")
                    total = _expected_total(response, have)
                    if status == 206 and _range_start(response) != have:
                        raise TransportError(vendor, f"file {where} resumed at the wrong offset")
                    if status == 200 and have:
                        log.info("%s: server ignored Range for %s; restarting", vendor, where)
                        digest, have = hashlib.sha256(), 0
                        mode = "wb"
                    else:
                        mode = "ab" if have else "wb"
                    with part.open(mode) as out:
                        for chunk in response.iter_bytes(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            have += len(chunk)
                        out.flush()
                        os.fsync(out.fileno())
                    if total is not None and have != total:
                        raise httpx.RemoteProtocolError(f"got {have} of {total} bytes")
            except _BROKEN as exc:
                if attempts >= retry.max_attempts:
                    raise TransportError(
                        vendor, f"download of {where} kept breaking ({exc}); kept {have} bytes"
                    ) from None
                resumes += 1
                log.warning(
                    "%s: download of %s broke at %d bytes (%s); resuming", vendor, where, have, exc
                )
                time.sleep(retry.delay(attempts) or 0.0)
                continue
            os.replace(part, dest)
            return DownloadedFile(path=dest, bytes=have, sha256=digest.hexdigest(), resumes=resumes)
    finally:
        if own_client:
            http.close()


def _range_start(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _expected_total(response: httpx.Response, have: int) -> int | None:
    """The complete file size the response promises, if it says."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and match.group(3) != "*":
            return int(match.group(3))
        length = response.headers.get("Content-Length")
        return have + int(length) if length else None
    length = response.headers.get("Content-Length")
    if length and "Content-Encoding" not in response.headers:
        return int(length)
    return None
