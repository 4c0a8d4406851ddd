"""A local S3 for the tests: moto in server mode on a free port, spoken to over real HTTP by
boto3 (through dagster-aws's ``S3Resource``) and pyarrow, exactly as AWS would be."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow.fs as pafs
from moto.server import ThreadedMotoServer

#: moto accepts any keys; these only have to be the same on every client.
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def filesystem(self) -> pafs.S3FileSystem:
        """pyarrow's own S3 client, independent of the code under test, for reading back."""
        scheme, _, host = self.endpoint_url.partition("://")
        return pafs.S3FileSystem(
            endpoint_override=host,
            scheme=scheme,
            region=REGION,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object under ``prefix``: key → size."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def uploads_in_progress(self, bucket: str) -> list[str]:
        """Keys of multipart uploads begun and neither completed nor aborted."""
        answer = self.client().list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in answer.get("Uploads", [])]

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


@contextmanager
def local_s3() -> Iterator[LocalS3]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield LocalS3(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
