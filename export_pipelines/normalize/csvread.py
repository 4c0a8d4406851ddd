"""CSV parts → record batches of a declared table, parsed on every core, errors located.

The header row is read once, by Python's ``csv`` module (repeated names kept apart as
``name\\x002``). The rows after it are cut into runs of a few MB at row ends (:mod:`.csvcut`) and
each run is parsed by pyarrow's multi-threaded ``read_csv`` against the declared column types, on
a helper thread (:mod:`.prefetch`) while the last run is converted and written. pyarrow's
streaming reader parses one block at a time (it kept about one of two cores busy on the bench's
gzip CSV); it still reads, with the same options, what the cutting cannot: the rest of a file
from a quote where RFC 4180 puts none, or from a row longer than 32 MB, and UTF-16 files.

An epoch column is parsed as int64, the common case (whole seconds or milliseconds): exact past
2**53, and on the bench's table a quarter less CPU for parsing and converting a run than reading
the column as text (0.22 → 0.17 s per 400,000 rows). Where a run holds anything else there
(decimals, spaces), that run and every later one read the column as text, converted by
:func:`~.convert.conform`.

pyarrow names neither the row nor (usefully) the value that does not fit its column. A run that
fails is parsed again with that column as text, and the conversion to the declared type
(:func:`~.convert.conform`) then names the row, counting data rows from 1 across the whole file.
The streaming reader's batches are not kept, so there the part is read again
(:class:`CsvConversion`, handled by the caller).
"""

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pcsv

from export_pipelines.normalize.convert import conform, rescue_columns, unique_keys
from export_pipelines.normalize.csvcut import RowCutter, prefixed
from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.prefetch import prefetch
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.normalize.source import Part

#: pyarrow's streaming CSV reader reads up to 32 blocks ahead of the parse on its I/O thread when
#: the input (decompression) is faster than parsing and writing: with 4 MB blocks that is 200 MB
#: more peak RSS on the bench's gzip CSV (415 MB in all), with 1 MB blocks 70 MB (250 MB), for
#: the same CPU time.
_STREAM_BLOCK = 1 << 20
#: ``read_csv`` parses a run in blocks of a quarter of it (at least this), one per thread.
_MIN_RUN_BLOCK = 1 << 20


@dataclass(frozen=True)
class Csv:
    delimiter: str = ","
    quote_char: str = '"'
    #: Quoted values may hold line breaks (slower to parse; turn off for files known not to).
    newlines_in_values: bool = True
    encoding: str = "utf8"


class CsvConversion(Exception):
    """A value the streaming reader could not parse as its column's type: the caller reads the
    part again with column ``key`` as text, skipping the ``rows`` already yielded. ``error`` is
    what to report if that second read converts every value (pyarrow refused one that Arrow's cast
    from text accepts); None for an epoch column, which is read as text whenever it is no int64."""

    def __init__(self, key: str, rows: int, error: NormalizeError | None) -> None:
        self.key, self.rows, self.error = key, rows, error


@dataclass(frozen=True)
class _Layout:
    """What the header said, and how each column is read."""

    label: str
    table: TableSchema
    fmt: Csv
    keys: list[str]
    extras: list[str]
    by_key: dict[str, Column]
    as_text: frozenset[str] | set[str]

    @property
    def types(self) -> dict[str, pa.DataType]:
        """The type pyarrow parses each column as: text for undeclared columns and ``as_text``,
        int64 for an epoch column, the declared type otherwise."""
        return {
            key: pa.string()
            if key not in self.by_key or key in self.as_text
            else pa.int64()
            if self.by_key[key].epoch
            else self.by_key[key].type
            for key in self.keys
        }

    def epoch_as_number(self, key: str | None) -> bool:
        """Whether ``key`` is an epoch column parsed as int64 (text is its fallback, not an
        error)."""
        return key in self.by_key and bool(self.by_key[key].epoch) and key not in self.as_text

    def with_text(self, key: str) -> "_Layout":
        """This layout with column ``key`` read as text."""
        return replace(self, as_text=self.as_text | {key})


