"""Connhex ZIPs built here → the long table and the wide form, through the normalization engine."""

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from export_pipelines.normalize.errors import NormalizeError
from export_pipelines.normalize.source import Limits
from export_pipelines.vendors.connhex.records import (
    ConnhexNormalizer,
    ConnhexWideNormalizer,
    member_items,
)
from export_pipelines.vendors.connhex.request import ConnhexRequest

ROME = ZoneInfo("Europe/Rome")
COLUMNS = [
    {"id": "temperature", "label": "Temperature (°C)"},
    {"id": "power", "label": "Power; kW"},
]


def _request(
    output: str, extension: str = "csv", delimiter: str | None = None, items: int = 1
) -> ConnhexRequest:
    fmt: dict[str, Any] = {"extension": extension, "filename": "plant", "timezone": "Europe/Rome"}
    if output == "wide":
        fmt["columns"] = COLUMNS
    if delimiter:
        fmt["csvDelimiter"] = delimiter
    return ConnhexRequest.model_validate(
        {
            "format": fmt,
            "items": [
                {
                    "params": {
                        "target": {"value": f"urn:chx:device:{i}"},
                        "channelId": f"ch-{i}",
                        "subtopic": "events.data",
                        "outputFormat": output,
                    }
                }
                for i in range(items)
            ],
        }
    )


def _text(moment: datetime) -> str:
    """The decided timestamp text: local time in Rome with its offset, colon included."""
    local = moment.astimezone(ROME).strftime("%Y-%m-%dT%H:%M:%S%z")
    return local[:-2] + ":" + local[-2:]


#: Points of one channel across the spring DST change in Rome (02:00 local skipped on 31 March).
START = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
POINTS = [
    (START + timedelta(minutes=15 * k), name, value)
    for k in range(8)
    for name, value in (("temperature", 20.5 + k / 4), ("power", 3.0 * k))
    if not (name == "power" and k == 5)  # a gap: power absent at one time
]


def _long_csv(points: list[tuple[datetime, str, float]], delimiter: str = ",") -> bytes:
    lines = [delimiter.join(("publisher", "channel", "name", "unit", "time", "value"))]
    units = {"temperature": "Cel", "power": "kW"}
    for moment, name, value in points:
        lines.append(
            delimiter.join(("dev-1", "ch-0", name, units[name], _text(moment), f"{value}"))
        )
    return ("\n".join(lines) + "\n").encode()


def _wide_rows(points: list[tuple[datetime, str, float]]) -> list[list[Any]]:
    times = sorted({moment for moment, _, _ in points})
    cell = {(moment, name): value for moment, name, value in points}
    return [
        [_text(moment), *(cell.get((moment, c["id"]), "") for c in COLUMNS)] for moment in times
    ]


def _wide_csv(points: list[tuple[datetime, str, float]], delimiter: str = ";") -> bytes:
    header = delimiter.join(["time", *(f'"{c["label"]}"' for c in COLUMNS)])
    rows = [delimiter.join(str(v) for v in row) for row in _wide_rows(points)]
    return ("\n".join([header, *rows]) + "\n").encode()


