"""Runs of newline-delimited JSON → Arrow tables through pyarrow's C reader, errors located.

The fast path is one ``pyarrow.json.read_json`` call per run of a few MB (blocks parsed on every
core) against an explicit schema. When it fails, the run is walked record by record, only then,
to say which record (index and byte offset) and which column is wrong and why; pyarrow's own
message names a row of a block, which means nothing to the user.

:func:`parse_records` and :func:`parse_json_lines` split and parse in one generator, so that a
guessed split (:mod:`.jsonscan`) is confirmed by its own parse before the next run is cut, and so
that a caller can run both on a helper thread (:mod:`.prefetch`) while it maps the last table.
"""

import json
import re
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.json as pj

from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.flatlines import FlatPlan, parse_flat
from export_pipelines.normalize.jsonscan import RecordSplitter, Run

_COLUMN = re.compile(r"Column\(([^)]*)\)")
_BLOCKS = 4
#: Bytes read per run of JSON Lines, smaller than the array splitter's chunk: these runs need no
#: splitting work to amortise, and 8 MB runs (a run parsed while the last one is mapped and the
#: writer holds two more) put the bench's gzip JSONL at 318 MB peak RSS, 4 MB runs at 268 MB
#: (mimalloc pool), for the same CPU.
LINES_BYTES = 4 << 20


class MixedTypes(Exception):
    """Every record parses alone, but not together: a field's JSON type varies between records
    where the schema leaves it open (inferred). The caller decides what that means."""


def parse_run(run: Run, file: str, options: pj.ParseOptions) -> pa.Table:
    """The records of ``run`` as a table; :class:`NormalizeError` naming the first bad record."""
    block = max(1 << 20, len(run.data) // _BLOCKS + 1)
    try:
        table = _read(run.data, options, block)
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc) or "block" in str(exc).lower():
            try:
                table = _read(run.data, options, len(run.data) + 1)
            except pa.ArrowInvalid:
                raise locate(run, file, options) from None
        else:
            raise locate(run, file, options) from None
    if run.count is not None and table.num_rows != run.count:
        raise locate(run, file, options)
    return table


def parse_records(
    stream: BinaryIO, file: str, key: str | None, options: pj.ParseOptions
) -> Iterator[tuple[Run, pa.Table | None]]:
    """Each run of the records array at ``key`` with its table; None for a run whose undeclared
    fields change JSON type between records (:class:`MixedTypes`: the caller decides)."""
    splitter = RecordSplitter(stream, file, key, guess=True)
    while (run := splitter.next_run()) is not None:
        if run.guessed:
            table = _confirmed(run, options)
            splitter.settle(table is not None)
            if table is None:
                continue  # cut again, exactly
        else:
            try:
                table = parse_run(run, file, options)
            except MixedTypes:
                table = None
        yield run, table


def parse_json_lines(
    stream: BinaryIO, file: str, options: pj.ParseOptions, flat: FlatPlan | None = None
) -> Iterator[tuple[Run, pa.Table | None]]:
    """Each run of whole lines with its table (None as in :func:`parse_records`); with a
    ``flat`` plan, read by the engine's C parser first (:mod:`.flatlines`)."""
    for run in jsonl_runs(stream, file):
        table = parse_flat(run, flat) if flat is not None else None
        if table is None:
            try:
                table = parse_run(run, file, options)
            except MixedTypes:
                table = None
        yield run, table


def _confirmed(run: Run, options: pj.ParseOptions) -> pa.Table | None:
    """The guessed run's table if every line was exactly one record; None otherwise."""
    try:
        table = _read(run.data, options, max(1 << 20, len(run.data) // _BLOCKS + 1))
    except pa.ArrowInvalid:
        return None
    return table if table.num_rows == run.count else None


def _read(data: bytes, options: pj.ParseOptions, block: int) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(use_threads=True, block_size=block),
        parse_options=options,
    )


def locate(run: Run, file: str, options: pj.ParseOptions) -> Exception:
    """The error for the first record of ``run`` that does not parse (rare path)."""
    for k, (start, end) in enumerate(run.record_spans()):
        raw = run.data[start:end]
        where = f"{run.unit} {run.first_index + k} (byte {run.offset + start})"
        if not raw.strip():
            if run.count is None:
                continue
            return NormalizeError(file, where, reason="an empty element of the array")
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return NormalizeError(file, where, reason=f"not valid JSON ({exc})")
        if not isinstance(value, dict):
            return NormalizeError(
                file, where, reason=f"a record that is not an object: {shown(value)}"
            )
        try:
            _read(raw, options, len(raw) + 1)
        except pa.ArrowInvalid as exc:
            message = str(exc).removeprefix("JSON parse error: ")
            match = _COLUMN.search(message)
            path = match.group(1).strip("/").split("/") if match else []
            column = ".".join(path) or None
            reason = re.sub(r"\s*in row \d+$", "", _COLUMN.sub("", message)).strip()
            declared = _declared_type(options.explicit_schema, path)
            if declared is not None and (found := _member(value, path)) is not _MISSING:
                # Say what was there and what belongs, as the CSV, XML and XLSX readers do.
                reason = f"{shown(found)} does not fit {declared} ({reason})"
            return NormalizeError(file, where, column, reason=f"wrong type: {reason}")
    return MixedTypes()


_MISSING = object()


def _member(record: object, path: list[str]) -> object:
    """``record[path[0]][path[1]]…``, or ``_MISSING`` where the path leaves the objects."""
    for name in path:
        if not isinstance(record, dict) or name not in record:
            return _MISSING
        record = record[name]
    return record


def _declared_type(schema: pa.Schema | None, path: list[str]) -> pa.DataType | None:
    """The explicit schema's type at ``path`` (through structs), if it declares one."""
    fields: pa.Schema | pa.StructType | None = schema
    kind: pa.DataType | None = None
    for name in path:
        if fields is None or fields.get_field_index(name) < 0:
            return None
        kind = fields.field(name).type
        fields = kind if isinstance(kind, pa.StructType) else None
    return kind


def jsonl_runs(stream: BinaryIO, file: str) -> Iterator[Run]:
    """Runs of whole lines of a JSON Lines stream (a record never spans a newline)."""
    pending = b""
    offset = 0
    line = 1
    while True:
        data = stream.read(LINES_BYTES)
        if not data:
            break
        data = pending + data
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        body, pending = data[:cut], data[cut + 1 :]
        lines = body.count(b"\n") + 1
        yield Run(body, offset, line, None, unit="line")
        offset += cut + 1
        line += lines
    if pending.strip():
        yield Run(pending, offset, line, None, unit="line")