def csv_batches(
    part: Part,
    table: TableSchema,
    fmt: Csv,
    as_text: frozenset[str] | set[str] = frozenset(),
    skip: int = 0,
) -> Iterator[pa.RecordBatch]:
    """The part's rows as batches of ``table``. ``as_text``: columns read as text (then
    converted, so that a bad value's row is named); ``skip``: rows already yielded by a first
    pass (read again, not yielded twice)."""
    cutter = _cutter(part.stream, fmt)
    head = cutter.header() if cutter is not None else None
    if cutter is not None and head is not None:
        layout = _layout(head, part.label, table, fmt, as_text)
        tables = _runs(cutter, layout)
    else:
        stream = cutter.rest() if cutter is not None else part.stream
        head = stream.read(1 << 20)
        layout = _layout(head, part.label, table, fmt, as_text)
        tables = _streamed(prefixed(head, stream), layout, 1, header=True)
    for first, raw in prefetch(tables):
        if first - 1 + raw.num_rows <= skip:
            continue
        converted = conform(
            raw, table, part.label, first, "row", rescue_columns(raw, layout.extras)
        )
        yield converted.slice(max(0, skip - (first - 1)))


def _cutter(stream: BinaryIO, fmt: Csv) -> RowCutter | None:
    """A cutter where the quote, the delimiter and the line ends are single ASCII bytes that no
    other character's bytes contain (UTF-8, ASCII, Latin and Windows code pages); None otherwise
    (UTF-16, say), and the part is streamed."""
    try:
        name = codecs.lookup(fmt.encoding).name
    except LookupError:
        return None
    if not (name in ("utf-8", "ascii") or name.startswith(("iso8859-", "cp125"))):
        return None
    if len(fmt.delimiter) != 1 or not fmt.delimiter.isascii():
        return None
    if fmt.quote_char and (len(fmt.quote_char) != 1 or not fmt.quote_char.isascii()):
        return None
    return RowCutter(stream, fmt.quote_char or None, fmt.delimiter, fmt.newlines_in_values)


def _header(head: bytes, fmt: Csv, label: str) -> list[str]:
    text = head.decode(fmt.encoding, errors="replace").lstrip("\ufeff")
    try:
        return next(
            csv.reader(io.StringIO(text), delimiter=fmt.delimiter, quotechar=fmt.quote_char)
        )
    except StopIteration:
        raise NormalizeError(label, reason="is empty: no header row") from None


def _layout(
    head: bytes, label: str, table: TableSchema, fmt: Csv, as_text: frozenset[str] | set[str]
) -> _Layout:
    """The header's keys checked against the declared columns (:attr:`_Layout.types`: how each
    is read)."""
    keys = unique_keys(_header(head, fmt, label))
    missing = [c.source or c.name for c in table.columns if c.key not in keys]
    if missing:
        raise NormalizeError(
            label, "header", ", ".join(missing), reason="declared but missing from the header"
        )
    extras = [k for k in keys if not table.known(k)]
    if extras and table.extra == "error":
        raise NormalizeError(
            label,
            "header",
            ", ".join(e.replace("\x00", "#") for e in extras),
            reason="not declared by the export's schema",
        )
    by_key = {c.key: c for c in table.columns}
    return _Layout(label, table, fmt, keys, extras, by_key, as_text)


def _runs(cutter: RowCutter, layout: _Layout) -> Iterator[tuple[int, pa.Table]]:
    """Each run's first row number with its table; the streaming reader's once cutting stops."""
    row = 1
    while (run := cutter.next_run()) is not None:
        while True:
            try:
                parsed = _read_run(run, layout)
                break
            except pa.ArrowInvalid as exc:
                _, key = _csv_error(layout.label, str(exc), layout.keys, layout.by_key, row)
                if not layout.epoch_as_number(key):
                    raise _run_error(run, layout, row, str(exc)) from None
                assert key is not None
                layout = layout.with_text(key)  # for this run and the rest of the part
        if parsed.num_rows:
            yield row, parsed
            row += parsed.num_rows
    if cutter.stopped:
        yield from _streamed(cutter.rest(), layout, row, header=False)


