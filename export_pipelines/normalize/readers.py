"""Raw vendor files → Arrow record batches of a declared :class:`TableSchema`, through C readers.

One reader per format, each streaming: CSV (plain or gzip; delimiter, quoting, repeated header
names kept apart; cut into runs of whole rows, :mod:`.csvread`) and JSON (JSON Lines, a top-level array, an array under a key, JSON:API) through
pyarrow's multi-threaded C readers; XLSX through fastexcel (Rust calamine straight to Arrow,
:mod:`.xlsxread`); XML, which has no Arrow reader, through a streaming parser (defusedxml over
expat) with values gathered by column and converted by Arrow, a chunk of rows at a time. Compression and ZIP archives are handled below every format
(:mod:`.source`), so ``TabularNormalizer(schema, Csv())`` reads ``x.csv``, ``x.csv.gz`` and a ZIP of
CSV parts alike.

Conversion rules: empty text cells are null, not ``""`` (pitfall of pyarrow's CSV reader); a value
that does not fit its column fails the file with its row and column; a non-nullable column's null
likewise; ISO timestamps need a zone offset (a naive time is ambiguous, so refused).
"""

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from export_pipelines.normalize import arrowops
from export_pipelines.normalize.convert import conform, rescue_rows
from export_pipelines.normalize.csvread import Csv, CsvConversion, csv_batches
from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.flatlines import flat_plan
from export_pipelines.normalize.jsonread import parse_json_lines, parse_records
from export_pipelines.normalize.jsonscan import Run
from export_pipelines.normalize.prefetch import prefetch
from export_pipelines.normalize.schema import RESCUED, Column, TableSchema
from export_pipelines.normalize.source import DEFAULT_LIMITS, Limits, Part, open_parts
from export_pipelines.normalize.xlsxread import sheet_batches

_XML_ROWS = 10_000


@dataclass(frozen=True)
class JsonLines:
    pass


@dataclass(frozen=True)
class JsonArray:
    """A top-level array of records, or (``key``) the array under that key of a top-level object."""

    key: str | None = None


@dataclass(frozen=True)
class JsonApi:
    """A JSON:API document: records under ``data``, their ``attributes`` flattened into columns;
    a column whose source is ``id`` or ``type`` reads the resource's own member."""


@dataclass(frozen=True)
class Xml:
    """Records are the elements named ``record``; a column's source is a child element's name or
    ``@attribute``. DTDs (and so entity declarations, internal or external) are refused."""

    record: str


@dataclass(frozen=True)
class Xlsx:
    sheet: str | int = 0


Format = Csv | JsonLines | JsonArray | JsonApi | Xml | Xlsx


