"""A large sheet parsed as two halves at once must give exactly the rows, types and errors of the
same sheet parsed whole; a sheet it cannot cut safely is parsed whole."""

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from export_pipelines.normalize import NormalizeError, xlsxread, xlsxsplit
from export_pipelines.normalize.readers import TabularNormalizer, Xlsx
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines_tests.normalize.workbooks import write_workbook

TS = pa.timestamp("ms", tz="UTC")
TABLE = TableSchema(
    [
        Column("sku", pa.string(), source="SKU", nullable=False),
        Column("units", pa.int64(), source="Units"),
        Column("price", pa.float64(), source="Price"),
        Column("paid", pa.bool_(), source="Paid"),
        Column("at", TS, source="At"),
        Column("seen", TS, source="Seen", epoch="s"),
    ]
)
HEADER = ["SKU", "Units", "Price", "Paid", "At", "Seen", "Extra"]
ROWS = 3_000


def _rows(count: int = ROWS) -> list[list[object]]:
    start = datetime(2024, 1, 1)
    return [
        [
            f"s{i}",
            None if i % 7 == 0 else i,
            i / 4,
            i % 3 == 0,
            start + timedelta(minutes=i),
            1_704_067_200 + i,
            "x" if i % 500 == 0 else None,
        ]
        for i in range(count)
    ]


def _book(path: Path, rows: list[list[object]], *, inline: bool, before: int = 0) -> Path:
    return write_workbook(path, [HEADER, *rows], inline=inline, sheets_before=before)


@pytest.fixture
def cut(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every sheet is cut (small chunks, so that the cut falls inside a stream of them); the
    list records each sheet's fate: ``joined`` (read as halves), ``disagreed`` (cut, then read
    whole) or ``whole`` (not cut)."""
    monkeypatch.setattr(xlsxsplit, "SPLIT_BYTES", 1)
    monkeypatch.setattr(xlsxsplit, "_CHUNK", 8 << 10)
    monkeypatch.setattr(xlsxsplit, "_ROW_CONTEXT", 2 << 10)
    fates: list[str] = []
    halves = xlsxread._load_halves

    def recorded(*args, **kwargs):
        cuts: list[bool] = []

        def split(*a, **k) -> bool:
            cuts.append(xlsxsplit.split_sheet(*a, **k))
            return cuts[-1]

        with monkeypatch.context() as inner:
            inner.setattr(xlsxread, "split_sheet", split)
            loaded = halves(*args, **kwargs)
        fates.append("joined" if loaded else "disagreed" if cuts == [True] else "whole")
        return loaded

    monkeypatch.setattr(xlsxread, "_load_halves", recorded)
    return fates


FIRST_SHEET = Xlsx()


def _read(path: Path, fmt: Xlsx = FIRST_SHEET) -> list[dict]:
    normalizer = TabularNormalizer(TABLE, fmt)
    return [row for batch in normalizer.batches(path, 1000) for row in batch.to_pylist()]


def _whole(path: Path, monkeypatch: pytest.MonkeyPatch, fmt: Xlsx = FIRST_SHEET) -> list[dict]:
    with monkeypatch.context() as whole:
        whole.setattr(xlsxread, "_load_halves", lambda *args, **kwargs: None)
        return _read(path, fmt)


@pytest.mark.parametrize("inline", [True, False], ids=["inline-strings", "shared-strings"])
def test_the_halves_give_the_whole_sheets_rows(
    tmp_path: Path, cut: list[str], monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    path = _book(tmp_path / "stock.xlsx", _rows(), inline=inline)
    rows = _read(path)
    assert cut == ["joined"]
    assert rows == _whole(path, monkeypatch)
    assert len(rows) == ROWS and rows[-1]["sku"] == f"s{ROWS - 1}"
    assert rows[1234]["at"] == datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=1234)
    assert [r["_rescued"] for r in rows if r["_rescued"]] == ['{"Extra": "x"}'] * 6


def test_a_sheet_chosen_by_name_among_others(
    tmp_path: Path, cut: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _book(tmp_path / "stock.xlsx", _rows(), inline=False, before=2)
    assert _read(path, Xlsx(sheet="data")) == _whole(path, monkeypatch, Xlsx(sheet="data"))
    assert _read(path, Xlsx(sheet=2)) == _whole(path, monkeypatch, Xlsx(sheet=2))
    assert cut == ["joined", "joined"]


def test_halves_that_type_a_column_differently_are_read_whole(
    tmp_path: Path, cut: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Date-time cells, and ISO text in the last rows only: fastexcel types each half's column
    from its own cells (date-times above, a mix below), so the halves disagree and the whole
    sheet decides."""
    rows = _rows()
    for row in rows[-10:]:
        assert isinstance(row[4], datetime)
        row[4] = row[4].strftime("%Y-%m-%dT%H:%M:%SZ")
    path = _book(tmp_path / "stock.xlsx", rows, inline=True)
    read = _read(path)
    assert cut == ["disagreed"]
    assert read == _whole(path, monkeypatch)
    assert read[-1]["at"] == datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=ROWS - 1)


