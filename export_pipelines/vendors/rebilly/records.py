"""Rebilly export files → the resource's declared table, the same whatever the format.

A Rebilly export is one file in the format asked for, or past the vendor's record limit a ZIP of
numbered parts in that format (``open_parts`` reads the members one after another; whether it is a
ZIP is read from the bytes). Every format ends in the engine's ``conform`` over the same declared
columns (:mod:`.tables`), so csv, json, json-api and xml of one export give the same rows and types:

- csv: the engine's CSV reader; nested fields are ``/``-joined headers (``gateway/name``), which
  are the columns' sources as they are.
- json (an array of records) and json-api (``{"data": [{"type", "id", "attributes"}]}``):
  the engine's vectorized record splitter and pyarrow's C reader against the nested schema the
  columns imply; nested members are taken out of the structs with Arrow, never per row.
  A JSON:API resource object's ``type`` must be the resource; its ``links``/``meta``/
  ``relationships`` (members JSON:API allows) are not data.
- xml: ``<{resource}><record>…</record></{resource}>``, nested fields as nested elements and
  ``nil="true"`` for null; streamed by defusedxml (no DTDs, no entities), values gathered by
  column a chunk of records at a time and converted by Arrow.

A field the table does not declare fails the file, naming it: each format would carry such a field
differently (text in csv and xml, typed in json), so no rescue column could hold it the same way
across formats, and dropping it would lose data silently (so a Rebilly export's ``schema_drift``
can only be ``freeze``, which the catalog enforces). ``fields`` in the request restricts the
columns the vendor writes; the others are null.
"""

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from export_pipelines.decisions import rebilly as decided
from export_pipelines.normalize import arrowops
from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.jsonread import MixedTypes, parse_run
from export_pipelines.normalize.jsonscan import split_records
from export_pipelines.normalize.readers import Csv, TabularNormalizer, conform
from export_pipelines.normalize.schema import Column as EngineColumn
from export_pipelines.normalize.schema import TableSchema
from export_pipelines.normalize.source import Part, open_parts
from export_pipelines.vendors.rebilly.tables import TABLES, Column, Table

#: XML records gathered before they are converted by Arrow.
_XML_CHUNK = 10_000
#: Members of a JSON:API resource object that are not the resource's data.
_JSONAPI_META = frozenset({"links", "meta", "relationships"})
_UNDECLARED = (
    "not declared by the Rebilly {resource} table (export_pipelines/vendors/rebilly/tables.py)"
)


def requested_columns(table: Table, fields: list[str] | None) -> list[Column]:
    """The columns an export's ``fields`` asks for, in table order (all without ``fields``)."""
    if not fields:
        return list(table.columns)
    wanted = {c.source for field in fields for c in table.covered_by(field)}
    return [c for c in table.columns if c.source in wanted]


def _engine_schema(columns: list[Column]) -> TableSchema:
    return TableSchema(
        [EngineColumn(c.name, c.type, source=c.source, nullable=c.nullable) for c in columns],
        extra="error",
    )


def _json_type(kind: pa.DataType) -> pa.DataType:
    """What the vendor's JSON holds for a column: numbers and flags typed, the rest text."""
    if pa.types.is_int64(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind):
        return kind
    return pa.string()  # decimal strings and ISO timestamps


