"""Writing an export's file in csv, json, json-api or xml, streaming, and a ZIP of parts past a limit.

Records arrive one at a time as ``(id, {path: value})`` (never the whole export in memory) and go
into part files of at most ``records_per_file`` records under temporary names. At the end a single
part is renamed to ``{stem}.{ext}``; several become ``{stem}.zip`` holding ``{stem}-part1.{ext}``,
``{stem}-part2.{ext}``… (each part a complete document: CSV parts repeat the header, JSON parts are
whole arrays, XML parts have their own root), written to a temporary name and renamed, so a file
that can be downloaded is whole. Shapes (UTF-8 throughout):

* csv: a header row of the leaf paths with ``/`` for nesting (``gateway/name``), one row per
  record, RFC 4180 quoting and ``\\r\\n`` line ends; null is an empty cell, booleans
  ``true``/``false``.
* json: an array of records, nested objects for nested fields, null as null.
* json-api: ``{"data": [{"type": resource, "id": record id, "attributes": {every selected field
  but id, nested}}]}``; the id is the record's even when ``fields`` leaves it out.
* xml: ``<?xml version="1.0" encoding="UTF-8"?>``, one root element named after the resource
  (``<transactions>``), one ``<record>`` per record, one child element per field in field order,
  nested fields as nested elements (``<gateway><name>stripe</name></gateway>``), text values
  escaped, booleans ``true``/``false``, null as an empty element with ``nil="true"``.
"""

import csv
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from export_pipelines.decisions.rebilly import (
    CONTENT_TYPES,
    FILE_EXTENSIONS,
    PART_NAME_TEMPLATE,
    XML_RECORD_ELEMENT,
    ZIP_CONTENT_TYPE,
)
from export_pipelines.sandbox.rebilly.dataset import nest

_BUFFER_BYTES = 256 << 10
_STOP_CHECK_EVERY = 1000
Row = tuple[str, dict[str, Any]]


class ExportStopped(Exception):
    """Writing was stopped (the export was deleted or failed, or the sandbox is closing)."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class _Writer:
    def __init__(self, handle: IO[str], resource: str, columns: list[str]) -> None:
        self.handle = handle
        self.resource = resource
        self.columns = columns
        self.first = True

    def begin(self) -> None: ...

    def write(self, record_id: str, flat: dict[str, Any]) -> None: ...

    def end(self) -> None: ...


class _Csv(_Writer):
    def begin(self) -> None:
        self.writer = csv.writer(self.handle, lineterminator="\r\n")
        self.writer.writerow(self.columns)

    def write(self, record_id: str, flat: dict[str, Any]) -> None:
        self.writer.writerow([_text(value) for value in flat.values()])


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Json(_Writer):
    def begin(self) -> None:
        self.handle.write("[")

    def write(self, record_id: str, flat: dict[str, Any]) -> None:
        if not self.first:
            self.handle.write(",")
        self.first = False
        self.handle.write(_encode(nest(flat)))

    def end(self) -> None:
        self.handle.write("]")


class _JsonApi(_Writer):
    def begin(self) -> None:
        self.handle.write('{"data":[')

    def write(self, record_id: str, flat: dict[str, Any]) -> None:
        if not self.first:
            self.handle.write(",")
        self.first = False
        attributes = nest({path: value for path, value in flat.items() if path != "id"})
        self.handle.write(
            _encode({"type": self.resource, "id": record_id, "attributes": attributes})
        )

    def end(self) -> None:
        self.handle.write("]}")


def _xml_element(name: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_xml_element(key, item) for key, item in value.items())
        return f"<{name}>{inner}</{name}>"
    if value is None:
        return f'<{name} nil="true"/>'
    return f"<{name}>{escape(_text(value))}</{name}>"


class _Xml(_Writer):
    def begin(self) -> None:
        self.handle.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<{self.resource}>')

    def write(self, record_id: str, flat: dict[str, Any]) -> None:
        self.handle.write(_xml_element(XML_RECORD_ELEMENT, nest(flat)))

    def end(self) -> None:
        self.handle.write(f"</{self.resource}>\n")


_WRITERS: dict[str, type[_Writer]] = {"csv": _Csv, "json": _Json, "json-api": _JsonApi, "xml": _Xml}


def part_name(stem: str, number: int, export_format: str) -> str:
    return PART_NAME_TEMPLATE.format(
        stem=stem, number=number, extension=FILE_EXTENSIONS[export_format]
    )


def file_name(stem: str, export_format: str, parts: int) -> str:
    return f"{stem}.zip" if parts > 1 else f"{stem}.{FILE_EXTENSIONS[export_format]}"


def content_type(export_format: str, parts: int) -> str:
    return ZIP_CONTENT_TYPE if parts > 1 else CONTENT_TYPES[export_format]


def write_export(
    rows: Iterable[Row],
    *,
    export_format: str,
    resource: str,
    columns: list[str],
    directory: Path,
    stem: str,
    records_per_file: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, Path, int]:
    """Write ``rows``; return the record count, the finished file and its number of parts."""
    directory.mkdir(parents=True, exist_ok=True)
    writer_class = _WRITERS[export_format]
    parts: list[Path] = []
    count = 0
    handle: IO[str] | None = None
    writer: _Writer | None = None

    def open_part() -> _Writer:
        nonlocal handle
        path = directory / f"{part_name(stem, len(parts) + 1, export_format)}.partial"
        parts.append(path)
        handle = path.open("w", encoding="utf-8", newline="", buffering=_BUFFER_BYTES)
        opened = writer_class(handle, resource, columns)
        opened.begin()
        return opened

    def close_part() -> None:
        nonlocal handle
        if writer is not None and handle is not None:
            writer.end()
            handle.close()
            handle = None

    try:
        writer = open_part()
        for record_id, flat in rows:
            if count % _STOP_CHECK_EVERY == 0 and should_stop():
                raise ExportStopped()
            if count and count % records_per_file == 0:
                close_part()
                writer = open_part()
            writer.write(record_id, flat)
            count += 1
        close_part()
        final = directory / file_name(stem, export_format, len(parts))
        if len(parts) == 1:
            os.replace(parts[0], final)
        else:
            _zip(parts, final, stem, export_format, should_stop)
        return count, final, len(parts)
    finally:
        if handle is not None:
            handle.close()
        for path in parts:
            path.unlink(missing_ok=True)


def _zip(
    parts: list[Path], final: Path, stem: str, export_format: str, should_stop: Callable[[], bool]
) -> None:
    temporary = final.with_name(final.name + ".partial")
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for number, path in enumerate(parts, start=1):
                if should_stop():
                    raise ExportStopped()
                archive.write(path, arcname=part_name(stem, number, export_format))
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
