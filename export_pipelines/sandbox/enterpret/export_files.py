"""Writing an export's response files: ``{"records": [...]}`` documents of at most pageSize records.

Written record by record (never the whole export in memory: ten million records must work), each
file under a temporary name and renamed when complete, so a file that can be downloaded is whole.
Records are written compactly as UTF-8 with non-ASCII kept as is (``ensure_ascii=False``), in time
order: file 0 holds the earliest records (N-6 leaves the order open; time order is the natural one).
"""

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

_BUFFER_BYTES = 256 << 10
_STOP_CHECK_EVERY = 1000


class ExportStopped(Exception):
    """Writing was stopped (the job was failed, or the sandbox is shutting down)."""


def file_name(index: int) -> str:
    return f"{index}.json"


def write_export(
    records: Iterable[dict[str, Any]],
    page_size: int,
    directory: Path,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, list[Path]]:
    """Write ``records`` into ``directory``; return the record count and the files in order."""
    directory.mkdir(parents=True, exist_ok=True)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    paths: list[Path] = []
    count = 0
    handle: IO[str] | None = None
    temporary: Path | None = None
    try:
        for record in records:
            if count % _STOP_CHECK_EVERY == 0 and should_stop():
                raise ExportStopped()
            if count % page_size == 0:
                if handle is not None and temporary is not None:
                    paths.append(_finish(handle, temporary))
                temporary = directory / f"{file_name(len(paths))}.partial"
                handle = temporary.open("w", encoding="utf-8", newline="", buffering=_BUFFER_BYTES)
                handle.write('{"records":[')
            else:
                assert handle is not None
                handle.write(",")
            handle.write(encode(record))
            count += 1
        if handle is not None and temporary is not None:
            paths.append(_finish(handle, temporary))
            handle = None
    finally:
        if handle is not None:
            handle.close()
            if temporary is not None:
                temporary.unlink(missing_ok=True)
    return count, paths


def _finish(handle: IO[str], temporary: Path) -> Path:
    handle.write("]}")
    handle.close()
    final = temporary.with_suffix("")
    os.replace(temporary, final)
    return final
