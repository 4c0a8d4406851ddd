"""XLSX sheets → Arrow batches of a declared table, through fastexcel (Rust calamine to Arrow).

python-calamine handed every cell to Python (about 4.5 s of Python per 50,000 rows of 12 columns here);
fastexcel parses the sheet and builds the Arrow arrays in Rust, and the conversion to the declared
types is Arrow compute over whole columns. Parsing the sheet's XML is most of the cost, so the
common case parses it once:

- string columns are read as text (fastexcel writes a whole number without ``.0``: ``1001``);
- int64, float64 and epoch columns as numbers: a workbook's numbers are doubles, and fastexcel
  takes a text cell holding a number too; int64 keeps only whole numbers (fastexcel's own ``int``
  would truncate 2.5 to 2 without a word);
- decimals as text (the double's shortest text), then Arrow's exact text → decimal cast: a double
  cast to ``decimal128(12, 2)`` rounds 0.001 to 0.00 without a word;
- dates, timestamps and booleans arrive either as the workbook's typed cells or as text, by
  vendor: which one a column holds is taken from all its cells (fastexcel's dtype of the column,
  never from a first block), then converted to the declared type. A date-time cell has no zone and
  is UTC; text needs an offset (ISO-8601), as in CSV; a number in a boolean column must be 0 or 1.

A sheet of more than 16 MB of XML is parsed as two halves at once, on two cores
(:mod:`.xlsxsplit`), each half then converted on its own (joining their columns first copied every
value: 0.085 s of the bench's 200,000 rows); everything below holds for the halves as for a whole
sheet, rows numbered across the sheet.

A cell that does not fit the type a column is read as (fastexcel reports the cell; its default
would be a silent null) sends that column through a second read as text, converted by the same
rules as CSV text, so the error names the row and the column. fastexcel renames repeated header
names (``price``, ``price_1``); a sheet whose header may hold such a renamed name, or a table that
declares a repeated one, has its header row read as written (one more parse) and its columns
matched by position.
"""

import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.normalize.convert import conform, convert_column, rescue_columns, unique_keys
from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.normalize.xlsxsplit import split_sheet

#: Rows per batch handed on: the sheet is converted whole, then sliced for the writer's queue.
BATCH_ROWS = 65_536
_RENAMED = re.compile(r"^(.*)_\d+$")


def read_dtype(column: Column) -> str | None:
    """What fastexcel reads the column as; ``None``: as its cells are (dates, times, booleans)."""
    t = column.type
    if column.epoch or pa.types.is_integer(t) or pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_decimal(t):
        return "string"
    return None


def sheet_batches(
    data: bytes, label: str, table: TableSchema, sheet: str | int
) -> Iterator[pa.RecordBatch]:
    """The rows of ``sheet`` (below its header row) as batches of ``table.arrow()``."""
    import fastexcel

    try:
        converted = _converted(fastexcel.read_excel(data), data, label, table, sheet)
    except fastexcel.FastExcelError as exc:
        raise NormalizeError(label, reason=f"not a readable XLSX workbook ({exc})") from None
    for part in converted:
        for start in range(0, part.num_rows, BATCH_ROWS):
            yield part.slice(start, BATCH_ROWS)


