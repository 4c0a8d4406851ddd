"""deploy/helm/values.yaml for Dagster's chart: runs in their own pods, the code location as a user
deployment serving the image's module, every setting the code reads named, no secret values."""

from typing import Any

import pytest

from export_pipelines_tests.deploy.project_files import (
    HELM_VALUES,
    load_yaml,
    option,
    parse_dockerfile,
)


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(HELM_VALUES)
    return loaded


@pytest.fixture(scope="module")
def deployment(values: dict[str, Any]) -> dict[str, Any]:
    user = values["dagster-user-deployments"]
    assert user["enabled"] and user["enableSubchart"]
    [deployment] = user["deployments"]
    assert isinstance(deployment, dict)
    return deployment


def test_each_run_in_its_own_pod(values: dict[str, Any]) -> None:
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert set(launcher["config"]) == {"k8sRunLauncher"}
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"


def test_user_deployment_serves_the_image_module(
    deployment: dict[str, Any], served_module: str
) -> None:
    cmd = parse_dockerfile().cmd
    args = deployment["codeServerArgs"]
    assert option(args, "-m") == served_module
    assert option(args, "--location-name") == option(cmd, "--location-name")
    assert deployment["port"] == int(option(cmd, "--port"))
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    security = deployment["podSecurityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0


def test_every_setting_is_set_or_named(
    deployment: dict[str, Any], project_env_names: set[str]
) -> None:
    """Set in the deployment's env, or named as a key of the Secret or ConfigMap that holds it
    (the header says which); the named Secrets and ConfigMaps are the ones the pods read."""
    text = HELM_VALUES.read_text()
    set_here = {item["name"] for item in deployment["env"]}
    for name in sorted(project_env_names):
        assert name in set_here or name in text, f"{name} is not in {HELM_VALUES.name}"
    sources = [s["name"] for s in deployment["envSecrets"] + deployment["envConfigMaps"]]
    for source in sources:
        assert f"`{source}`" in text, f"{source} is read but its keys are not documented"


def test_no_secret_values(deployment: dict[str, Any], values: dict[str, Any]) -> None:
    for item in deployment["env"]:
        assert not item["name"].endswith(("_API_KEY", "_SECRET_ACCESS_KEY", "_LEDGER_URL"))
    postgresql = values["postgresql"]
    assert "postgresqlPassword" not in postgresql
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_webhook_receiver_is_its_own_service(
    values: dict[str, Any], deployment: dict[str, Any]
) -> None:
    manifests = values["dagster-user-deployments"]["extraManifests"]
    kinds = {m["kind"]: m for m in manifests}
    receiver = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert receiver["command"][:3] == ["export-pipelines", "webhooks", "serve"]
    port = int(option(receiver["command"], "--port"))
    assert receiver["ports"][0]["containerPort"] == port
    image = deployment["image"]
    assert receiver["image"] == f"{image['repository']}:{image['tag']}"
    assert kinds["Service"]["spec"]["ports"][0]["port"] == port
    read = {ref.get("secretRef", ref.get("configMapRef"))["name"] for ref in receiver["envFrom"]}
    assert {"export-pipelines-vendors", "export-pipelines-ledger"} <= read