def _wide_xlsx(points: list[tuple[datetime, str, float]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["time", *(c["label"] for c in COLUMNS)])
    for r, row in enumerate(_wide_rows(points), start=1):
        for c, value in enumerate(row):
            if value != "":
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _table(normalizer: Any, path: Path) -> pa.Table:
    return pa.Table.from_batches(list(normalizer.batches(path, 1000)), schema=normalizer.schema)


def _expected_long(points: list[tuple[datetime, str, float]]) -> list[tuple[datetime, str, float]]:
    return sorted((m, n, v) for m, n, v in points)


def _long_triples(table: pa.Table) -> list[tuple[datetime, str, float]]:
    rows = table.select(["time", "name", "value"]).to_pylist()
    return sorted((r["time"], r["name"], r["value"]) for r in rows)


def test_long_csv_is_the_long_table_with_utc_times(tmp_path: Path) -> None:
    path = _zip(tmp_path / "export.zip", {"plant.csv": _long_csv(POINTS)})
    table = _table(ConnhexNormalizer(_request("long")), path)
    assert table.schema.names == ["time", "publisher", "channel", "name", "unit", "value"]
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert table.num_rows == len(POINTS)
    assert _long_triples(table) == _expected_long(POINTS)
    first = table.slice(0, 1).to_pylist()[0]
    assert first == {
        "time": START,
        "publisher": "dev-1",
        "channel": "ch-0",
        "name": "temperature",
        "unit": "Cel",
        "value": 20.5,
    }


def test_wide_csv_becomes_long_rows_named_by_the_column_ids(tmp_path: Path) -> None:
    path = _zip(tmp_path / "export.zip", {"plant.csv": _wide_csv(POINTS)})
    request = _request("wide", delimiter=";")
    table = _table(ConnhexNormalizer(request), path)
    assert _long_triples(table) == _expected_long(POINTS)  # the empty cell is no row
    assert set(table.column("channel").to_pylist()) == {"ch-0"}
    assert set(table.column("publisher").to_pylist()) == {"urn:chx:device:0"}  # the one target
    assert table.column("unit").null_count == table.num_rows
    wide = _table(ConnhexWideNormalizer(request), path)
    assert wide.schema.names == ["time", "channel", "temperature", "power"]
    assert wide.num_rows == 8
    assert wide.column("power").to_pylist()[5] is None


def test_xlsx_reads_as_the_csv_does(tmp_path: Path) -> None:
    csv = _zip(tmp_path / "csv.zip", {"plant.csv": _wide_csv(POINTS)})
    xlsx = _zip(tmp_path / "xlsx.zip", {"plant.xlsx": _wide_xlsx(POINTS)})
    from_csv = _table(ConnhexWideNormalizer(_request("wide", delimiter=";")), csv)
    from_xlsx = _table(ConnhexWideNormalizer(_request("wide", extension="xlsx")), xlsx)
    assert from_xlsx.equals(from_csv)
    long_xlsx = _table(ConnhexNormalizer(_request("wide", extension="xlsx")), xlsx)
    assert _long_triples(long_xlsx) == _expected_long(POINTS)


def test_long_and_wide_parquet_agree(tmp_path: Path) -> None:
    """The long table of a long export, pivoted, is the wide form of the wide export of the same
    points; and the long table of the wide export is the long export's (time, name, value)."""
    long_path = _zip(tmp_path / "long.zip", {"plant.csv": _long_csv(POINTS)})
    wide_path = _zip(tmp_path / "wide.zip", {"plant.csv": _wide_csv(POINTS, delimiter=",")})
    long = _table(ConnhexNormalizer(_request("long")), long_path).to_pandas()
    wide = _table(ConnhexWideNormalizer(_request("wide")), wide_path).to_pandas()
    pivot = long.pivot(index="time", columns="name", values="value")[["temperature", "power"]]
    pd.testing.assert_frame_equal(
        pivot.reset_index(drop=False).rename_axis(columns=None),
        wide.drop(columns=["channel"]),
        check_dtype=False,
    )
    long_of_wide = _table(ConnhexNormalizer(_request("wide")), wide_path)
    assert _long_triples(long_of_wide) == _long_triples(pa.Table.from_pandas(long))


def test_items_are_read_member_after_member_each_with_its_channel(tmp_path: Path) -> None:
    request = _request("wide", items=2)
    assert member_items(request) == {"plant-0.csv": 0, "plant-1.csv": 1}
    later = [(m + timedelta(days=1), n, v) for m, n, v in POINTS]
    path = _zip(
        tmp_path / "export.zip",
        {"plant-0.csv": _wide_csv(POINTS, ","), "plant-1.csv": _wide_csv(later, ",")},
    )
    wide = _table(ConnhexWideNormalizer(request), path)
    assert wide.column("channel").to_pylist() == ["ch-0"] * 8 + ["ch-1"] * 8
    stray = _zip(tmp_path / "stray.zip", {"other.csv": _wide_csv(POINTS, ",")})
    with pytest.raises(NormalizeError, match=r"other\.csv is none of the items' files"):
        _table(ConnhexWideNormalizer(request), stray)


def test_a_member_named_to_escape_the_folder_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "export.zip", {"../x": _long_csv(POINTS)})
    with pytest.raises(NormalizeError, match=r"member '\.\./x'.*escapes"):
        _table(ConnhexNormalizer(_request("long")), path)
    assert not (tmp_path.parent / "x").exists()


def test_a_zip_bomb_over_the_cap_is_refused(tmp_path: Path) -> None:
    header = b"publisher,channel,name,unit,time,value\n"
    path = _zip(tmp_path / "export.zip", {"plant.csv": header + b"0" * (8 << 20)})
    assert path.stat().st_size < 100_000
    normalizer = ConnhexNormalizer(_request("long"), Limits(max_bytes=1 << 20))
    with pytest.raises(NormalizeError, match="beyond the limit of 1,048,576"):
        _table(normalizer, path)


def test_a_value_of_the_wrong_type_names_file_row_and_column(tmp_path: Path) -> None:
    text = _long_csv(POINTS[:3]).replace(b",20.75\n", b",warm\n")
    path = _zip(tmp_path / "export.zip", {"plant.csv": text})
    with pytest.raises(
        NormalizeError, match=r"export\.zip!plant\.csv: row 3: column value: 'warm'"
    ):
        _table(ConnhexNormalizer(_request("long")), path)


def test_a_time_without_its_offset_is_refused(tmp_path: Path) -> None:
    text = _long_csv(POINTS[:3]).replace(b"2024-03-31T01:15:00+01:00", b"2024-03-31T01:15:00")
    path = _zip(tmp_path / "export.zip", {"plant.csv": text})
    with pytest.raises(NormalizeError, match=r"row 3: column time: .*does not fit timestamp"):
        _table(ConnhexNormalizer(_request("long")), path)


def test_an_undeclared_column_is_refused_not_dropped(tmp_path: Path) -> None:
    text = _long_csv(POINTS[:2]).replace(b"value\n", b"value,created\n", 1)
    path = _zip(tmp_path / "export.zip", {"plant.csv": text})
    with pytest.raises(NormalizeError, match="created: not declared"):
        _table(ConnhexNormalizer(_request("long")), path)


def test_a_workbook_inside_the_zip_that_inflates_past_the_cap_is_refused(tmp_path: Path) -> None:
    book = io.BytesIO()
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as workbook:
        workbook.writestr("xl/workbook.xml", b"<workbook/>")
        workbook.writestr("xl/worksheets/sheet1.xml", b" " * (4 << 20))
    path = _zip(tmp_path / "export.zip", {"plant.xlsx": book.getvalue()})
    normalizer = ConnhexNormalizer(_request("long", extension="xlsx"), Limits(max_bytes=1 << 20))
    with pytest.raises(NormalizeError, match=r"plant\.xlsx: the workbook declares"):
        _table(normalizer, path)
