"""The lake on S3: the same layout under ``s3://<bucket>/<prefix>/``, through dagster-aws's
``S3Resource`` (its endpoint, region and credentials; ``endpoint_url`` for a local S3).

Nothing on S3 is written in place. A writer gets a path in local scratch space (the vendor file
downloads there, where ``Range`` resume and ``flock`` work; the engine writes Parquet there), and
the file is uploaded multipart only when the block ends without an error, so a failed run leaves
no partial object and the previous one untouched. A reader gets the object downloaded to scratch
(the normalizers read local files); readers that only need pyarrow open ``location.fs`` directly.
"""

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource

from export_pipelines.lake.location import LakeLocation
from export_pipelines.lake.locks import exclusive
from export_pipelines.lake.store import LakeError
from export_pipelines.lake.upload import upload_file

#: pyarrow needs a region for an S3-compatible endpoint (MinIO, moto) that has none.
_ENDPOINT_DEFAULT_REGION = "us-east-1"


def pyarrow_filesystem(s3: S3Resource) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem with the endpoint, region and credentials of ``s3``.

    Without keys in the resource pyarrow follows the usual AWS chain (environment, instance or pod
    role); a named profile is resolved by boto3, which pyarrow cannot read.
    """
    options: dict[str, Any] = {}
    if s3.endpoint_url:
        endpoint = urlsplit(s3.endpoint_url)
        options["endpoint_override"] = endpoint.netloc or endpoint.path
        options["scheme"] = endpoint.scheme or ("https" if s3.use_ssl else "http")
        options["region"] = s3.region_name or _ENDPOINT_DEFAULT_REGION
    else:
        options["scheme"] = "https" if s3.use_ssl else "http"
        if s3.region_name:
            options["region"] = s3.region_name
    if s3.use_unsigned_session:
        options["anonymous"] = True
    elif s3.aws_access_key_id and s3.aws_secret_access_key:
        options["access_key"] = s3.aws_access_key_id
        options["secret_key"] = s3.aws_secret_access_key
        options["session_token"] = s3.aws_session_token
    elif s3.profile_name:
        credentials = boto3.session.Session(profile_name=s3.profile_name).get_credentials()
        if credentials is None:
            raise LakeError(f"the AWS profile {s3.profile_name!r} holds no credentials")
        frozen = credentials.get_frozen_credentials()
        options["access_key"] = frozen.access_key
        options["secret_key"] = frozen.secret_key
        options["session_token"] = frozen.token
    options["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=s3.max_attempts)
    return pafs.S3FileSystem(**options)


def _problem(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


class S3Store:
    def __init__(
        self, s3: S3Resource, bucket: str, prefix: str, scratch: Path, lock_dir: Path
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.scratch = scratch
        self.lock_dir = lock_dir
        self._client = s3.get_client()
        self._fs = pyarrow_filesystem(s3)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _object_key(self, location: LakeLocation) -> str:
        bucket, _, key = location.path.partition("/")
        if bucket != self.bucket or not key:
            raise LakeError(
                f"{location.uri} is not in this lake (s3://{self.bucket}/{self.prefix})"
            )
        return key

    def location(self, key: str) -> LakeLocation:
        object_key = self._key(key)
        return LakeLocation(
            uri=f"s3://{self.bucket}/{object_key}",
            fs=self._fs,
            path=f"{self.bucket}/{object_key}",
        )

    @contextmanager
    def writing(self, location: LakeLocation) -> Iterator[Path]:
        """A scratch path named after the object, the same for every run on this machine, so a
        download broken in one run resumes in the next; it is removed once uploaded."""
        key = self._object_key(location)
        local = self.scratch / "upload" / self.bucket / key
        local.parent.mkdir(parents=True, exist_ok=True)
        with exclusive(self.lock_dir, location.uri):
            try:
                yield local
                if not local.is_file():
                    raise LakeError(f"nothing was written for {location.uri}")
                try:
                    upload_file(self._client, local, self.bucket, key)
                except (BotoCoreError, ClientError) as exc:
                    raise LakeError(
                        f"uploading {location.uri} failed ({_problem(exc)}); the upload was "
                        "aborted and the object left as it was"
                    ) from exc
            finally:
                local.unlink(missing_ok=True)

    @contextmanager
    def reading(self, location: LakeLocation) -> Iterator[Path]:
        key = self._object_key(location)
        # A folder per read, so concurrent readers never share a file and the name stays the
        # object's (errors name the vendor's file, and some readers look at its suffix).
        folder = self.scratch / "download" / uuid.uuid4().hex
        local = folder / key
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            try:
                self._client.download_file(self.bucket, key, str(local))
            except (BotoCoreError, ClientError) as exc:
                raise LakeError(f"reading {location.uri} failed ({_problem(exc)})") from exc
            yield local
        finally:
            shutil.rmtree(folder, ignore_errors=True)
