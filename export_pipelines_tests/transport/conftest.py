"""Tiny real HTTP servers on loopback, for answers the sandbox does not give (redirects, chunked
bodies, a 200 that is not JSON), and the sandbox itself with one finished Enterpret export."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from export_pipelines.sandbox.config import EnterpretSandboxConfig, SandboxConfig
from export_pipelines.sandbox.server import SandboxServer

BODY = {
    "listRecords": {"timerange": {"startTime": 1709251200, "endTime": 1709856000}},
    "pageSize": 1000,
}

Answer = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class TinyServer:
    """``routes`` maps a path (without query) to a function answering the request."""

    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


@pytest.fixture
def tiny() -> Iterator[TinyServer]:
    state = TinyServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.seen.append((self.path, dict(self.headers.items())))
            route = state.routes.get(self.path.split("?", 1)[0])
            (route or answer(404, b"no such route"))(self)

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Served:
    server: SandboxServer
    query_id: str
    url: str
    expected: bytes


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
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
        path = server.enterpret.file_path(job.query_id, 0)
        assert path is not None
        yield Served(server, job.query_id, answer["responseFiles"][0], path.read_bytes())
        server.clear_faults()


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "served" in request.fixturenames:
        request.getfixturevalue("served").server.clear_faults()