def _converted(
    book: Any, data: bytes, label: str, table: TableSchema, sheet: str | int
) -> list[pa.RecordBatch]:
    """The sheet's rows as batches of ``table.arrow()``: one, or one per half."""
    header = _header_row(book, sheet) if any(c.occurrence > 1 for c in table.columns) else None
    loaded = _load_halves(data, sheet, table) if header is None else None
    if loaded is None:
        loaded = _load(book, sheet, table, header)
    if loaded is None:  # a name fastexcel may have renamed: read the header as written
        loaded = _load(book, sheet, table, _header_row(book, sheet))
    assert loaded is not None
    keys, parts, failed, _ = loaded
    _check_header(keys, table, label)
    retyped = _as_text(book, sheet, sorted(failed)) if failed else {}
    position = {k: i for i, k in enumerate(keys) if k}
    extras = [k for k in keys if k and not table.known(k)]
    date_times: dict[int, pa.Array] = {}  # read once for the sheet, like ``retyped``
    converted = []
    offset = 0  # the part's first row, counted from the sheet's first row below the header
    for batch in parts:
        n = batch.num_rows
        raw: dict[str, pa.Array] = {}
        for column in table.columns:
            i = position[column.key]
            if i in failed:
                raw[column.key] = _emptied(retyped[i].slice(offset, n))
                continue
            values = _emptied(batch.column(i))
            prepared = _prepared(values, column, label, 1 + offset)
            if prepared is None:  # a date or time column mixing the workbook's cells and text
                if i not in date_times:
                    date_times[i] = _date_times(book, sheet, i)
                native = date_times[i].slice(offset, n)
                prepared = _mixed_times(native, values, column, label, 1 + offset)
            raw[column.key] = prepared
        rescued = None
        if table.extra == "rescue" and extras:
            rescued = rescue_columns(
                pa.table({k: _emptied(batch.column(position[k])) for k in extras}), extras
            )
        converted.append(conform(raw, table, label, 1 + offset, "row", rescued))
        offset += n
    return converted


def _header_row(book: Any, sheet: str | int) -> list[str]:
    rows = book.load_sheet(sheet, header_row=None, n_rows=1, dtypes="string").to_arrow()
    first = rows.to_pylist()[:1]
    return ["" if v is None else str(v) for v in first[0].values()] if first else []


#: The header's keys, the sheet's columns by position (one batch, or one per half, in row order),
#: the positions of columns holding a cell that does not fit their read type, and each column's
#: index in the sheet (A = 0).
Loaded = tuple[list[str], list[pa.RecordBatch], set[int], list[int]]


def _load_halves(data: bytes, sheet: str | int, table: TableSchema) -> Loaded | None:
    """A large sheet parsed as two halves at once (:mod:`.xlsxsplit`); None when it is
    parsed whole: not cut, or halves that disagree on their columns or their types (a column of
    dates in one half and of text in the other: the whole sheet decides)."""
    import fastexcel

    def load(path: Path) -> Loaded | None:
        return _load(fastexcel.read_excel(str(path)), sheet, table, None)

    with (
        tempfile.TemporaryDirectory(prefix="xlsx-halves-") as directory,
        ThreadPoolExecutor(2, thread_name_prefix="xlsx-half") as pool,
    ):
        started: list[Future[Loaded | None]] = []
        cut = split_sheet(
            data, sheet, Path(directory), lambda p: started.append(pool.submit(load, p))
        )
        try:
            halves = [f.result() for f in started]  # the files go with the folder
        except fastexcel.FastExcelError:
            halves = []  # a copy fastexcel cannot read: the whole sheet says what is wrong
    if not cut or len(halves) != 2:
        return None
    top, bottom = halves
    if top is None or bottom is None:
        return None
    (keys, [first], failed, starts), (keys_2, [second], failed_2, starts_2) = top, bottom
    if keys != keys_2 or starts != starts_2 or first.schema.types != second.schema.types:
        return None
    return keys, [first, second], failed | failed_2, starts


def _load(
    book: Any, sheet: str | int, table: TableSchema, header: list[str] | None
) -> Loaded | None:
    """The sheet as read (:data:`Loaded`); ``None`` when fastexcel may have renamed a name."""
    if header is None:
        dtypes: dict[str | int, Any] = {
            c.source or c.name: d for c in table.columns if (d := read_dtype(c))
        }
    else:
        keys = unique_keys(header)
        index = {k: i for i, k in enumerate(keys)}
        dtypes = {index[c.key]: d for c in table.columns if c.key in index if (d := read_dtype(c))}
    loaded = book.load_sheet(sheet, dtypes=dtypes, schema_sample_rows=None)
    columns = sorted(loaded.available_columns(), key=lambda c: c.absolute_index)
    if header is None:
        names = ["" if c.column_name_from == "generated" else c.name for c in columns]
        present = set(names)
        if any((m := _RENAMED.match(n)) and m.group(1) in present for n in names):
            return None
        keys = names
    batch, errors = loaded.to_arrow_with_errors()
    failed = {e.offset_position[1] for e in errors.errors} if errors is not None else set()
    starts = [c.absolute_index for c in columns]
    return keys[: batch.num_columns], [batch], failed, starts