class TabularNormalizer:
    """The :class:`~export_pipelines.vendors.base.Normalizer` of a declared table and format."""

    def __init__(self, table: TableSchema, fmt: Format, limits: Limits = DEFAULT_LIMITS) -> None:
        self.table = table
        self.format = fmt
        self.limits = limits
        self.schema = table.arrow()

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Batches as the C readers parse them (a block of a few MB each), not cut to
        ``batch_rows``: that bound is for rows built in Python, and cutting Arrow batches finer
        only adds per-batch cost downstream."""
        for _, batches in self.part_batches(path):
            yield from batches

    def part_batches(self, path: Path) -> Iterator[tuple[str, Iterator[pa.RecordBatch]]]:
        """Each part's label with its batches, part after part (one part unless ``path`` is a
        ZIP), for a vendor whose parts differ in what they hold (Connhex: one ZIP member per
        item). A part's batches are valid until the next part is taken."""
        workbook = isinstance(self.format, Xlsx)
        with open_parts(path, self.limits, workbook=workbook) as parts:
            for part in parts:
                yield part.label, self._part(path, part)

    def _csv(
        self,
        path: Path,
        part: Part,
        fmt: Csv,
        as_text: frozenset[str] = frozenset(),
        skip: int = 0,
        refused: NormalizeError | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The part's rows; where pyarrow's streaming reader refused a column's value, the rest
        read again with that column as text (the rare path, :mod:`.csvread`): pyarrow names
        neither the row nor (usefully) the value, the conversion from text names both. ``refused``
        is reported if the text converts after all."""
        try:
            yield from csv_batches(part, self.table, fmt, as_text, skip)
        except CsvConversion as failed:
            yield from self._csv_again(
                path, part.label, fmt, as_text | {failed.key}, failed.rows, refused or failed.error
            )
            return
        if refused is not None:
            raise refused

    def _csv_again(
        self,
        path: Path,
        label: str,
        fmt: Csv,
        as_text: frozenset[str],
        skip: int,
        refused: NormalizeError | None,
    ) -> Iterator[pa.RecordBatch]:
        with open_parts(path, self.limits) as parts:
            for part in parts:
                if part.label == label:
                    yield from self._csv(path, part, fmt, as_text, skip, refused)
                    return
        raise refused or NormalizeError(label, reason="not found when read again")

    def _part(self, path: Path, part: Part) -> Iterator[pa.RecordBatch]:
        fmt = self.format
        if isinstance(fmt, Csv):
            yield from self._csv(path, part, fmt)
        elif isinstance(fmt, Xml):
            yield from _xml(part, self.table, fmt)
        elif isinstance(fmt, Xlsx):
            yield from _xlsx(part, self.table, fmt, self.limits)
        else:
            yield from _json(part, self.table, fmt)


# --- JSON -----------------------------------------------------------------------------------


def _read_type(column: Column) -> pa.DataType | None:
    """The type pyarrow's JSON reader is told (None: inferred, then converted)."""
    if column.epoch:
        return None
    t = column.type
    if (
        pa.types.is_string(t)
        or pa.types.is_int64(t)
        or pa.types.is_float64(t)
        or pa.types.is_boolean(t)
    ):
        return t
    return pa.string()  # decimals, dates and ISO timestamps arrive as text


def _json(part: Part, table: TableSchema, fmt: Format) -> Iterator[pa.RecordBatch]:
    fields = [(c.source or c.name, _read_type(c)) for c in table.columns]
    declared = pa.schema([(name, t) for name, t in fields if t is not None])
    jsonapi = isinstance(fmt, JsonApi)
    if jsonapi:
        attributes = [f for f in declared if f.name not in ("id", "type")]
        declared = pa.schema(
            [("id", pa.string()), ("type", pa.string()), ("attributes", pa.struct(attributes))]
        )
    behaviour = "infer" if table.extra == "rescue" or jsonapi else "error"
    options = pj.ParseOptions(explicit_schema=declared, unexpected_field_behavior=behaviour)
    if isinstance(fmt, JsonLines):
        flat = flat_plan(fields, rescue=table.extra == "rescue")
        runs = parse_json_lines(part.stream, part.label, options, flat)
    elif jsonapi:
        runs = parse_records(part.stream, part.label, "data", options)
    else:
        assert isinstance(fmt, JsonArray)
        runs = parse_records(part.stream, part.label, fmt.key, options)
    for run, parsed in prefetch(runs):
        if parsed is None:
            raise NormalizeError(
                part.label,
                f"{run.unit}s from {run.first_index}",
                reason="a field undeclared by the schema changes JSON type between records",
            )
        if jsonapi:
            parsed = _flatten_jsonapi(parsed)
        first = run.first_index
        extras = [n for n in parsed.column_names if not table.known(n) and n != "links"]
        if extras and table.extra == "error":
            raise NormalizeError(
                part.label,
                f"{run.unit}s from {first}",
                ", ".join(extras),
                reason="not declared by the export's schema",
            )
        rescued = (
            _rescue_json(parsed, run, extras, jsonapi, table) if table.extra == "rescue" else None
        )
        keyed = {
            c.key: parsed.column(c.source or c.name).combine_chunks()
            for c in table.columns
            if (c.source or c.name) in parsed.column_names
        }
        if not keyed:
            keyed = {"\x00rows": pa.nulls(parsed.num_rows)}
        yield conform(keyed, table, part.label, first, run.unit, rescued)


def _flatten_jsonapi(parsed: pa.Table) -> pa.Table:
    columns: dict[str, pa.Array] = {}
    for name in parsed.column_names:
        if name != "attributes":
            columns[name] = parsed.column(name).combine_chunks()
    attributes = parsed.column("attributes").combine_chunks()
    for i in range(attributes.type.num_fields):
        name = attributes.type.field(i).name
        columns.setdefault(name, arrowops.nested(attributes, name))
    return pa.table(columns) if columns else parsed


def _rescue_json(
    parsed: pa.Table, run: Run, extras: list[str], jsonapi: bool, table: TableSchema
) -> pa.Array | None:
    if not extras:
        return None
    flags = np.zeros(parsed.num_rows, dtype=bool)
    for name in extras:
        flags |= parsed.column(name).is_valid().to_numpy(zero_copy_only=False)
    if not flags.any():
        return pa.nulls(parsed.num_rows, pa.string())
    spans = [
        s for s in run.record_spans() if run.count is not None or run.data[s[0] : s[1]].strip()
    ]
    values: list[str | None] = [None] * parsed.num_rows
    for row in np.flatnonzero(flags).tolist():
        start, end = spans[row]
        record = json.loads(run.data[start:end])
        if jsonapi:
            attributes = record.pop("attributes", None) or {}
            record.pop("links", None)
            record = {**attributes, **record}
        unknown = {k: v for k, v in record.items() if not table.known(k)}
        values[row] = json.dumps(unknown, ensure_ascii=False, default=str) if unknown else None
    return pa.array(values, pa.string())


# --- XML ----------------------------------------------------------------------------------


def _xml(part: Part, table: TableSchema, fmt: Xml) -> Iterator[pa.RecordBatch]:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    keys = [c.source or c.name for c in table.columns]
    rows: list[dict[str, str | None]] = []
    extras_rows: list[dict[str, str]] = []
    first = 1
    try:
        for _, element in iterparse(part.stream, events=("end",), forbid_dtd=True):
            if element.tag != fmt.record:
                continue
            values: dict[str, str | None] = {f"@{k}": v for k, v in element.attrib.items()}
            for child in element:
                values[child.tag] = child.text
            element.clear()
            rows.append({k: values.get(k) for k in keys})
            extras_rows.append({k: v for k, v in values.items() if k not in keys and v})
            if len(rows) >= _XML_ROWS:
                yield _xml_batch(rows, extras_rows, keys, table, part.label, first)
                first += len(rows)
                rows, extras_rows = [], []
    except DefusedXmlException as exc:
        raise NormalizeError(
            part.label, reason=f"refused: {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from None
    except ParseError as exc:
        raise NormalizeError(
            part.label, f"line {exc.position[0]}", reason=f"not well-formed XML ({exc})"
        ) from None
    if rows:
        yield _xml_batch(rows, extras_rows, keys, table, part.label, first)


def _xml_batch(
    rows: list[dict[str, str | None]],
    extras: list[dict[str, str]],
    keys: list[str],
    table: TableSchema,
    label: str,
    first: int,
) -> pa.RecordBatch:
    raw: dict[str, pa.Array] = {}
    for column, key in zip(table.columns, keys, strict=True):
        strings = pa.array([r[key] for r in rows], pa.string())
        strings = pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.string()), strings)
        if pa.types.is_boolean(column.type):
            strings = pc.utf8_lower(strings)
        raw[column.key] = strings
    if any(extras) and table.extra == "error":
        row = next(i for i, e in enumerate(extras) if e)
        raise NormalizeError(
            label,
            f"record {first + row}",
            ", ".join(extras[row]),
            reason="not declared by the export's schema",
        )
    rescued = pa.array(rescue_rows(extras), pa.string()) if table.extra == "rescue" else None
    return conform(raw, table, label, first, "record", rescued)


