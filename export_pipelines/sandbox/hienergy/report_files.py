"""Writing one report file (a whole report or one part of a chunked one), streaming and atomic.

``*_csv`` reports are CSV: UTF-8 without BOM, a header row, RFC 4180 quoting and ``\\r\\n`` line ends;
dates ``2024-03-01``, datetimes ``2024-03-01T12:34:56Z``, booleans ``true`` / ``false``, money and
rates with two decimals. ``*_excel`` reports are XLSX (one sheet, a header row) with typed cells:
numbers, booleans, dates (``yyyy-mm-dd``) and UTC datetimes (``yyyy-mm-dd hh:mm:ss``) as Excel serial
dates, text as strings (never formulas), an empty text as an empty cell.

Rows are written as they come (xlsxwriter's constant-memory mode flushes each row), into a temporary
name that is renamed once the file is complete, so a download never sees half a file.
"""

import csv
import os
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from export_pipelines.decisions.hienergy import CSV_SUFFIX

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class WriteStopped(Exception):
    """The report failed or the sandbox closed while its file was being written."""


def is_csv(report_type: str) -> bool:
    return report_type.endswith(CSV_SUFFIX)


def extension(report_type: str) -> str:
    return ".csv" if is_csv(report_type) else ".xlsx"


def media_type(filename: str) -> str:
    return CSV_MEDIA_TYPE if filename.endswith(".csv") else XLSX_MEDIA_TYPE


def csv_text(value: Any) -> str:
    """How a CSV report spells a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def write_report_file(
    path: Path,
    report_type: str,
    columns: list[str],
    rows: Iterable[dict[str, Any]],
    should_stop: Callable[[], bool],
) -> int:
    """Write ``rows`` to ``path`` (atomically); the number of rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if is_csv(report_type):
            count = _write_csv(partial, columns, rows, should_stop)
        else:
            count = _write_xlsx(partial, report_type, columns, rows, should_stop)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_csv(
    path: Path, columns: list[str], rows: Iterable[dict[str, Any]], should_stop: Callable[[], bool]
) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            if count % 1000 == 0 and should_stop():
                raise WriteStopped
            writer.writerow([csv_text(row[column]) for column in columns])
            count += 1
    return count


def _write_xlsx(
    path: Path,
    report_type: str,
    columns: list[str],
    rows: Iterable[dict[str, Any]],
    should_stop: Callable[[], bool],
) -> int:
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "tmpdir": str(path.parent), "strings_to_formulas": False},
    )
    try:
        sheet = workbook.add_worksheet(report_type.removesuffix("_excel")[:31])
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        sheet.write_row(0, 0, columns)
        count = 0
        for row in rows:
            if count % 1000 == 0 and should_stop():
                raise WriteStopped
            line = count + 1
            for position, column in enumerate(columns):
                value = row[column]
                if isinstance(value, bool):
                    sheet.write_boolean(line, position, value)
                elif isinstance(value, int | float):
                    sheet.write_number(line, position, value)
                elif isinstance(value, datetime):
                    sheet.write_datetime(line, position, value.replace(tzinfo=None), moment)
                elif isinstance(value, date):
                    sheet.write_datetime(line, position, value, day)
                elif value != "":
                    sheet.write_string(line, position, str(value))
            count += 1
    finally:
        workbook.close()
    return count