def _as_text(book: Any, sheet: str | int, positions: list[int]) -> dict[int, pa.Array]:
    """The columns at ``positions`` read again, every cell as text (the rare path)."""
    loaded = book.load_sheet(sheet, use_columns=positions, dtypes="string", eager=True)
    return {p: loaded.column(n) for n, p in enumerate(positions)}


def _date_times(book: Any, sheet: str | int, position: int) -> pa.Array:
    """The column at ``position`` read again as the workbook's date-times, the whole sheet's
    (text cells are then null; the rare path)."""
    cells = book.load_sheet(sheet, use_columns=[position], dtypes="datetime", eager=True)
    native = cells.column(0)
    return native.combine_chunks() if isinstance(native, pa.ChunkedArray) else native


def _mixed_times(
    native: pa.Array, text: pa.Array, column: Column, label: str, first_row: int
) -> pa.Array:
    """A date or timestamp column whose text does not all convert: each cell taken the way it
    is held, the workbook's date-time (``native``, same rows as ``text``) or its text."""
    native = native.cast(pa.timestamp(native.type.unit, tz="UTC")).cast(column.type)
    rest = pc.if_else(pc.is_valid(native), pa.scalar(None, text.type), text)
    converted = convert_column(rest, replace(column, nullable=True), label, first_row, "row")
    return pc.coalesce(native, converted)


def _check_header(keys: list[str], table: TableSchema, label: str) -> None:
    missing = [c.source or c.name for c in table.columns if c.key not in keys]
    if missing:
        raise NormalizeError(
            label, "header", ", ".join(missing), reason="declared but missing from the header"
        )
    extras = [k for k in keys if k and not table.known(k)]
    if extras and table.extra == "error":
        raise NormalizeError(
            label, "header", ", ".join(extras), reason="not declared by the export's schema"
        )


def _emptied(values: pa.Array) -> pa.Array:
    """An empty text cell is null, as in every reader."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        return values
    empty = pc.equal(values, "")
    if not pc.any(empty).as_py():
        return values
    return pc.if_else(empty, pa.scalar(None, pa.string()), values)


def _prepared(values: pa.Array, column: Column, label: str, first_row: int) -> pa.Array | None:
    """fastexcel's column made ready for :func:`conform`'s cast (``first_row`` numbers its first
    value); ``None`` for a date or time column read as text whose text does not all convert."""
    t = column.type
    if column.epoch:
        return values
    if pa.types.is_string(values.type) and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
        try:
            return values.cast(t)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        # A workbook's date-time has no zone: the table's timestamps are UTC.
        values = values.cast(pa.timestamp(values.type.unit, tz="UTC"))
        return values.cast(pa.date32()) if pa.types.is_date(t) else values
    if pa.types.is_floating(values.type) and (pa.types.is_integer(t) or pa.types.is_boolean(t)):
        allowed = (
            pc.equal(pc.trunc(values), values)
            if pa.types.is_integer(t)
            else pc.is_in(values, pa.array([0.0, 1.0]))
        )
        allowed = pc.and_kleene(allowed, pc.less(pc.abs(values), 2.0**63))
        if not pc.all(allowed).as_py():
            row = pc.index(allowed, False).as_py()
            raise NormalizeError(
                label,
                f"row {first_row + row}",
                column.name,
                reason=f"{shown(values[row].as_py())} does not fit {t}",
            )
        return values.cast(pa.int64()).cast(t) if pa.types.is_integer(t) else values.cast(t)
    return values
