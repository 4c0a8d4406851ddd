"""Multipart uploads that become visible only when complete, and leave nothing when they fail.

S3 shows a multipart object only after ``CompleteMultipartUpload``, so readers see the old object
or the whole new one. An upload that breaks is aborted, so its parts are not kept (and billed)
forever. pyarrow's own S3 output stream is not used for this: it completes the upload when the
stream is closed or garbage-collected, even after an error, which would publish half a file.
"""

import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Bytes per part: S3 needs at least 5 MiB for every part but the last, and at most 10,000 parts.
PART_BYTES = 16 << 20
MAX_PARTS = 10_000


def part_size(total: int) -> int:
    return max(PART_BYTES, math.ceil(total / MAX_PARTS))


def file_parts(path: Path, size: int) -> Iterator[bytes]:
    """The file in parts of ``size`` bytes: one part in memory at a time."""
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


def upload_parts(client: Any, bucket: str, key: str, parts: Iterable[bytes]) -> int:
    """Upload ``parts`` (each but the last at least 5 MiB) as the object ``key``; return its size.

    Any failure, of S3 or of the source, aborts the upload before it is raised again.
    """
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        done: list[dict[str, Any]] = []
        total = 0
        for number, body in enumerate(parts, start=1):
            answer = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            done.append({"PartNumber": number, "ETag": answer["ETag"]})
            total += len(body)
        if not done:  # S3 refuses a multipart upload of no parts; an empty object has one
            answer = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b""
            )
            done.append({"PartNumber": 1, "ETag": answer["ETag"]})
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
        )
        return total
    except BaseException:
        try:
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as abort_error:  # the original error is the one to report
            log.warning("aborting the upload of s3://%s/%s failed: %s", bucket, key, abort_error)
        raise


def upload_file(client: Any, path: Path, bucket: str, key: str) -> int:
    """Upload a local file multipart; return the bytes uploaded."""
    size = path.stat().st_size
    return upload_parts(client, bucket, key, file_parts(path, part_size(size)))
