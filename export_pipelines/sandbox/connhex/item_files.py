"""An item's file (csv or xlsx) and the ZIP member names (C-2, C-6).

Timestamps are ``TIME_TEXT_FORMAT`` (decisions) in the format's zone with a colon in the offset
(``2024-03-10T01:30:00+01:00``), converted with numpy over whole columns. Numbers are written in
plain decimal with a dot (no exponent, shortest text that reads back to the same double), whatever
the CSV delimiter. CSV: UTF-8 without BOM, a header row, ``\\r\\n`` line ends, a cell quoted
only when it holds the delimiter, a quote, CR or LF (built column-wise with Arrow compute).
XLSX: one sheet ``export`` written by xlsxwriter in ``constant_memory`` mode (rows streamed to
disk), the header row, times as text (a spreadsheet date has no zone), values as numbers, absent
values as empty cells; past the sheet's 1,048,576 rows the job fails with a message saying so.
Files are written to a temporary name and renamed when whole.
"""

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xlsxwriter

from export_pipelines.decisions.connhex import DEFAULT_FILENAME
from export_pipelines.sandbox.connhex.request import ExportRequest

XLSX_MAX_ROWS = 1_048_576
SHEET_NAME = "export"


class TooManyRows(Exception):
    """An xlsx sheet cannot hold the item's rows."""


def member_names(request: ExportRequest) -> list[str]:
    """C-2: each item's file name in the ZIP, by item index (0-based, as a job's ``itemIndex``)."""
    stems = [item.filename or request.format.filename or DEFAULT_FILENAME for item in request.items]
    extension = request.format.extension
    return [
        f"{stem}-{index}.{extension}" if stems.count(stem) > 1 else f"{stem}.{extension}"
        for index, stem in enumerate(stems)
    ]


