"""Writing one export file: gzip CSV or JSONL, streaming, atomic, byte-for-byte deterministic.

H-6: a gzip object (``.csv.gz`` / ``.jsonl.gz``, gzip header without name or time, so one query
over one dataset is always the same bytes). CSV: UTF-8, a header row (an aggregated scope's header
is its bare column name, so ``number_units`` may appear twice), minimal RFC 4180 quoting, ``\\n``
line ends, null as an empty field, booleans ``true``/``false``, numbers as JavaScript writes them,
dates ``YYYY-MM-DD``. JSONL: one object per line keyed by ``Scope.key`` in scope order.

Rows go through gzip as they come, into a temporary name renamed once complete.
"""

import csv
import gzip
import io
import os
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

from export_pipelines.decisions.hellodata import CSV_LINE_TERMINATOR, JSONL_LINE_TERMINATOR
from export_pipelines.sandbox.hellodata.jsonjs import js_number, js_stringify
from export_pipelines.sandbox.hellodata.query import Scope


class WriteStopped(Exception):
    """The sandbox closed or the export failed while its file was being written."""


def csv_text(value: Any) -> str:
    """How a CSV file spells a value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def json_value(value: Any) -> Any:
    """A value as a JSONL row holds it (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, date) else value


def jsonl_line(scopes: tuple[Scope, ...], values: list[Any]) -> str:
    row = {scope.key: json_value(value) for scope, value in zip(scopes, values, strict=True)}
    return js_stringify(row)


def write_export_file(
    path: Path,
    file_format: str,
    scopes: tuple[Scope, ...],
    rows: Iterable[list[Any]],
    should_stop: Callable[[], bool],
) -> int:
    """Write ``rows`` (value lists in scope order) to ``path`` atomically; the rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    count = 0
    try:
        with (
            partial.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            io.TextIOWrapper(zipped, encoding="utf-8", newline="") as text,
        ):
            writer = csv.writer(text, lineterminator=CSV_LINE_TERMINATOR)
            if file_format == "csv":
                writer.writerow([scope.header for scope in scopes])
            for values in rows:
                if count % 1000 == 0 and should_stop():
                    raise WriteStopped
                if file_format == "csv":
                    writer.writerow([csv_text(value) for value in values])
                else:
                    text.write(jsonl_line(scopes, values) + JSONL_LINE_TERMINATOR)
                count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
