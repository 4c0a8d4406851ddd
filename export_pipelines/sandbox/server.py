"""Running the sandbox: in a background thread for tests, in the foreground for the CLI.

Both bind the listening socket before uvicorn starts, so port 0 resolves to a real port that can be
reported (``SandboxServer.url``, the CLI's ``export`` lines) before the first request arrives.
"""

import copy
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from export_pipelines.sandbox.app import build_app
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.enterpret.simulator import EnterpretSimulator
from export_pipelines.sandbox.faults import Fault, FaultRegistry
from export_pipelines.sandbox.state import Sandbox
from export_pipelines.sandbox.vendor import SandboxVendor, VendorMount

Sim = TypeVar("Sim")

_STARTUP_TIMEOUT_SECONDS = 15.0
#: In-flight requests (a delayed fault, a slow download) get this long when the server stops.
_GRACEFUL_SHUTDOWN_SECONDS = 2


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening now means connections made right after the address is announced queue up
    # instead of being refused while uvicorn starts.
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _root_url(host: str, port: int) -> str:
    """A URL a local client can connect to: wildcard addresses become loopback."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def vendor_base_url(root_url: str, mount: VendorMount[Any]) -> str:
    """``{root}/{name}{base_path}``: e.g. ``…/enterpret``, ``…/hienergy/api/v1``."""
    return f"{root_url}/{mount.name}{mount.base_path}"


def vendor_endpoints(sandbox: Sandbox, root_url: str) -> dict[str, tuple[str, str]]:
    """Vendor name → (base URL, API key), in registry order."""
    return {
        name: (vendor_base_url(root_url, mount), mount.api_key)
        for name, mount in sandbox.vendors.items()
    }


def _logging_config() -> dict[str, Any]:
    """Uvicorn's logging with access lines on stderr too: stdout carries only the exports."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


class SandboxServer:
    """The sandbox on a real socket in a background thread; a context manager.

    >>> with SandboxServer(SandboxConfig(port=0)) as server:
    ...     base, key = server.base_url("enterpret"), server.api_key("enterpret")
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(port=0)
        self.sandbox: Sandbox | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> "SandboxServer":
        if self._thread is not None:
            raise RuntimeError("sandbox server already started")
        sandbox = Sandbox(self.config)
        try:
            sock = _bind(self.config.host, self.config.port)
        except OSError:
            sandbox.close()
            raise
        self._port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(sandbox=sandbox),
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sandbox-uvicorn", daemon=True
        )
        self.sandbox, self._server, self._thread = sandbox, server, thread
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_GRACEFUL_SHUTDOWN_SECONDS + 10)
        if self.sandbox is not None:
            self.sandbox.close()
        self._server = self._thread = None

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> Sandbox:
        if self.sandbox is None or self._port is None:
            raise RuntimeError("sandbox server not started")
        return self.sandbox

    @property
    def port(self) -> int:
        self._running()
        assert self._port is not None
        return self._port

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:54321``."""
        return _root_url(self.config.host, self.port)

    def base_url(self, vendor: str) -> str:
        """The vendor's base URL, e.g. ``http://127.0.0.1:54321/enterpret``."""
        return vendor_base_url(self.url, self._running().vendor(vendor))

    def api_key(self, vendor: str) -> str:
        return self._running().vendor(vendor).api_key

    def simulator(self, vendor: SandboxVendor[Any, Sim]) -> Sim:
        """A vendor's running state, typed: ``server.simulator(hienergy.SANDBOX_VENDOR)``."""
        return self._running().simulator(vendor)

    @property
    def enterpret(self) -> EnterpretSimulator:
        return self._running().enterpret

    @property
    def faults(self) -> FaultRegistry:
        return self._running().faults

    def add_fault(self, vendor: str, route: str, **fault: Any) -> Fault:
        """Arm a fault without HTTP, e.g. ``add_fault("enterpret", "file", cut_after_bytes=100)``."""
        return self._running().add_fault(vendor, route, **fault)

    def clear_faults(self) -> None:
        self._running().clear_faults()


class _ForegroundServer(uvicorn.Server):
    """Uvicorn that ends with a normal return after SIGINT/SIGTERM.

    Uvicorn re-raises the signal once its graceful shutdown is done, which kills the process before
    ``serve``'s cleanup runs and turns a requested stop into a crash (exit -15, or "Aborted!").
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def serve(
    config: SandboxConfig | None = None,
    announce: Callable[[dict[str, tuple[str, str]]], None] | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; ``announce`` gets the vendors' endpoints
    (name → (base URL, API key)) once the socket is listening, before serving starts."""
    config = config or SandboxConfig()
    sandbox = Sandbox(config)
    try:
        sock = _bind(config.host, config.port)
        if announce is not None:
            announce(vendor_endpoints(sandbox, _root_url(config.host, sock.getsockname()[1])))
        server = _ForegroundServer(
            uvicorn.Config(
                build_app(sandbox=sandbox),
                log_config=_logging_config(),
                lifespan="on",
                timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
            )
        )
        server.run(sockets=[sock])
    finally:
        sandbox.close()
