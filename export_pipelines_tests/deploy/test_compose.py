"""docker-compose.yaml and the containers' instance (deploy/dagster.yaml) agree with the project:
every setting the code reads reaches every process (and every run container), the defaults point
at the sandbox as it really serves, and ports, networks and volumes line up."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pytest

from export_pipelines.sandbox import registry as sandbox_registry
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.server import SandboxServer
from export_pipelines.vendors.hellodata.resource import WEBHOOK_PUBLIC_URL_ENV
from export_pipelines_tests.deploy.project_files import (
    COMPOSE,
    CONTAINER_WORKSPACE,
    INSTANCE,
    ROOT,
    load_yaml,
    option,
)
from export_pipelines_tests.services import postgres_database

#: The processes that read the project's settings (the others are PostgreSQL, S3, the sandbox).
PROJECT_SERVICES = ("code-location", "webserver", "daemon", "webhooks")
#: Settings every deployed process needs a value for (the rest have defaults and are documented).
REQUIRED = (
    "DAGSTER_PG_URL",
    "EXPORT_PIPELINES_LEDGER_URL",
    "EXPORT_PIPELINES_DATA_DIR",
    WEBHOOK_PUBLIC_URL_ENV,
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE)
    return loaded


@pytest.fixture(scope="module")
def instance_config() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(INSTANCE)
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {name: str(value) for name, value in env.items()}


def default_of(value: str) -> str:
    """``${NAME:-default}`` → ``default`` (compose's substitution, as the trial uses it)."""
    if value.startswith("${") and ":-" in value:
        return value[value.index(":-") + 2 : -1]
    return value


def test_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in (*PROJECT_SERVICES, "postgres", "s3", "sandbox"):
        assert name in services, name
    assert services["webserver"]["ports"] == ["3000:3000"]
    assert services["code-location"]["build"]["dockerfile"] == "Dockerfile"
    images = {services[name]["image"] for name in (*PROJECT_SERVICES, "sandbox", "s3-bucket")}
    assert len(images) == 1, f"one image for every project process, got {images}"


def test_every_setting_reaches_every_project_process(
    compose: dict[str, Any], project_env_names: set[str]
) -> None:
    text = COMPOSE.read_text()
    for service in PROJECT_SERVICES:
        env = environment(compose["services"][service])
        for name in (*REQUIRED, *sorted(project_env_names)):
            if name in REQUIRED or name.endswith(("_BASE_URL", "_API_KEY")):
                assert name in env, f"{service} does not set {name}"
            else:
                # An optional setting with a default: named where a team will look for it.
                assert name in text, f"{name} is neither set nor documented in {COMPOSE.name}"


def test_run_containers_get_the_same_settings(
    compose: dict[str, Any], instance_config: dict[str, Any], project_env_names: set[str]
) -> None:
    launcher = instance_config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    passed = set(launcher["config"]["env_vars"])
    needed_by_runs = {
        name
        for name in project_env_names | set(REQUIRED)
        if not name.startswith("EXPORT_PIPELINES_WEBHOOK_") or name == WEBHOOK_PUBLIC_URL_ENV
    }
    assert needed_by_runs <= passed, f"runs would miss {sorted(needed_by_runs - passed)}"
    # DockerRunLauncher fails a launch when a listed variable is unset in the daemon.
    daemon = environment(compose["services"]["daemon"])
    assert passed <= set(daemon), f"the daemon does not set {sorted(passed - set(daemon))}"


def test_network_volume_and_image_of_run_containers(
    compose: dict[str, Any], instance_config: dict[str, Any]
) -> None:
    config = instance_config["run_launcher"]["config"]
    assert config["network"] == compose["networks"]["default"]["name"]
    [mount] = config["container_kwargs"]["volumes"]
    volume, _, path = mount.partition(":")
    assert volume == compose["volumes"]["data"]["name"]
    data_dir = default_of(environment(compose["services"]["daemon"])["EXPORT_PIPELINES_DATA_DIR"])
    assert path == data_dir
    code = compose["services"]["code-location"]
    assert f"data:{data_dir}" in code["volumes"]
    assert environment(code)["DAGSTER_CURRENT_IMAGE"] == code["image"]


def test_webserver_and_daemon_load_the_code_server(compose: dict[str, Any]) -> None:
    [entry] = load_yaml(CONTAINER_WORKSPACE)["load_from"]
    server = entry["grpc_server"]
    assert server["host"] in compose["services"]
    assert str(server["port"]) in compose["services"][server["host"]]["expose"]
    for name in ("webserver", "daemon"):
        command = compose["services"][name]["command"]
        assert option(command, "-w") == "/opt/dagster/app/deploy/workspace.yaml"
        assert "/var/run/docker.sock:/var/run/docker.sock" in compose["services"][name]["volumes"]


def test_postgres_urls_name_the_compose_databases(compose: dict[str, Any]) -> None:
    env = environment(compose["services"]["daemon"])
    postgres = environment(compose["services"]["postgres"])
    instance = urlsplit(default_of_url(env["DAGSTER_PG_URL"]))
    ledger = urlsplit(default_of_url(env["EXPORT_PIPELINES_LEDGER_URL"]))
    assert instance.scheme == ledger.scheme == "postgresql+psycopg2"
    assert instance.hostname == ledger.hostname == "postgres"
    assert instance.path == f"/{postgres['POSTGRES_DB']}"
    init = (ROOT / "deploy/postgres/init-ledger.sql").read_text()
    assert f"CREATE DATABASE {ledger.path.lstrip('/')};" in init
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(
        m.startswith("./deploy/postgres/init-ledger.sql:/docker-entrypoint-initdb.d/")
        for m in mounts
    )


def default_of_url(value: str) -> str:
    """A URL with ``${POSTGRES_PASSWORD:-dagster}`` inside, with the default substituted."""
    while "${" in value:
        start = value.index("${")
        end = value.index("}", start)
        value = value[:start] + default_of(value[start : end + 1]) + value[end + 1 :]
    return value


def test_vendor_defaults_are_the_sandbox_as_it_serves(compose: dict[str, Any]) -> None:
    """Started for real: each vendor's base URL and key defaults are what the sandbox announces,
    with the compose service's host and port in place of the local address."""
    sandbox = compose["services"]["sandbox"]
    port = option(sandbox["command"], "--port")
    assert f"{port}:{port}" in sandbox["ports"]
    env = environment(compose["services"]["code-location"])
    with SandboxServer(SandboxConfig(port=0)) as server:
        for vendor in sandbox_registry.VENDORS:
            served = server.base_url(vendor.name).replace(server.url, f"http://sandbox:{port}")
            assert default_of(env[f"{vendor.name.upper()}_BASE_URL"]) == served
            key = default_of(env[f"{vendor.name.upper()}_API_KEY"])
            assert key == server.api_key(vendor.name)


def test_receiver_is_where_the_webhook_url_points(compose: dict[str, Any]) -> None:
    services = compose["services"]
    command = services["webhooks"]["command"]
    port = option(command, "--port")
    assert option(command, "--host") == "0.0.0.0"
    url = urlsplit(default_of(environment(services["code-location"])[WEBHOOK_PUBLIC_URL_ENV]))
    # The sandbox (the trial's HelloData) accepts loopback webhooks only: it shares the
    # receiver's network namespace and is told to accept them.
    assert services["webhooks"]["network_mode"] == "service:sandbox"
    assert (url.hostname, str(url.port)) == ("127.0.0.1", port)
    assert option(services["sandbox"]["command"], "--hellodata-allow-loopback-webhooks") == "true"
    assert f"{port}:{port}" in services["sandbox"]["ports"]


@pytest.mark.postgres
def test_instance_file_builds_a_queued_docker_instance_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The containers' instance, built by Dagster itself from the file on a real PostgreSQL."""
    shutil.copy(INSTANCE, tmp_path / "dagster.yaml")
    with postgres_database() as url:
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        instance = dg.DagsterInstance.from_config(str(tmp_path))
        try:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            launcher = instance.run_launcher
            assert type(launcher).__name__ == "DockerRunLauncher"
            assert launcher.networks == ["export-pipelines"]  # type: ignore[attr-defined]
            assert "export-pipelines-data:/data" in launcher.container_kwargs["volumes"]  # type: ignore[attr-defined]
            settings = instance.get_concurrency_config()
            assert settings.pool_config.default_pool_limit == 2
            assert settings.run_queue_config is not None
            assert settings.run_queue_config.max_concurrent_runs == 4
        finally:
            instance.dispose()


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COMPOSE_PROJECT_NAME": "export-pipelines"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
