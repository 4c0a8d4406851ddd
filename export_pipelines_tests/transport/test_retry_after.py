"""A vendor asking to wait longer than ``max_retry_after_seconds`` is not waited for, and the error
says so: before, ``Retry-After: 3600`` failed "after 1 attempt(s)" with no word about the wait."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from export_pipelines.transport import DownloadPolicy, VendorUnavailable, download_to_file
from export_pipelines.vendors.enterpret.resource import EnterpretResource
from export_pipelines_tests.transport.conftest import Served

WHEN = re.compile(r"try again after (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def _retry_time(message: str) -> datetime:
    match = WHEN.search(message)
    assert match, message
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def test_a_long_retry_after_on_fetch_says_how_long_the_limit_and_when(served: Served) -> None:
    server = served.server
    resource = EnterpretResource(
        base_url=server.base_url("enterpret"), api_key=server.api_key("enterpret")
    )
    server.add_fault("enterpret", "fetch", status=429, retry_after=3600)
    client = resource.client()
    before = datetime.now(UTC)
    try:
        with pytest.raises(VendorUnavailable) as error:
            client.status(served.query_id)
    finally:
        client.close()
    message = str(error.value)
    assert "HTTP 429" in message
    assert "the vendor asked to wait 3600 s" in message
    assert "more than the limit max_retry_after_seconds = 120 s" in message
    expected = before + timedelta(seconds=3600)
    assert abs((_retry_time(message) - expected).total_seconds()) < 60
    assert server.faults.list() == []  # the one armed answer was used, and nothing retried after


def test_the_limit_is_a_resource_setting(served: Served) -> None:
    server = served.server
    resource = EnterpretResource(
        base_url=server.base_url("enterpret"),
        api_key=server.api_key("enterpret"),
        max_retry_after_seconds=10,
    )
    server.add_fault("enterpret", "fetch", status=503, retry_after=30)
    client = resource.client()
    try:
        with pytest.raises(VendorUnavailable, match="max_retry_after_seconds = 10 s"):
            client.status(served.query_id)
    finally:
        client.close()


def test_a_long_retry_after_on_a_file_says_so_too(served: Served, tmp_path: Path) -> None:
    served.server.add_fault("enterpret", "file", status=429, retry_after=3600)
    with pytest.raises(VendorUnavailable) as error:
        download_to_file(
            served.url,
            tmp_path / "f.json",
            vendor="enterpret",
            policy=DownloadPolicy.for_base_url(served.server.base_url("enterpret")),
            lock_dir=tmp_path / "locks",
        )
    assert "the vendor asked to wait 3600 s" in str(error.value)
    _retry_time(str(error.value))
    assert list(tmp_path.glob("f.json*")) == []
