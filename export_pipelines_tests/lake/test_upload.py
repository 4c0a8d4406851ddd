"""Multipart uploads against a local S3 over HTTP: whole or not at all."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from export_pipelines.lake.upload import PART_BYTES, upload_file, upload_parts
from export_pipelines_tests.lake.s3_server import LocalS3

MIN_PART = 5 << 20  # S3's smallest part but the last


def test_a_file_larger_than_a_part_arrives_whole_in_several_parts(
    s3: LocalS3, bucket: str, tmp_path: Path
) -> None:
    content = os.urandom(PART_BYTES + 12_345)
    source = tmp_path / "big.bin"
    source.write_bytes(content)

    assert upload_file(s3.client(), source, bucket, "raw/big.bin") == len(content)

    head = s3.client().head_object(Bucket=bucket, Key="raw/big.bin")
    assert head["ETag"].strip('"').endswith("-2")  # two parts, completed as one object
    assert s3.filesystem().open_input_file(f"{bucket}/raw/big.bin").read() == content
    assert s3.uploads_in_progress(bucket) == []


def test_an_empty_file_is_an_empty_object(s3: LocalS3, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "empty.csv"
    source.write_bytes(b"")
    assert upload_file(s3.client(), source, bucket, "raw/empty.csv") == 0
    assert s3.read(bucket, "raw/empty.csv") == b""


def _breaking_source() -> Iterator[bytes]:
    yield b"a" * MIN_PART
    yield b"b" * MIN_PART
    raise OSError("the disk went away")


def test_a_source_that_breaks_midway_leaves_no_object_and_no_upload(
    s3: LocalS3, bucket: str
) -> None:
    with pytest.raises(OSError, match="the disk went away"):
        upload_parts(s3.client(), bucket, "lake/t/data.parquet", _breaking_source())
    assert s3.keys(bucket) == {}
    assert s3.uploads_in_progress(bucket) == []


def test_a_broken_replacement_leaves_the_previous_object(s3: LocalS3, bucket: str) -> None:
    s3.client().put_object(Bucket=bucket, Key="lake/t/data.parquet", Body=b"the good table")
    with pytest.raises(OSError):
        upload_parts(s3.client(), bucket, "lake/t/data.parquet", _breaking_source())
    assert s3.read(bucket, "lake/t/data.parquet") == b"the good table"
    assert s3.uploads_in_progress(bucket) == []
