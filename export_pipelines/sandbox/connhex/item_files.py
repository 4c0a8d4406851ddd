"""An item's file (csv or xlsx) and the ZIP member names (C-2, C-6).

Timestamps are ``TIME_TEXT_FORMAT`` in the format's zone with a colon in the offset
(``2024-03-10T01:30:00+01:00``), converted with pandas over whole columns. Numbers are written in
plain decimal with a dot (no exponent, shortest text that reads back to the same double), whatever
the CSV delimiter. CSV: UTF-8 without BOM, a header row, ``\\r\\n`` line ends, minimal quoting.
XLSX: one sheet ``export`` written by xlsxwriter in ``constant_memory`` mode (rows streamed to
disk), the header row, times as text (a spreadsheet date has no zone), values as numbers, absent
values as empty cells; past the sheet's 1,048,576 rows the job fails with a message saying so.
Files are written to a temporary name and renamed when whole.
"""

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from export_pipelines.decisions.connhex import DEFAULT_FILENAME, TIME_TEXT_FORMAT
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


def time_text(times: np.ndarray | pd.Series, zone: tzinfo) -> list[str]:
    """Unix seconds as ``TIME_TEXT_FORMAT`` in ``zone``, offset with a colon."""
    moments = pd.to_datetime(np.asarray(times, dtype=np.int64), unit="s", utc=True)
    text = pd.Series(moments.tz_convert(zone).strftime(TIME_TEXT_FORMAT))
    return list(text.str[:-2] + ":" + text.str[-2:])


def number_text(value: float) -> str:
    """Plain decimal with a dot; empty for an absent value (NaN)."""
    if value != value:
        return ""
    return np.format_float_positional(value, unique=True, trim="-")


def _text_rows(frame: pd.DataFrame, columns: Sequence[str], zone: tzinfo) -> Iterator[list[str]]:
    cells: list[list[str]] = []
    for column in columns:
        if column == "time":
            cells.append(time_text(frame["time"], zone))
        elif frame[column].dtype.kind == "f":
            cells.append([number_text(value) for value in frame[column].tolist()])
        else:
            cells.append(frame[column].astype(str).tolist())
    for row in zip(*cells, strict=True):
        yield list(row)


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
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(columns)
        for frame in frames:
            writer.writerows(_text_rows(frame, columns, zone))
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
