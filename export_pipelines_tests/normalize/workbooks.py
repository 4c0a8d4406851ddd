"""Workbooks for the XLSX reader's tests, written with xlsxwriter (not the reader's library)."""

from datetime import datetime
from pathlib import Path


def write_workbook(
    path: Path, rows: list[list[object]], *, inline: bool = False, sheets_before: int = 0
) -> Path:
    """``rows`` in a sheet ``data`` (after ``sheets_before`` small sheets), date-times as typed
    cells, None as no cell; shared strings unless ``inline`` (xlsxwriter's constant-memory mode
    writes inline strings)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": inline})
    for n in range(sheets_before):
        book.add_worksheet(f"other{n}").write_row(0, 0, ["not", "this", "one"])
    sheet = book.add_worksheet("data")
    date_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, date_format)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return path
