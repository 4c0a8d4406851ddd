"""The image: a slim Python 3.11 base, a non-root user, and a code server that loads the project's
definitions from the files the Dockerfile copies (and nothing the build context leaves out)."""

from pathlib import Path
from typing import Any

import yaml

from export_pipelines_tests.deploy.project_files import (
    CONTAINER_WORKSPACE,
    ROOT,
    WORKSPACE,
    dockerignore_patterns,
    dockerignored,
    load_yaml,
    option,
    parse_dockerfile,
)


def test_base_image_and_user() -> None:
    dockerfile = parse_dockerfile()
    assert dockerfile.base_image == "python:3.11-slim"
    user = dockerfile.user.split(":")[0]
    assert user and user not in ("root", "0"), f"the image runs as {dockerfile.user!r}"
    assert any("useradd" in run and user in run for run in dockerfile.runs)


def test_code_server_serves_the_workspace_module_on_the_exposed_port() -> None:
    dockerfile = parse_dockerfile()
    assert dockerfile.cmd[:3] == ["dagster", "code-server", "start"]
    [entry] = load_yaml(WORKSPACE)["load_from"]
    local = entry["python_module"]
    assert option(dockerfile.cmd, "-m", "--module-name") == local["module_name"]
    assert option(dockerfile.cmd, "--location-name") == local["location_name"]
    assert option(dockerfile.cmd, "--host", "-h") == "0.0.0.0"
    port = int(option(dockerfile.cmd, "--port", "-p"))
    assert port == 4000
    assert dockerfile.exposed == [port]
    [remote] = load_yaml(CONTAINER_WORKSPACE)["load_from"]
    assert remote["grpc_server"]["port"] == port
    assert remote["grpc_server"]["location_name"] == local["location_name"]


def test_installs_the_project_editable_with_the_deploy_extra() -> None:
    """Editable, because ``dg.load_from_defs_folder`` finds the defs through the pyproject.toml
    beside the package; the ``deploy`` extra brings the run launchers' packages."""
    dockerfile = parse_dockerfile()
    [install] = [run for run in dockerfile.runs if "pip install" in run]
    assert "--editable" in install or " -e " in install
    assert ".[deploy]" in install
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "dagster-docker==" in pyproject and "dagster-k8s==" in pyproject


def test_instance_file_is_the_containers_instance() -> None:
    dockerfile = parse_dockerfile()
    home = dockerfile.env["DAGSTER_HOME"]
    assert (["deploy/dagster.yaml"], f"{home}/dagster.yaml") in dockerfile.copies
    assert dockerfile.env["EXPORT_PIPELINES_DATA_DIR"] == "/data"
    assert dockerfile.env.get("DAGSTER_DISABLE_TELEMETRY") == "1"


def test_build_context_keeps_what_the_image_copies() -> None:
    patterns = dockerignore_patterns()
    for sources, _ in parse_dockerfile().copies:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not dockerignored(source, patterns), f".dockerignore drops {source}"
    assert dockerignored(".venv", patterns) and dockerignored("data", patterns)
    assert dockerignored("export_pipelines/__pycache__/x.pyc", patterns)


def test_the_copied_files_load_the_definitions(
    image_app_dir: Path, image_definitions: dict[str, Any]
) -> None:
    """What the image holds is enough: the served module, imported from the copy alone, loads
    every vendor's exports (the catalog YAML and the pyproject that locates it came along)."""
    assert Path(image_definitions["module_file"]).is_relative_to(image_app_dir)
    keys = set(image_definitions["asset_keys"])
    for defs_yaml in sorted((ROOT / "export_pipelines" / "defs").glob("*/defs.yaml")):
        for document in yaml.safe_load_all(defs_yaml.read_text()):
            if document["type"].endswith("AsyncExport"):
                attributes = document["attributes"]
                name = f"{attributes['vendor']}/{attributes['export']}"
                assert {name, f"{name}/request", f"{name}/raw"} <= keys, name
