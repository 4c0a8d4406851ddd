"""The processes the demo and ``make dev`` run beside Dagster: the sandbox, the webhook receiver,
the daemon.

Each child gets the environment that points the vendor resources at the sandbox; each is stopped
(SIGTERM, then SIGKILL) however the demo ends.

Nothing of a user's leaves the machine unasked: Dagster's webserver and daemon run a thread that
POSTs the files in ``$DAGSTER_HOME/logs/`` to Dagster's telemetry endpoint (and deletes them)
whatever ``telemetry.enabled`` says. So every child gets ``DAGSTER_DISABLE_TELEMETRY``, which stops
that thread, and the children's own logs (which hold the sandbox's keys) are written beside
``DAGSTER_HOME``, never into its ``logs/`` folder (:func:`log_dir`).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from export_pipelines import settings
from export_pipelines.sandbox import registry as sandbox_registry
from export_pipelines.vendors import VENDORS
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV

#: Key of the sandbox's root URL in the environment mapping :func:`sandbox` yields.
SANDBOX_URL = "EXPORT_PIPELINES_SANDBOX_URL"
#: Set for every process the project starts (and the demo's own): Dagster's log uploader stays off.
NO_TELEMETRY = {"DAGSTER_DISABLE_TELEMETRY": "1"}


def log_dir(home: Path) -> Path:
    """Where the demo and ``make dev`` write their processes' logs: ``<home>-logs`` beside the
    Dagster home, because ``$DAGSTER_HOME/logs`` is Dagster's telemetry upload queue."""
    return home.with_name(f"{home.name}-logs")


def parse_exports(text: str) -> dict[str, str]:
    """``export NAME=value`` lines (what ``sandbox serve`` prints) as a mapping."""
    found = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            found[name.strip()] = value.strip().strip("'\"")
    return found


@contextmanager
def running(
    args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            env={**env, **NO_TELEMETRY},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 15.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def sandbox(
    *, log_path: Path, work_dir: Path, extra_args: list[str] | None = None
) -> Iterator[dict[str, str]]:
    """Start ``export-pipelines sandbox serve`` on a port it picks; yield the env pointing at it.

    The sandbox binds its socket before it prints the ``export`` lines, so once every vendor's
    lines are in its log, connections to it queue rather than fail.
    """
    args = [
        sys.executable,
        "-m",
        "export_pipelines.cli",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--work-dir",
        str(work_dir),
        *(extra_args or []),
    ]
    # The vendors both sides know: a client whose simulator has not landed yet (or the reverse)
    # must not stop the sandbox's start from being noticed.
    served = {vendor.name for vendor in sandbox_registry.VENDORS}
    wanted = [
        name
        for vendor in VENDORS
        if vendor in served
        for name in (settings.vendor_base_url_env(vendor), settings.vendor_api_key_env(vendor))
    ]
    with running(args, env=dict(os.environ), log_path=log_path) as process:
        deadline = time.monotonic() + 60
        while True:
            env = parse_exports(log_path.read_text())
            if all(name in env for name in wanted):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                missing = ", ".join(name for name in wanted if name not in env)
                raise RuntimeError(f"the sandbox did not announce {missing}; see {log_path}")
            time.sleep(0.1)
        base_url = env[settings.vendor_base_url_env(next(iter(VENDORS)))]
        env[SANDBOX_URL] = base_url.rsplit("/", 1)[0]
        yield env


def dagster_executable(name: str) -> str:
    """A console script of this virtualenv (``dagster``, ``dagster-daemon``)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed in this environment")
    return found


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def webhook_receiver(
    *, env: dict[str, str], log_path: Path, port: int | None = None
) -> Iterator[dict[str, str]]:
    """Start ``export-pipelines webhooks serve`` on loopback; yield the env naming its public URL.

    Loopback is only reachable by the sandbox (which has a setting allowing a loopback receiver);
    the real HelloData needs the receiver behind a TLS reverse proxy (README). ``port`` restarts a
    receiver where the vendor already sends its deliveries (a free one is picked otherwise).
    """
    with receiver_process(env=env, log_path=log_path, port=port) as (_, public):
        yield public


@contextmanager
def receiver_process(
    *, env: dict[str, str], log_path: Path, port: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, str]]]:
    """:func:`webhook_receiver`, also yielding the receiver's process (tests kill it)."""
    if port is None:
        port = free_port()
    args = [sys.executable, "-m", "export_pipelines.cli", "webhooks", "serve"]
    with running([*args, "--port", str(port)], env=env, log_path=log_path) as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the webhook receiver did not start; see {log_path}"
                    ) from None
                time.sleep(0.1)
        yield process, {WEBHOOK_PUBLIC_URL_ENV: url}