def test_a_wrong_cell_in_the_second_half_names_its_row(tmp_path: Path, cut: list[str]) -> None:
    rows = _rows()
    rows[2500][1] = "many"
    path = _book(tmp_path / "stock.xlsx", rows, inline=True)
    with pytest.raises(NormalizeError, match=r"stock\.xlsx: row 2501: column units") as failed:
        _read(path)
    assert "'many' does not fit int64" in str(failed.value)
    assert cut == ["joined"]


def test_a_fraction_in_a_whole_number_column_of_the_second_half_names_its_row(
    tmp_path: Path, cut: list[str]
) -> None:
    rows = _rows()
    rows[2600][1] = 2.5
    path = _book(tmp_path / "stock.xlsx", rows, inline=True)
    with pytest.raises(NormalizeError, match=r"row 2601: column units: 2\.5 does not fit int64"):
        _read(path)
    assert cut == ["joined"]


def test_date_time_cells_mixed_with_text_in_both_halves(
    tmp_path: Path, cut: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both halves mix the workbook's date-times with ISO text, so they agree on the column's
    type, and each half takes each cell the way it is held, as the whole sheet does."""
    rows = _rows()
    for i in range(0, ROWS, 100):
        rows[i][4] = (rows[i][4] + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+01:00")
    path = _book(tmp_path / "stock.xlsx", rows, inline=False)
    read = _read(path)
    assert cut == ["joined"]
    assert read == _whole(path, monkeypatch)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert [r["at"] for r in read] == [start + timedelta(minutes=i) for i in range(ROWS)]


def _rewritten(path: Path, change) -> bytes:
    """The workbook's bytes with its ``data`` sheet's XML changed."""
    with zipfile.ZipFile(path) as archive:
        member = xlsxsplit.worksheets(archive)[-1]
        out = path.with_suffix(".changed.xlsx")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in archive.infolist():
                body = archive.read(info)
                target.writestr(info.filename, change(body) if info.filename == member else body)
    return out.read_bytes()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda xml: xml.replace(b"<sheetData>", b"<!-- a note --><sheetData>"), "a comment"),
        (lambda xml: xml.replace(b"<sheetData>", b"<x:sheetData>"), "a namespace prefix"),
        (
            lambda xml: xml.replace(b'<row r="1"', b'<row r="1"/><row r="0"', 1),
            "an empty first row",
        ),
    ],
    ids=["comment", "prefixed", "empty-first-row"],
)
def test_sheets_it_does_not_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, why):
    monkeypatch.setattr(xlsxsplit, "SPLIT_BYTES", 1)
    data = _rewritten(_book(tmp_path / "stock.xlsx", _rows(200), inline=True), change)
    started: list[Path] = []
    assert xlsxsplit.split_sheet(data, 0, tmp_path, started.append) is False, why


def test_a_gap_at_the_middle_or_a_small_sheet_is_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every other row empty: no two rows meet where the sheet would be cut (fastexcel fills a
    gap with empty rows; a cut there would lose them)."""
    rows: list[list[object]] = []
    for row in _rows(400):
        rows += [row, [None] * len(row)]
    gappy = _book(tmp_path / "gappy.xlsx", rows, inline=True).read_bytes()
    small = _book(tmp_path / "small.xlsx", _rows(10), inline=True).read_bytes()
    assert xlsxsplit.split_sheet(small, 0, tmp_path, lambda p: None) is False
    monkeypatch.setattr(xlsxsplit, "SPLIT_BYTES", 1)
    assert xlsxsplit.split_sheet(gappy, 0, tmp_path, lambda p: None) is False
    assert xlsxsplit.split_sheet(small, 5, tmp_path, lambda p: None) is False
    assert xlsxsplit.split_sheet(small, "nope", tmp_path, lambda p: None) is False
    assert xlsxsplit.split_sheet(b"not a zip", 0, tmp_path, lambda p: None) is False


@pytest.mark.parametrize(("declared", "cut"), [(1, True), (3, False)], ids=["true", "a third"])
def test_a_sheet_inflating_past_its_declared_size_is_not_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declared: int, cut: bool
) -> None:
    """The archive's directory says how large the sheet is; more bytes than that is a lie (a
    bomb, or a broken file), and the copies stop there."""
    monkeypatch.setattr(xlsxsplit, "SPLIT_BYTES", 1)
    monkeypatch.setattr(xlsxsplit, "_INFLATE_STEP", 1 << 10)
    data = bytearray(_book(tmp_path / "stock.xlsx", _rows(2000), inline=True).read_bytes())
    with zipfile.ZipFile(tmp_path / "stock.xlsx") as archive:
        member = xlsxsplit.worksheets(archive)[-1]
        size = archive.getinfo(member).file_size
    entry = data.index(b"PK\x01\x02")  # the central directory's entries, the sheet's among them
    while data[entry + 46 : entry + 46 + len(member)] != member.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 24 : entry + 28] = (size // declared).to_bytes(4, "little")  # uncompressed size
    assert xlsxsplit.split_sheet(bytes(data), 0, tmp_path, lambda p: None) is cut