def _nested_schema(columns: list[Column], skip: frozenset[str] = frozenset()) -> pa.Schema:
    """The JSON object the columns' ``/`` paths describe, as pyarrow's explicit schema."""
    tree: dict[str, object] = {}
    for column in columns:
        if column.source in skip:
            continue
        node = tree
        *parents, leaf = column.path
        for parent in parents:
            child = node.setdefault(parent, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = _json_type(column.type)

    def build(node: dict[str, object]) -> list[pa.Field]:
        return [
            pa.field(name, pa.struct(build(value)) if isinstance(value, dict) else value)
            for name, value in node.items()
        ]

    return pa.schema(build(tree))


def _undeclared(parsed: pa.DataType | pa.Schema, declared: pa.DataType | pa.Schema) -> list[str]:
    """Paths in what pyarrow read that the declared schema does not have."""
    found: list[str] = []
    declared_fields = {f.name: f.type for f in declared}
    for field in parsed:
        if field.name not in declared_fields:
            found.append(field.name)
        elif pa.types.is_struct(field.type) and pa.types.is_struct(declared_fields[field.name]):
            found += [
                f"{field.name}/{path}"
                for path in _undeclared(field.type, declared_fields[field.name])
            ]
    return found


class RebillyNormalizer:
    """One resource's table, read from files in one format."""

    def __init__(self, resource: str, fmt: str, fields: list[str] | None = None) -> None:
        if fmt not in decided.TABLE_FORMATS:
            raise ValueError(f"{fmt} cannot become a table")
        self.resource = resource
        self.format = fmt
        self.table = TABLES[resource]
        self.columns = requested_columns(self.table, fields)
        self._read = _engine_schema(self.columns)
        self.schema = _engine_schema(list(self.table.columns)).arrow()

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch in self._read_batches(path, batch_rows):
            widened = self._widen(batch)
            for start in range(0, widened.num_rows, batch_rows):
                yield widened.slice(start, batch_rows)

    def _read_batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        if self.format == "csv":
            yield from TabularNormalizer(self._read, Csv()).batches(path, batch_rows)
            return
        with open_parts(path) as parts:
            for part in parts:
                if self.format == "xml":
                    yield from self._xml(part)
                else:
                    yield from self._json(part, jsonapi=self.format == "json-api")

    def _widen(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The requested columns' batch as the whole table (unrequested columns null)."""
        if len(self.columns) == len(self.table.columns):
            return batch
        arrays = [
            batch.column(c.name) if c in self.columns else pa.nulls(batch.num_rows, c.type)
            for c in self.table.columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _undeclared_error(self, label: str, where: str, paths: list[str]) -> NormalizeError:
        return NormalizeError(
            label, where, ", ".join(paths), reason=_UNDECLARED.format(resource=self.resource)
        )

    def _json(self, part: Part, *, jsonapi: bool) -> Iterator[pa.RecordBatch]:
        if jsonapi:
            attributes = _nested_schema(self.columns, skip=frozenset({"id"}))
            declared = pa.schema(
                [("id", pa.string()), ("type", pa.string()), ("attributes", pa.struct(attributes))]
            )
        else:
            declared = _nested_schema(self.columns)
        options = pj.ParseOptions(explicit_schema=declared, unexpected_field_behavior="infer")
        for run in split_records(part.stream, part.label, "data" if jsonapi else None):
            where = f"records from {run.first_index}"
            try:
                parsed = parse_run(run, part.label, options)
            except MixedTypes:
                raise NormalizeError(
                    part.label, where, reason="an undeclared field changes JSON type"
                ) from None
            extra = _undeclared(parsed.schema, declared)
            if jsonapi:
                extra = [path for path in extra if path not in _JSONAPI_META]
                self._check_jsonapi_type(parsed, part.label, run.first_index)
            if extra:
                raise self._undeclared_error(part.label, where, extra)
            keyed = {c.source: self._take(parsed, c, jsonapi) for c in self.columns}
            yield conform(keyed, self._read, part.label, run.first_index, "record")

    def _check_jsonapi_type(self, parsed: pa.Table, label: str, first: int) -> None:
        kinds = parsed.column("type").combine_chunks()
        wrong = pc.invert(pc.fill_null(pc.equal(kinds, self.resource), False))
        if pc.any(wrong).as_py():
            row = pc.index(wrong, True).as_py()
            raise NormalizeError(
                label,
                f"record {first + row}",
                "type",
                reason=f"{shown(kinds[row].as_py())} is not the exported resource {self.resource}",
            )

    @staticmethod
    def _take(parsed: pa.Table, column: Column, jsonapi: bool) -> pa.Array:
        path = column.path
        if jsonapi:
            path = path if column.source == "id" else ("attributes", *path)
        top = parsed.column(path[0]).combine_chunks()
        values = arrowops.nested(top, *path[1:]) if len(path) > 1 else top
        if pa.types.is_string(values.type):  # "" is null, as csv cannot tell them apart
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
        return values

    def _xml(self, part: Part) -> Iterator[pa.RecordBatch]:
        from xml.etree.ElementTree import Element, ParseError

        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse

        keys = [c.source for c in self.columns]
        known = set(keys)
        groups = {"/".join(c.path[:i]) for c in self.columns for i in range(1, len(c.path))}
        gathered: dict[str, list[str | None]] = {key: [] for key in keys}
        first = count = depth = 0
        root: Element | None = None

        def collect(element: Element, prefix: str, values: dict[str, str | None]) -> None:
            for child in element:
                path = prefix + child.tag
                if len(child):
                    collect(child, path + "/", values)
                elif child.get("nil") == "true" and path in groups:
                    continue  # a null nested object: its members stay null
                else:
                    values[path] = None if child.get("nil") == "true" else child.text

        try:
            for event, element in iterparse(part.stream, events=("start", "end"), forbid_dtd=True):
                if event == "start":
                    depth += 1
                    if depth == 1:
                        root = element
                        if element.tag != self.resource:
                            raise NormalizeError(
                                part.label,
                                "root element",
                                reason=f"<{element.tag}>, not <{self.resource}>",
                            )
                    continue
                depth -= 1
                if depth != 1:
                    continue
                if element.tag != decided.XML_RECORD_ELEMENT:
                    raise NormalizeError(
                        part.label,
                        f"record {first + count}",
                        reason=f"<{element.tag}> where a <{decided.XML_RECORD_ELEMENT}> belongs",
                    )
                values: dict[str, str | None] = {}
                collect(element, "", values)
                extra = [path for path in values if path not in known]
                if extra:
                    raise self._undeclared_error(part.label, f"record {first + count}", extra)
                for key in keys:
                    gathered[key].append(values.get(key))
                count += 1
                assert root is not None
                root.clear()  # the record is gathered: keep memory flat
                if count >= _XML_CHUNK:
                    yield self._xml_batch(gathered, part.label, first)
                    first += count
                    count = 0
                    gathered = {key: [] for key in keys}
        except DefusedXmlException as exc:
            raise NormalizeError(
                part.label,
                reason=f"refused: {type(exc).__name__} (DTDs and entities are not allowed)",
            ) from None
        except ParseError as exc:
            raise NormalizeError(
                part.label, f"line {exc.position[0]}", reason=f"not well-formed XML ({exc})"
            ) from None
        if root is None:
            raise NormalizeError(part.label, reason="is empty: no XML document")
        if count:
            yield self._xml_batch(gathered, part.label, first)

    def _xml_batch(
        self, gathered: dict[str, list[str | None]], label: str, first: int
    ) -> pa.RecordBatch:
        raw: dict[str, pa.Array] = {}
        for column in self.columns:
            strings = pa.array(gathered[column.source], pa.string())
            strings = pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.string()), strings)
            raw[column.source] = strings
        return conform(raw, self._read, label, first, "record")
