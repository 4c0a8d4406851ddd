"""Streamed, resumable, atomic file downloads.

A result file can be gigabytes. It is streamed to ``<dest>.part`` chunk by chunk as the socket
delivers them, hashed as it arrives, resumed with ``Range`` from exactly the bytes on disk when the
connection breaks (restarted from zero when the server ignores the range), and renamed onto
``dest`` only when complete — so ``dest`` either does not exist or holds the whole file. A partial
``.part`` left by a crashed run is resumed by the next attempt, even with a fresh URL. Where the URL
may point, and how large the file may grow, is the vendor's :class:`DownloadPolicy`.
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
from typing import NoReturn

import httpx

from export_pipelines.transport.errors import (
    DownloadRefused,
    DownloadTooLarge,
    ExpiredUrlError,
    TransportError,
    VendorUnavailable,
)
from export_pipelines.transport.guard import DownloadPolicy, check_peer, check_url
from export_pipelines.transport.redact import redact_text, redact_url
from export_pipelines.transport.retry import RetryPolicy, wait_too_long_text

log = logging.getLogger(__name__)

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
    policy: DownloadPolicy,
    lock_dir: Path,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> DownloadedFile:
    """Download ``url`` to ``dest`` atomically; raise :class:`ExpiredUrlError` on 403/410.

    ``policy`` says where the URL and its redirects may point and caps the size
    (:class:`DownloadRefused`, :class:`DownloadTooLarge`). ``lock_dir`` holds the per-destination
    locks, away from the data. ``headers`` are for vendors whose download link needs the API key
    on the vendor's own host; pre-signed URLs get none, and no redirect to another host gets them.
    """
    retry = retry or RetryPolicy()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(lock_dir, dest):
        return _Download(url, dest, vendor, policy, client, headers or {}, retry).run()


@contextmanager
def _exclusive(lock_dir: Path, dest: Path) -> Iterator[None]:
    """One downloader per destination across processes (a UI run and a sensor-launched run may
    download the same job at once): the second waits, then downloads onto a whole file.

    The lock file is named by a hash of the destination's absolute path and lives in
    ``lock_dir``, so raw folders hold nothing but the vendor's files.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(dest.resolve()).encode()).hexdigest()[:32]
    with (lock_dir / f"{key}.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class _Stalled(httpx.ReadTimeout):
    """The body arrives, but too slowly to ever finish: handled as a broken connection."""


class _Pace:
    """Bytes received per window of ``stall_seconds``; too few in a whole window is a stall."""

    def __init__(self, min_bytes_per_second: float, stall_seconds: float) -> None:
        self.floor = min_bytes_per_second * stall_seconds
        self.window = stall_seconds
        self.started = time.monotonic()
        self.bytes = 0

    def received(self, size: int) -> None:
        self.bytes += size
        elapsed = time.monotonic() - self.started
        if elapsed < self.window:
            return
        if self.bytes < self.floor:
            raise _Stalled(
                f"stalled: {self.bytes} bytes in {elapsed:.0f} s, below "
                f"{self.floor / self.window:.0f} bytes/s"
            )
        self.started, self.bytes = time.monotonic(), 0


class _Again(Exception):
    """Start another attempt at once (after a 416, or a throttle waited out)."""


class _Download:
    """One file's download: attempts, redirect hops, and what is on disk so far.

    ``have`` and ``digest`` always describe exactly the bytes in ``<dest>.part``: a resume asks
    for ``Range: bytes=<have>-``.
    """

    def __init__(
        self,
        url: str,
        dest: Path,
        vendor: str,
        policy: DownloadPolicy,
        client: httpx.Client | None,
        headers: dict[str, str],
        retry: RetryPolicy,
    ) -> None:
        self.url, self.dest, self.vendor, self.policy = url, dest, vendor, policy
        self.client, self.headers, self.retry = client, headers, retry
        self.part = dest.with_name(dest.name + ".part")
        self.where = redact_url(url)
        # Header values may hold the key ("Bearer <key>"): mask the value and its last word.
        self.secrets = tuple(
            form for value in headers.values() for form in (value, value.split(" ")[-1])
        )
        self.digest = hashlib.sha256()
        self.have = 0

    def run(self) -> DownloadedFile:
        check_url(self.url, self.policy, vendor=self.vendor)  # before anything touches the disk
        self.digest, self.have = _hash_existing(self.part)
        if self.have > self.policy.max_bytes:
            self._too_large(self.have)
        http = self.client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        attempts = resumes = 0
        try:
            while True:
                attempts += 1
                try:
                    self._attempt(http, attempts)
                except _Again:
                    continue
                except _BROKEN as exc:
                    if attempts >= self.retry.max_attempts:
                        raise self._error(
                            f"download of {self.where} kept breaking "
                            f"({type(exc).__name__}: {exc}); kept {self.have} bytes"
                        ) from None
                    resumes += 1
                    log.warning(
                        "%s: download of %s broke at %d bytes (%s); resuming",
                        self.vendor,
                        self.where,
                        self.have,
                        self._redact(f"{type(exc).__name__}: {exc}"),
                    )
                    time.sleep(self.retry.delay(attempts) or 0.0)
                    continue
                except httpx.HTTPError as exc:
                    raise self._error(
                        f"download of {self.where} failed: {type(exc).__name__}: {exc}"
                    ) from None
                except (httpx.InvalidURL, UnicodeError) as exc:
                    raise DownloadRefused(
                        self.vendor,
                        f"download of {self.where} could not be sent ({type(exc).__name__})",
                    ) from None
                os.replace(self.part, self.dest)
                return DownloadedFile(
                    path=self.dest,
                    bytes=self.have,
                    sha256=self.digest.hexdigest(),
                    resumes=resumes,
                )
        finally:
            if self.client is None:
                http.close()

    def _attempt(self, http: httpx.Client, attempts: int) -> None:
        """One GET, following redirects hop by hop (each re-checked), until the file is whole."""
        url = self.url
        headers = dict(self.headers)
        for _ in range(self.policy.max_redirects + 1):
            target = check_url(url, self.policy, vendor=self.vendor)
            request_headers = dict(headers)
            if self.have:
                request_headers["Range"] = f"bytes={self.have}-"
            with http.stream(
                "GET", url, headers=request_headers, follow_redirects=False
            ) as response:
                check_peer(target, response, self.policy, vendor=self.vendor)
                if response.is_redirect and "Location" in response.headers:
                    following = target.join(response.headers["Location"])
                    if (following.host, following.port) != (target.host, target.port):
                        headers = {}  # the vendor's headers stay on the vendor's host
                    url = str(following)
                    continue
                self._receive(response, attempts)
                return
        raise self._error(
            f"download of {self.where} was redirected more than {self.policy.max_redirects} times"
        )

    def _receive(self, response: httpx.Response, attempts: int) -> None:
        status = response.status_code
        if status in (403, 410):
            raise ExpiredUrlError(self.vendor, f"file URL {self.where} refused with HTTP {status}")
        if status == 416 and self.have:
            # Our .part is already whole (or longer than the file): start over.
            self._restart()
            raise _Again
        if status == 429 or status >= 500:
            self._wait_or_fail(response, attempts)
            raise _Again
        if status not in (200, 206):
            raise self._error(f"file {self.where} answered HTTP {status}")
        total = _expected_total(response, self.have)
        if status == 206 and _range_start(response) != self.have:
            raise self._error(f"file {self.where} resumed at the wrong offset")
        if status == 200 and self.have:
            log.info("%s: server ignored Range for %s; restarting", self.vendor, self.where)
            self._restart()
        if total is not None and total > self.policy.max_bytes:
            self._too_large(total)
        # Unbuffered, and chunks as they arrive (no chunker holding up to 64 KiB back): when the
        # connection breaks, every byte received is on disk and counted, and the resume starts
        # right after it.
        pace = _Pace(self.policy.min_bytes_per_second, self.policy.stall_seconds)
        with self.part.open("ab" if self.have else "wb", buffering=0) as out:
            for chunk in response.iter_bytes():
                if self.have + len(chunk) > self.policy.max_bytes:
                    out.close()
                    self._too_large(self.have + len(chunk))
                out.write(chunk)
                self.digest.update(chunk)
                self.have += len(chunk)
                pace.received(len(chunk))
            os.fsync(out.fileno())
        if total is not None and self.have != total:
            raise httpx.RemoteProtocolError(f"got {self.have} of {total} bytes")

    def _restart(self) -> None:
        self.part.unlink(missing_ok=True)
        self.digest, self.have = hashlib.sha256(), 0

    def _wait_or_fail(self, response: httpx.Response, attempts: int) -> None:
        status = response.status_code
        asked = self.retry.retry_after(response)
        if asked is not None and asked > self.retry.max_retry_after_seconds:
            raise VendorUnavailable(
                self.vendor,
                f"file {self.where} answered HTTP {status} and "
                + wait_too_long_text(asked, self.retry.max_retry_after_seconds),
                status=status,
            )
        delay = self.retry.delay(attempts, response)
        if attempts >= self.retry.max_attempts or delay is None:
            raise VendorUnavailable(
                self.vendor,
                f"file {self.where} answered HTTP {status} after {attempts} attempt(s)",
                status=status,
            )
        time.sleep(delay)

    def _too_large(self, size: int) -> NoReturn:
        self.part.unlink(missing_ok=True)
        raise DownloadTooLarge(
            self.vendor,
            f"file {self.where} is larger than max_download_bytes = {self.policy.max_bytes} "
            f"(at least {size} bytes); nothing was kept",
        )

    def _redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def _error(self, message: str) -> TransportError:
        return TransportError(self.vendor, message, secrets=self.secrets)


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
