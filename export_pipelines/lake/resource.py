"""``LakeResource``: where raw files and Parquet tables live, locally or on S3, in one place.

Every asset, check and reader asks it for a ``LakeLocation`` (``raw_file``, ``table``, or any
``location(key)`` of the layout, e.g. analytics outputs) and writes or reads through it:

    with lake.writing(lake.table(vendor, export, partition)) as local_path:
        ...  # write the new file at local_path; it is published when the block succeeds
    with lake.reading(location) as local_path:
        ...  # a local copy for readers that need a file on disk

so the same code works on the local lake (the default) and on ``s3://<bucket>/<prefix>/``.
"""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from export_pipelines import settings
from export_pipelines.lake import layout
from export_pipelines.lake.local import LocalStore
from export_pipelines.lake.location import LakeLocation
from export_pipelines.lake.s3 import S3Store
from export_pipelines.lake.store import LakeError, LakeStore


class LakeResource(dg.ConfigurableResource):
    """The lake. Without ``s3_bucket`` it lives under ``root`` (empty: ``$EXPORT_PIPELINES_DATA_DIR``
    or ``./data``); with it, on S3 through ``s3``, and ``root`` is only local scratch space (raw
    downloads before their upload, Parquet before its upload, download locks)."""

    root: str = ""
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3: S3Resource | None = None

    _store: LakeStore | None = PrivateAttr(default=None)

    def root_path(self) -> Path:
        return Path(self.root).resolve() if self.root else settings.data_dir()

    def lock_dir(self) -> Path:
        """Where downloads and writers take their per-file locks: always on this machine's disk."""
        return self.root_path() / "locks"

    def _backend(self) -> LakeStore:
        if self._store is None:
            if self.s3_bucket:
                if self.s3 is None:
                    raise LakeError("the lake names an S3 bucket but no S3 resource to reach it")
                problem = settings.s3_bucket_problem(self.s3_bucket)
                if problem:
                    raise LakeError(f"the lake's S3 bucket {problem}")
                self._store = S3Store(
                    self.s3,
                    self.s3_bucket,
                    self.s3_prefix,
                    scratch=self.root_path() / "scratch",
                    lock_dir=self.lock_dir(),
                )
            else:
                self._store = LocalStore(self.root_path(), lock_dir=self.lock_dir())
        return self._store

    @property
    def on_s3(self) -> bool:
        return bool(self.s3_bucket)

    def location(self, key: str) -> LakeLocation:
        """Any location under the lake's root, by its ``/``-separated key."""
        return self._backend().location(key)

    def raw_folder(self, vendor: str, export: str, partition: str, job_id: int) -> LakeLocation:
        return self.location(layout.raw_folder_key(vendor, export, partition, job_id))

    def raw_file(
        self, vendor: str, export: str, partition: str, job_id: int, name: str
    ) -> LakeLocation:
        return self.raw_folder(vendor, export, partition, job_id).child(layout.safe(name))

    def table(self, vendor: str, export: str, partition: str) -> LakeLocation:
        return self.location(layout.table_key(vendor, export, partition))

    def analytics(self, vendor: str, name: str, partition: str) -> LakeLocation:
        """An analytics asset's result for a partition, computed from the export tables."""
        return self.location(layout.analytics_key(vendor, name, partition))

    def form(self, vendor: str, export: str, partition: str, form: str) -> LakeLocation:
        """A further form of a partition's table (Connhex's wide), beside ``data.parquet``."""
        return self.location(layout.form_key(vendor, export, partition, form))

    def writing(self, location: LakeLocation) -> AbstractContextManager[Path]:
        """A local path to write ``location`` to; published when the block ends without an
        exception, otherwise the location keeps what it held (no partial file or object)."""
        return self._backend().writing(location)

    def reading(self, location: LakeLocation) -> AbstractContextManager[Path]:
        """A local path holding ``location``'s bytes while the block runs (the file itself on
        the local lake, a scratch download from S3)."""
        return self._backend().reading(location)


def lake_from_settings() -> LakeResource:
    """The lake the environment asks for: S3 when ``$EXPORT_PIPELINES_LAKE_URL`` is an ``s3://``
    URL, else the local data root. Credentials go through ``dg.EnvVar`` (read when a run starts,
    never stored in the definitions); without them boto3's and pyarrow's usual AWS chain applies."""
    url = settings.lake_url()
    if url is None:
        return LakeResource()
    bucket, prefix = url
    credentials: dict[str, Any] = {
        field: dg.EnvVar(env) for field, env in settings.s3_credential_envs().items()
    }
    s3 = S3Resource(
        endpoint_url=settings.s3_endpoint_url(), region_name=settings.s3_region(), **credentials
    )
    return LakeResource(s3_bucket=bucket, s3_prefix=prefix, s3=s3)