#: Offsets are looked up once per step of this many seconds present in a column.
_OFFSET_STEP_SECONDS = 900


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _offset(epoch_seconds: int, zone: tzinfo) -> int:
    offset = datetime.fromtimestamp(epoch_seconds, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _offsets(seconds: np.ndarray, zone: tzinfo) -> np.ndarray:
    """The zone's UTC offset at each time: once per step present, and per time only within a
    step that holds a change of offset (a DST switch)."""
    steps, inverse = np.unique(seconds // _OFFSET_STEP_SECONDS, return_inverse=True)
    first = np.array([_offset(int(s) * _OFFSET_STEP_SECONDS, zone) for s in steps])
    last = np.array([_offset((int(s) + 1) * _OFFSET_STEP_SECONDS - 1, zone) for s in steps])
    offsets = first.astype(np.int64)[inverse]
    changing = (first != last)[inverse]
    for index in np.flatnonzero(changing):
        offsets[index] = _offset(int(seconds[index]), zone)
    return offsets


def time_text(times: np.ndarray | pd.Series, zone: tzinfo) -> list[str]:
    """Unix seconds as ``TIME_TEXT_FORMAT`` in ``zone``, offset with a colon.

    Done with numpy over the whole column (pandas' zone-aware ``strftime`` is a Python loop, and
    was nine tenths of a file's writing time): offsets looked up per quarter hour, added, and the
    local time written by ``datetime_as_string``.
    """
    seconds = np.asarray(times, dtype=np.int64)
    if seconds.size == 0:
        return []
    offsets = _offsets(seconds, zone)
    distinct, inverse = np.unique(offsets, return_inverse=True)
    suffixes = np.array([_offset_text(int(offset)) for offset in distinct], dtype=object)
    local = (seconds + offsets).astype("datetime64[s]")
    text = np.datetime_as_string(local, unit="s").astype(object) + suffixes[inverse]
    return list(text)


def number_text(value: float) -> str:
    """Plain decimal with a dot, the shortest that reads back the same; empty for NaN."""
    if value != value:
        return ""
    return np.format_float_positional(value, unique=True, trim="-")


def number_texts(values: np.ndarray | pd.Series) -> pa.Array:
    """``number_text`` over a whole column: Arrow's shortest round-trip text, with the few values
    it writes with an exponent (below 1e-6, from 1e21) rewritten in plain decimal."""
    numbers = np.asarray(values, dtype=np.float64)
    text = pc.cast(pa.array(numbers, from_pandas=True), pa.string())
    exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if pc.any(exponent).as_py():
        cells = text.to_pylist()
        for index in np.flatnonzero(exponent.to_numpy(zero_copy_only=False)):
            cells[index] = number_text(float(numbers[index]))
        text = pa.array(cells, pa.string())
    return pc.fill_null(text, "")


def _csv_cells(column: pa.Array, delimiter: str) -> pa.Array:
    """RFC 4180 quoting where a cell needs it (the delimiter, a quote, CR or LF in it)."""
    needs = pc.or_(
        pc.match_substring(column, delimiter), pc.match_substring_regex(column, '["\r\n]')
    )
    if not pc.any(needs).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, column)


def _csv_lines(
    frame: pd.DataFrame, columns: Sequence[str], zone: tzinfo, delimiter: str
) -> memoryview:
    """The frame's rows as UTF-8 CSV bytes, built column-wise with Arrow compute."""
    cells = []
    for column in columns:
        if column == "time":
            text = pa.array(time_text(frame["time"], zone), pa.string())
        elif frame[column].dtype.kind == "f":
            text = number_texts(frame[column])
        else:
            text = pa.array(frame[column].astype(str).to_numpy(dtype=object), pa.string())
        cells.append(_csv_cells(text, delimiter))
    lines = pc.binary_join_element_wise(*cells, delimiter)
    lines = pc.binary_join_element_wise(lines, "\r\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
    data = lines.buffers()[2]
    assert data is not None
    return memoryview(data)[int(offsets[0]) : int(offsets[len(lines)])]


def write_item_file(
    path: Path,
    frames: Iterable[pd.DataFrame],
    columns: Sequence[str],
    extension: str,
    zone: tzinfo,
    delimiter: str,
) -> int:
    """Write ``frames`` (columns ``columns``; ``time`` in Unix seconds) to ``path`` atomically;
    returns the number of data rows. ``columns`` is ``LONG_COLUMNS`` or ``time`` plus labels."""
    temporary = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if extension == "csv":
            rows = _write_csv(temporary, frames, columns, zone, delimiter)
        else:
            rows = _write_xlsx(temporary, frames, columns, zone)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return rows


def _write_csv(
    path: Path, frames: Iterable[pd.DataFrame], columns: Sequence[str], zone: tzinfo, delimiter: str
) -> int:
    rows = 0
    with path.open("wb") as handle:
        header = _csv_cells(pa.array(list(columns), pa.string()), delimiter).to_pylist()
        handle.write((delimiter.join(header) + "\r\n").encode())
        for frame in frames:
            if len(frame):
                handle.write(_csv_lines(frame, columns, zone, delimiter))
                rows += len(frame)
    return rows


def _write_xlsx(
    path: Path, frames: Iterable[pd.DataFrame], columns: Sequence[str], zone: tzinfo
) -> int:
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    try:
        sheet = workbook.add_worksheet(SHEET_NAME)
        for column_index, column in enumerate(columns):
            sheet.write_string(0, column_index, column)
        row = 0
        for frame in frames:
            if row + len(frame) >= XLSX_MAX_ROWS:
                raise TooManyRows(
                    f"more than {XLSX_MAX_ROWS - 1} rows do not fit in an xlsx sheet; use csv"
                )
            cells = []
            for column in columns:
                if column == "time":
                    cells.append(time_text(frame["time"], zone))
                else:
                    cells.append(frame[column].tolist())
            for values in zip(*cells, strict=True):
                row += 1
                for column_index, value in enumerate(values):
                    if isinstance(value, float):
                        if value == value:
                            sheet.write_number(row, column_index, value)
                    else:
                        sheet.write_string(row, column_index, str(value))
        return row
    finally:
        workbook.close()
