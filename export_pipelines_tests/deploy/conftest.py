"""One load of the code location per session, from a copy of exactly what the image holds."""

from pathlib import Path
from typing import Any

import pytest

from export_pipelines_tests.deploy.project_files import (
    image_layout,
    load_definitions_from,
    option,
    parse_dockerfile,
)


@pytest.fixture(scope="session")
def image_app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_layout(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="session")
def served_module() -> str:
    """The module the image's code server serves (its CMD's ``-m``)."""
    return option(parse_dockerfile().cmd, "-m", "--module-name")


@pytest.fixture(scope="session")
def image_definitions(image_app_dir: Path, served_module: str) -> dict[str, Any]:
    return load_definitions_from(image_app_dir, served_module)


@pytest.fixture(scope="session")
def project_env_names(image_definitions: dict[str, Any]) -> set[str]:
    """Every environment variable the deployed code reads: the package's ``*_ENV`` settings and
    the variables each vendor connection binds its resource to."""
    from export_pipelines_tests.deploy.project_files import setting_constants

    names = set(setting_constants().values())
    for variables in image_definitions["vendor_env"].values():
        names.update(variables)
    return names
