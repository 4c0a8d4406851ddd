"""A local S3 server per test module, a fresh bucket per test, and the pipeline's project
fixtures (a sandbox on a real socket, a real Dagster home) pointed at a lake on that bucket."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from export_pipelines import settings
from export_pipelines_tests.lake.s3_server import ACCESS_KEY, SECRET_KEY, LocalS3, local_s3
from export_pipelines_tests.pipeline.conftest import Project
from export_pipelines_tests.pipeline.conftest import project as project
from export_pipelines_tests.pipeline.conftest import sandbox as sandbox


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as server:
        yield server


@pytest.fixture
def bucket(s3: LocalS3) -> str:
    return s3.new_bucket()


@dataclass
class S3Project:
    """The pipeline's project with its lake at ``s3://<bucket>/<prefix>/``."""

    project: Project
    s3: LocalS3
    bucket: str
    prefix: str

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    def uri(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"


@pytest.fixture
def s3_project(
    project: Project,
    s3: LocalS3,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> S3Project:
    prefix = "exports/v1"
    lake_env = {
        settings.LAKE_URL_ENV: f"s3://{bucket}/{prefix}",
        settings.S3_ENDPOINT_URL_ENV: s3.endpoint_url,
        settings.S3_REGION_ENV: "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in lake_env.items():
        monkeypatch.setenv(name, value)
    project.env.update(lake_env)
    return S3Project(project=project, s3=s3, bucket=bucket, prefix=prefix)