def _read_run(run: bytes, layout: _Layout) -> pa.Table:
    return pcsv.read_csv(
        pa.BufferReader(run),
        read_options=pcsv.ReadOptions(
            use_threads=True,
            block_size=max(_MIN_RUN_BLOCK, len(run) // 4 + 1),
            column_names=layout.keys,
            encoding=layout.fmt.encoding,
        ),
        parse_options=_parse_options(layout.fmt),
        convert_options=_convert_options(layout.types),
    )


def _run_error(run: bytes, layout: _Layout, row: int, message: str) -> NormalizeError:
    """The error of a run that failed from ``row`` on: where a value did not fit its column, the
    run parsed again with the failing columns as text, and the conversion naming the row."""
    error, key = _csv_error(layout.label, message, layout.keys, layout.by_key, row)
    retried = layout
    while key is not None and key not in retried.as_text:
        retried = retried.with_text(key)
        try:
            raw = _read_run(run, retried)
        except pa.ArrowInvalid as exc:  # another column fails in the same run
            _, key = _csv_error(layout.label, str(exc), layout.keys, layout.by_key, row)
            continue
        try:
            conform(raw, layout.table, layout.label, row, "row")
        except NormalizeError as located:
            return located
        break
    # pyarrow refused a value that Arrow's cast from text accepts, or no value was at fault.
    return error


def _streamed(
    stream: BinaryIO, layout: _Layout, row: int, *, header: bool
) -> Iterator[tuple[int, pa.Table]]:
    """pyarrow's streaming reader over ``stream`` (after its header row, if ``header``), its
    first row numbered ``row``."""
    reader: pcsv.CSVStreamingReader | None = None
    while True:
        try:
            if reader is None:
                reader = _open_csv(stream, layout, skip_rows=1 if header else 0)
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            error, key = _csv_error(layout.label, str(exc), layout.keys, layout.by_key, row)
            if key is None or key in layout.as_text:
                raise error from None
            located = None if layout.epoch_as_number(key) else error
            raise CsvConversion(key, row - 1, located) from None
        yield row, pa.Table.from_batches([batch])
        row += batch.num_rows


def _open_csv(stream: BinaryIO, layout: _Layout, skip_rows: int) -> pcsv.CSVStreamingReader:
    return pcsv.open_csv(
        stream,
        read_options=pcsv.ReadOptions(
            column_names=layout.keys,
            skip_rows=skip_rows,
            block_size=_STREAM_BLOCK,
            encoding=layout.fmt.encoding,
        ),
        parse_options=_parse_options(layout.fmt),
        convert_options=_convert_options(layout.types),
    )


def _parse_options(fmt: Csv) -> pcsv.ParseOptions:
    return pcsv.ParseOptions(
        delimiter=fmt.delimiter,
        quote_char=fmt.quote_char,
        newlines_in_values=fmt.newlines_in_values,
    )


def _convert_options(types: dict[str, pa.DataType]) -> pcsv.ConvertOptions:
    """Declared types; empty text (quoted or not) is null, as is nothing else."""
    return pcsv.ConvertOptions(
        column_types=types,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )


def _csv_error(
    label: str, message: str, keys: list[str], by_key: dict[str, Column], row: int
) -> tuple[NormalizeError, str | None]:
    """pyarrow names the column by number and the block's rows not at all: say it plainly."""
    match = re.match(r"In CSV column #(\d+): (.*)", message, re.DOTALL)
    if not match:
        return NormalizeError(label, f"from row {row} on", reason=message), None
    key = keys[int(match.group(1))]
    column = by_key[key].name if key in by_key else key
    bad = re.search(r"invalid value '(.*)'", match.group(2))
    reason = match.group(2)
    where = f"a row from row {row} on"
    if bad:
        reason = (
            f"{shown(bad.group(1))} does not fit {by_key[key].type if key in by_key else 'string'}"
        )
    return NormalizeError(label, where, column, reason=reason), key