# --- XLSX ---------------------------------------------------------------------------------


def _workbook_size_problem(data: bytes, limits: Limits) -> str | None:
    """A workbook is itself a ZIP that the workbook reader inflates: one that declares more than
    the limit (a workbook inside a vendor's ZIP, past the archive's own check) is refused."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            declared = sum(info.file_size for info in book.infolist())
    except zipfile.BadZipFile:
        return None  # not a ZIP at all: the workbook reader says what it is not
    if declared <= limits.max_bytes:
        return None
    return (
        f"the workbook declares {declared:,} uncompressed bytes, beyond the limit of "
        f"{limits.max_bytes:,} (a zip bomb, or raise Limits.max_bytes)"
    )


def _xlsx(
    part: Part, table: TableSchema, fmt: Xlsx, limits: Limits = DEFAULT_LIMITS
) -> Iterator[pa.RecordBatch]:
    data = part.stream.read()
    problem = _workbook_size_problem(data, limits)
    if problem is not None:
        raise NormalizeError(part.label, reason=problem)
    yield from sheet_batches(data, part.label, table, fmt.sheet)


__all__ = [
    "RESCUED",
    "Csv",
    "Format",
    "JsonApi",
    "JsonArray",
    "JsonLines",
    "TabularNormalizer",
    "Xlsx",
    "Xml",
    "conform",
]
