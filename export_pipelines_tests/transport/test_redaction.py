"""Every error path of the transport, driven with a recognizable secret that must appear nowhere.

Each test makes the failure happen for real (a sandbox fault, a tiny server, a closed port, an
unsendable header) and checks the exception text, its type and everything logged meanwhile.
"""

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from export_pipelines.transport import (
    AuthenticationError,
    DownloadPolicy,
    OutcomeUnknown,
    RequestNotSent,
    RequestRejected,
    RetryPolicy,
    TransportError,
    VendorError,
    VendorHttp,
    VendorUnavailable,
    download_to_file,
)
from export_pipelines_tests.transport.conftest import Served, TinyServer, answer

SECRET = "sk-live-TOPSECRET4242"
CORE = "TOPSECRET4242"
FAST = RetryPolicy(max_attempts=2, base_delay_seconds=0.01)
LABEL = "/export/external/v1/labels/some-label"


@pytest.fixture(autouse=True)
def _nothing_logged_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert CORE not in caplog.text and "signature=" not in caplog.text


def _http(base_url: str, key: str = SECRET, **kwargs: object) -> VendorHttp:
    return VendorHttp(
        vendor="enterpret",
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        secrets=(key,),
        retry=FAST,
        **kwargs,  # type: ignore[arg-type]
    )


def _clean(error: BaseException) -> str:
    text = str(error)
    assert CORE not in text and "signature=" not in text, text
    # No httpx error chained on, whose text (and traceback) would carry the secret.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return text


def test_a_key_with_a_newline_is_not_sent_and_not_shown(served: Served) -> None:
    """Before: httpx.LocalProtocolError "Illegal header value b'Bearer <key>\\n'" escaped."""
    http = _http(served.server.base_url("enterpret"), SECRET + "\n")
    with http, pytest.raises(RequestNotSent) as error:
        http.request("GET", LABEL)
    assert "a request header is not valid HTTP" in _clean(error.value)


def test_a_key_with_non_ascii_is_not_sent_and_not_shown(served: Served) -> None:
    with pytest.raises(RequestNotSent) as error:
        _http(served.server.base_url("enterpret"), SECRET + "é")
    assert "not ASCII" in _clean(error.value)


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        (f"ftp://{CORE}.example/enterpret", "does not start with http:// or https://"),
        ("http://[::1", "the URL is not a valid URL"),
    ],
)
def test_unusable_base_urls_are_not_sent(base_url: str, words: str) -> None:
    with pytest.raises(RequestNotSent) as error, _http(base_url) as http:
        http.request("GET", LABEL)
    assert words in _clean(error.value)


def test_a_refused_connection_is_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the request
    with _http(f"http://127.0.0.1:{port}") as http, pytest.raises(RequestNotSent) as error:
        http.request("GET", LABEL)
    assert "ConnectError" in _clean(error.value)


def test_a_timeout_midway_is_outcome_unknown(served: Served) -> None:
    served.server.add_fault("enterpret", "labels", delay_seconds=3, times=2)
    http = _http(served.server.base_url("enterpret"), timeout_seconds=0.2)
    with http, pytest.raises(OutcomeUnknown) as error:
        http.request("GET", LABEL)
    assert "ReadTimeout" in _clean(error.value)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, VendorUnavailable), (401, AuthenticationError), (400, RequestRejected)],
)
def test_error_bodies_echoing_the_key_and_signed_urls_are_masked(
    served: Served, status: int, kind: type[VendorError]
) -> None:
    echo = f'{{"error": "bad Bearer {SECRET}", "see": "https://f.example/x?signature=abc"}}'
    served.server.add_fault("enterpret", "labels", status=status, body=echo, times=2)
    with _http(served.server.base_url("enterpret")) as http, pytest.raises(kind) as error:
        http.request("GET", LABEL)
    assert "https://f.example/x?***" in _clean(error.value)


def test_a_success_that_is_not_json_is_rejected_masked(tiny: TinyServer) -> None:
    tiny.routes[LABEL] = answer(200, f"<html>Bearer {SECRET} {SECRET!r}</html>".encode())
    with _http(tiny.url) as http, pytest.raises(RequestRejected) as error:
        http.get_json(LABEL)
    assert "not JSON" in _clean(error.value)


def test_a_success_that_is_not_utf8_is_rejected_not_a_crash(tiny: TinyServer) -> None:
    """Before: UnicodeDecodeError escaped, untyped."""
    tiny.routes[LABEL] = answer(200, b"\xff\xfe{" + SECRET.encode())
    with _http(tiny.url) as http, pytest.raises(RequestRejected) as error:
        http.get_json(LABEL)
    _clean(error.value)


def _download(url: str, tmp_path: Path, base_url: str) -> None:
    download_to_file(
        url,
        tmp_path / "f.json",
        vendor="enterpret",
        policy=DownloadPolicy.for_base_url(base_url),
        lock_dir=tmp_path / "locks",
        headers={"Authorization": f"Bearer {SECRET}"},
        retry=FAST,
    )


@pytest.mark.parametrize("status", [404, 500, 429])
def test_download_errors_are_masked(tiny: TinyServer, tmp_path: Path, status: int) -> None:
    tiny.routes["/f.json"] = answer(status, f"Bearer {SECRET}".encode())
    with pytest.raises(VendorError) as error:
        _download(f"{tiny.url}/f.json?signature=abc", tmp_path, tiny.url)
    assert f"HTTP {status}" in _clean(error.value)


def test_a_download_that_keeps_breaking_is_masked(served: Served, tmp_path: Path) -> None:
    served.server.add_fault("enterpret", "file", cut_after_bytes=1000, times=2)
    with pytest.raises(TransportError) as error:
        _download(served.url, tmp_path, served.server.base_url("enterpret"))
    assert "kept breaking" in _clean(error.value)
