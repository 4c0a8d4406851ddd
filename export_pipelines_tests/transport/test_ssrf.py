"""Downloads go only to public addresses and the vendor's configured host; files have a cap.

The vendor hands out the file URLs, so they are input, not trust: before this guard a URL to
another local port was fetched (the sandbox's control endpoint was stored as a raw file, keys and
all), as was 169.254.169.254, and a body had no size limit.
"""

import ipaddress
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from export_pipelines.transport import (
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DownloadedFile,
    DownloadPolicy,
    DownloadRefused,
    DownloadTooLarge,
    RequestNotSent,
    RetryPolicy,
    TransportError,
    download_to_file,
)
from export_pipelines.transport.guard import check_peer, non_public
from export_pipelines_tests.transport.conftest import Served, TinyServer, answer

FAST = RetryPolicy(max_attempts=2, base_delay_seconds=0.01)


class NoConnection(httpx.BaseTransport):
    """Records any request that reaches the network layer; none may."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("a connection was attempted", request=request)


def fetch(
    url: str,
    dest: Path,
    base_url: str,
    *,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    retry: RetryPolicy = FAST,
    client: httpx.Client | None = None,
) -> DownloadedFile:
    """A download whose vendor is configured at ``base_url``."""
    return download_to_file(
        url,
        dest,
        vendor="enterpret",
        policy=DownloadPolicy.for_base_url(base_url, max_bytes=max_bytes),
        lock_dir=dest.parent / "locks",
        retry=retry,
        client=client,
    )


def test_the_configured_base_url_host_is_downloaded_from(served: Served, tmp_path: Path) -> None:
    fetch(served.url, tmp_path / "f.json", served.server.base_url("enterpret"))
    assert (tmp_path / "f.json").read_bytes() == served.expected


def test_another_loopback_port_is_refused(served: Served, tiny: TinyServer, tmp_path: Path) -> None:
    tiny.routes["/_sandbox/state"] = answer(200, b'{"api_key": "sk-control-plane"}')
    with pytest.raises(DownloadRefused) as error:
        fetch(
            f"{tiny.url}/_sandbox/state", tmp_path / "f.json", served.server.base_url("enterpret")
        )
    assert "127.0.0.1 (loopback)" in str(error.value)
    assert isinstance(error.value, RequestNotSent)
    assert tiny.seen == []  # refused before connecting
    assert list(tmp_path.glob("f.json*")) == []


def test_file_urls_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(DownloadRefused, match="scheme 'file'; only http and https"):
        fetch("file:///etc/passwd", tmp_path / "f.json", "https://api.enterpret.com")
    assert list(tmp_path.glob("f.json*")) == []


def test_link_local_metadata_is_refused_without_a_connection(tmp_path: Path) -> None:
    probe = NoConnection()
    with httpx.Client(transport=probe) as client, pytest.raises(DownloadRefused) as error:
        fetch(
            "http://169.254.169.254/latest/meta-data/iam?token=t",
            tmp_path / "f.json",
            "https://api.enterpret.com",
            client=client,
        )
    assert "169.254.169.254 (link-local)" in str(error.value)
    assert "token=t" not in str(error.value)
    assert probe.requests == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not globally routable"),
        ("93.184.216.34", None),
    ],
)
def test_what_counts_as_non_public(address: str, why: str | None) -> None:
    assert non_public(ipaddress.ip_address(address)) == why


def test_redirects_are_followed_hop_by_hop_on_the_trusted_host(
    served: Served, tiny: TinyServer, tmp_path: Path
) -> None:
    tiny.routes["/a"] = answer(302, headers={"Location": "/b"})
    tiny.routes["/b"] = answer(307, headers={"Location": f"{tiny.url}/c"})
    tiny.routes["/c"] = answer(200, b"the file")
    fetch(f"{tiny.url}/a", tmp_path / "f.json", tiny.url)
    assert (tmp_path / "f.json").read_bytes() == b"the file"
    assert [path for path, _ in tiny.seen] == ["/a", "/b", "/c"]


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:{other}/_sandbox/faults", "http://169.254.169.254/", "file:///etc/passwd"],
)
def test_a_redirect_away_from_the_trusted_host_is_refused(
    served: Served, tiny: TinyServer, tmp_path: Path, location: str
) -> None:
    """The sandbox is the other loopback port here: a redirect cannot reach it."""
    tiny.routes["/a"] = answer(302, headers={"Location": location.format(other=served.server.port)})
    with pytest.raises(DownloadRefused):
        fetch(f"{tiny.url}/a", tmp_path / "f.json", tiny.url)
    assert [path for path, _ in tiny.seen] == ["/a"]
    assert list(tmp_path.glob("f.json*")) == []


def test_redirects_are_bounded(tiny: TinyServer, tmp_path: Path) -> None:
    tiny.routes["/loop"] = answer(302, headers={"Location": "/loop"})
    with pytest.raises(TransportError, match="redirected more than 5 times"):
        fetch(f"{tiny.url}/loop", tmp_path / "f.json", tiny.url, retry=RetryPolicy(max_attempts=1))
    assert len(tiny.seen) == 6


def test_a_file_over_the_cap_fails_and_leaves_nothing(served: Served, tmp_path: Path) -> None:
    """The sandbox says Content-Length: refused before a byte is written."""
    with pytest.raises(DownloadTooLarge, match=f"max_download_bytes = {len(served.expected) - 1}"):
        fetch(
            served.url,
            tmp_path / "f.json",
            served.server.base_url("enterpret"),
            max_bytes=len(served.expected) - 1,
        )
    assert list(tmp_path.glob("f.json*")) == []


def test_a_body_without_length_is_cut_at_the_cap(tiny: TinyServer, tmp_path: Path) -> None:
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"x" * 4096
        try:
            for _ in range(1000):  # 4 MB, far past the cap
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    tiny.routes["/big"] = endless
    with pytest.raises(DownloadTooLarge, match="max_download_bytes = 100000"):
        fetch(f"{tiny.url}/big", tmp_path / "f.json", tiny.url, max_bytes=100_000)
    assert list(tmp_path.glob("f.json*")) == []


def test_a_connection_that_lands_on_a_non_public_address_is_refused(tiny: TinyServer) -> None:
    """The check after connecting, for a name that resolves differently at connect time than
    when the URL was checked (DNS rebinding): the peer address itself is checked."""
    tiny.routes["/f"] = answer(200, b"body")
    url = httpx.URL(f"{tiny.url}/f")
    with httpx.Client() as client, client.stream("GET", url) as response:
        with pytest.raises(DownloadRefused, match=r"connected to 127\.0\.0\.1 \(loopback\)"):
            check_peer(url, response, DownloadPolicy(), vendor="enterpret")
        check_peer(url, response, DownloadPolicy.for_base_url(tiny.url), vendor="enterpret")
