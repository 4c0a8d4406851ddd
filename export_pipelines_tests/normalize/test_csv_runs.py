"""CSV cut into runs of whole rows: wherever the reads fall, the runs hold exactly the rows
pyarrow reads from the whole file (quoted line breaks, doubled quotes, CRLF, a BOM, quotes where
RFC 4180 puts none), and a bad value is named by its row across the whole file."""

import csv
import gzip
import io
import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from export_pipelines.normalize import Lineage, NormalizeError, csvcut, write_parquet
from export_pipelines.normalize.csvcut import RowCutter
from export_pipelines.normalize.readers import Csv, TabularNormalizer
from export_pipelines.normalize.schema import Column, TableSchema

NAMES = ["id", "count", "note"]
EVENTS = TableSchema(
    [
        Column("id", pa.string(), nullable=False),
        Column("count", pa.int64()),
        Column("note", pa.string()),
    ]
)
LINEAGE = Lineage("events", "2024-03-01", "job-1", datetime(2024, 3, 2, tzinfo=UTC))
NOTES = ["plain", 'said "fine", then left', "two\nlines", "crlf\r\ninside", "", '""', "a,b"]


def _cut(data: bytes, run_bytes: int, quoted_newlines: bool = True):
    """The header, the runs, and (if the cutting stopped) what was left to stream."""
    cutter = RowCutter(io.BytesIO(data), '"', ",", quoted_newlines, run_bytes)
    head = cutter.header()
    runs = []
    while (run := cutter.next_run()) is not None:
        runs.append(run)
    rest = cutter.rest().read() if cutter.stopped else None
    return head, runs, rest


def _pyarrow_rows(data: bytes, columns: int) -> list[dict]:
    if not data:
        return []
    names = [str(i) for i in range(columns)]
    options = pcsv.ReadOptions(column_names=names)
    types = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()))
    return pcsv.read_csv(pa.BufferReader(data), options, convert_options=types).to_pylist()


def _rows_of_runs(runs: list[bytes], rest: bytes | None, columns: int) -> list[dict]:
    rows = []
    for run in [*runs, rest or b""]:
        rows += _pyarrow_rows(run, columns)
    return rows


def _document(rows: list[list[str]], terminator: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerows(rows)
    return out.getvalue().encode()


def _rfc_rows(n: int) -> list[list[str]]:
    return [NAMES] + [[f"e{i}", str(i), NOTES[i % len(NOTES)]] for i in range(n)]


@pytest.mark.parametrize("terminator", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_every_read_size_cuts_at_row_ends(terminator: str) -> None:
    """Run sizes from one byte to the whole file: every read ends once at each byte, so once
    exactly at each quote, inside each quoted line break and between the CR and the LF."""
    data = _document(_rfc_rows(12), terminator)
    expected = _pyarrow_rows(data, 3)
    for run_bytes in range(1, len(data) + 2):
        head, runs, rest = _cut(data, run_bytes)
        assert rest is None, run_bytes
        assert head is not None and list(csv.reader(io.StringIO(head.decode()))) == [NAMES]
        assert head + b"".join(runs) == data
        header = _pyarrow_rows(head, 3)
        assert header + _rows_of_runs(runs, rest, 3) == expected, run_bytes


_FIELD = st.text(alphabet='ab,"\n\r', max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_FIELD, min_size=3, max_size=3), min_size=1, max_size=12),
    terminator=st.sampled_from(["\n", "\r\n"]),
    run_bytes=st.integers(1, 80),
    strays=st.lists(st.integers(0, 10_000), max_size=3),
)
def test_runs_hold_the_rows_pyarrow_reads_from_the_whole_file(
    rows: list[list[str]], terminator: str, run_bytes: int, strays: list[int]
) -> None:
    """RFC 4180 files, and files with quotes pyarrow reads as plain characters (a quote put
    inside an unquoted field): the runs and the rest, if cutting stopped, give pyarrow's rows."""
    data = bytearray(_document([NAMES, *rows], terminator))
    body = len(_document([NAMES], terminator))
    for at in strays:  # a quote inside a field that does not start with one
        at = body + at % max(1, len(data) - body)
        if data[at - 1 : at] not in (b",", b"\n", b"\r", b'"'):
            data[at:at] = b'"'
    data = bytes(data)
    head, runs, rest = _cut(data, run_bytes)
    assert head is not None
    try:
        expected = _pyarrow_rows(data[len(head) :], 3)
    except pa.ArrowInvalid:
        assume(False)  # not a CSV pyarrow reads at all
    assert head + b"".join(runs) + (rest or b"") == data
    assert _rows_of_runs(runs, rest, 3) == expected
    if not strays:
        assert rest is None


def test_a_quote_inside_an_unquoted_field_stops_the_cutting_before_its_row() -> None:
    """``5'10"`` flips the count; a quoted line break further on would then look like a row
    end. The cutting stops at the row before, and the rest is handed back whole. (Read to its
    end at once, the file would be one run, which needs no cut.)"""
    data = b'id,count,note\ne1,1,ok\ne2,2,5\'10" tall\ne3,3,"two\nlines"\ne4,4,end\n'
    head, runs, rest = _cut(data, 16)
    assert head == b"id,count,note\n"
    assert b"".join(runs) == b"e1,1,ok\n"
    assert rest == data[len(head) + len(runs[0]) :]
    assert _rows_of_runs(runs, rest, 3) == _pyarrow_rows(data[len(head) :], 3)


def test_without_quoted_newlines_every_newline_ends_a_row() -> None:
    data = b'id,count,note\ne1,1,5\'10"\ne2,2,"x"\n'
    head, runs, rest = _cut(data, 4, quoted_newlines=False)
    assert (head, rest) == (b"id,count,note\n", None)
    assert runs == [b"e1,1,5'10\"\n", b'e2,2,"x"\n']


def test_no_row_end_within_the_bound_stops_the_cutting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvcut, "MAX_ROW_BYTES", 64)
    data = b'id,count,note\ne1,1,"' + b"long\n" * 40 + b'"\ne2,2,x\n'
    head, runs, rest = _cut(data, 16)
    assert head == b"id,count,note\n" and runs == []
    assert rest == data[len(head) :]


def test_header_only_and_empty_streams() -> None:
    assert _cut(b"", 8) == (b"", [], None)
    assert _cut(b"id,count,note", 8) == (b"id,count,note", [], None)
    assert _cut(b'"id\n1",count\r\n', 4) == (b'"id\n1",count\r\n', [], None)


# --- through the normalizer ----------------------------------------------------------------


def _events(n: int, bad_row: int | None = None, note=lambda i: NOTES[i % len(NOTES)]):
    return [
        {"id": f"e{i}", "count": "many" if i + 1 == bad_row else i, "note": note(i) or None}
        for i in range(n)
    ]


def _file(path: Path, records: list[dict], terminator: str = "\n", bom: bool = False) -> Path:
    rows = [NAMES] + [[r["id"], r["count"], r["note"] or ""] for r in records]
    # Written as is, unquoted: a quote inside an unquoted field, which csv.writer would quote.
    data = _document(rows, terminator).replace(b"STRAY", b"5'10\" tall")
    path.write_bytes(gzip.compress((b"\xef\xbb\xbf" if bom else b"") + data))
    return path


def _normalized(path: Path, table: TableSchema = EVENTS, fmt: Csv | None = None) -> pa.Table:
    normalizer = TabularNormalizer(table, fmt or Csv())
    return pa.Table.from_batches(list(normalizer.batches(path, 500)), normalizer.schema)


def _read(path: Path, fmt: Csv | None = None) -> list[dict]:
    return _normalized(path, fmt=fmt).drop_columns(["_rescued"]).to_pylist()


def _fails(tmp_path: Path, path: Path, match: str, table: TableSchema = EVENTS) -> NormalizeError:
    normalizer = TabularNormalizer(table, Csv())
    dest = tmp_path / "lake" / "events.parquet"
    with pytest.raises(NormalizeError, match=match) as caught:
        write_parquet(
            dest, normalizer.schema, [(path.name, normalizer.batches(path, 500))], LINEAGE
        )
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    return caught.value


@pytest.mark.parametrize("terminator", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_small_runs_give_every_row_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminator: str
) -> None:
    monkeypatch.setattr(csvcut, "RUN_BYTES", 97)
    records = _events(2_000)
    path = _file(tmp_path / "events.csv", records, terminator, bom=True)
    assert _read(path) == records


def test_a_bad_value_in_a_later_run_is_named_by_its_row(tmp_path: Path) -> None:
    """The real run size, a file of three runs: the row is counted across the whole file."""
    rows = 120_000
    bad = rows - 7
    note = '"a note, ""quoted"", long enough that the file is several runs of rows"'
    lines = ["id,count,note", *(f"e{i},{i},{note}" for i in range(rows))]
    lines[bad] = f"e{bad},many,{note}"
    text = "\n".join(lines) + "\n"
    assert len(text) > 2 * csvcut.RUN_BYTES
    path = tmp_path / "events.csv"
    path.write_text(text)
    error = _fails(tmp_path, path, rf"events\.csv: row {bad}: column count: 'many' does not")
    assert error.column == "count"


def test_bad_values_in_two_columns_of_one_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(csvcut, "RUN_BYTES", 4096)
    table = TableSchema([Column("id", pa.int64()), Column("count", pa.int64())])
    path = tmp_path / "events.csv"
    lines = ["id,count", *(f"{i},{i}" for i in range(3_000))]
    lines[2_001] = "x2000,2000"
    lines[2_003] = "2002,y"
    path.write_text("\n".join(lines) + "\n")
    normalizer = TabularNormalizer(table, Csv())
    with pytest.raises(NormalizeError, match=r"row (2001: column id|2003: column count)"):
        list(normalizer.batches(path, 500))


def test_a_required_value_missing_in_a_later_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(csvcut, "RUN_BYTES", 256)
    records = _events(3_000)
    records[2_499]["id"] = ""
    _fails(tmp_path, _file(tmp_path / "e.csv", records), r"row 2500: column id: empty, but")


def test_quotes_outside_rfc_4180_are_read_as_pyarrow_reads_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A quote inside an unquoted field early in the file: the rest is streamed, the rows are
    the same, and a bad value after it is still named by its row."""
    monkeypatch.setattr(csvcut, "RUN_BYTES", 512)
    records = _events(3_000)
    records[40]["note"] = "STRAY"
    path = _file(tmp_path / "events.csv", records)
    assert b"e40,40,5'10\" tall\n" in gzip.decompress(path.read_bytes())
    records[40]["note"] = "5'10\" tall"
    assert _read(path) == records
    records[40]["note"], records[2_600]["count"] = "STRAY", "many"
    _fails(tmp_path, _file(path, records), r"row 2601: column count: 'many' does not fit int64")


def test_header_only_file_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    for text in ("id,count,note", "id,count,note\r\n", "\ufeffid,count,note\n\n"):
        path.write_text(text, encoding="utf-8")
        assert _read(path) == []
    path.write_bytes(b"")
    _fails(tmp_path, path, r"events\.csv is empty: no header row")


def test_delimiter_and_quote_char_of_the_format(tmp_path: Path) -> None:
    rng = random.Random(7)
    records = _events(500, note=lambda i: rng.choice(["a;b", "x'y", "two\nlines", 'q"q']))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quotechar="'", lineterminator="\n")
    writer.writerows([NAMES] + [[r["id"], r["count"], r["note"]] for r in records])
    path = tmp_path / "events.csv"
    path.write_text(out.getvalue())
    assert _read(path, Csv(delimiter=";", quote_char="'")) == records


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_other_encodings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, encoding: str) -> None:
    """A Windows code page is cut like UTF-8; UTF-16, whose characters' bytes may hold a quote
    or a newline byte, is read by the streaming reader."""
    monkeypatch.setattr(csvcut, "RUN_BYTES", 64)
    records = _events(300, note=lambda i: ["café", 'dit "oui"', "deux\nlignes", "Ģ"][i % 4])
    if encoding == "cp1252":
        records = [{**r, "note": r["note"].replace("Ģ", "€")} for r in records]
    path = tmp_path / "events.csv"
    rows = [NAMES] + [[r["id"], r["count"], r["note"]] for r in records]
    path.write_bytes(_document(rows).decode().encode(encoding))
    assert _read(path, Csv(encoding=encoding)) == records


# --- an epoch column: int64 while it holds integers, text from the run where it does not -----

STAMPS = TableSchema(
    [
        Column("id", pa.string(), nullable=False),
        Column("at", pa.timestamp("ms", tz="UTC"), epoch="s"),
        Column("note", pa.string()),
    ]
)


def _stamps(tmp_path: Path, values: list[str], note=lambda i: "ok") -> Path:
    path = tmp_path / "stamps.csv"
    lines = ["id,at,note", *(f"s{i},{v},{note(i)}" for i, v in enumerate(values))]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _stamp_rows(path: Path) -> list[tuple[str, int | None]]:
    table = _normalized(path, STAMPS)
    millis = table.column("at").cast(pa.int64()).to_pylist()
    return list(zip(table.column("id").to_pylist(), millis, strict=True))


def _expected(values: list[str]) -> list[tuple[str, int | None]]:
    return [(f"s{i}", int(float(v) * 1000) if v.strip() else None) for i, v in enumerate(values)]


def test_epoch_text_in_a_later_run_is_read_as_text_from_there_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Whole seconds for many runs, then decimals and spaces: every row converted, none lost or
    repeated, whichever run first held text."""
    monkeypatch.setattr(csvcut, "RUN_BYTES", 256)
    values = [str(1_709_287_200 + i) for i in range(3_000)]
    values[2_100], values[2_101], values[2_900] = "1709287200.5", " 1709287201 ", ""
    assert _stamp_rows(_stamps(tmp_path, values)) == _expected(values)


def test_epoch_that_is_no_number_is_named_by_its_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(csvcut, "RUN_BYTES", 256)
    values = [str(1_709_287_200 + i) for i in range(3_000)]
    values[1_500], values[2_400] = "1709287200.25", "soon"
    _fails(tmp_path, _stamps(tmp_path, values), r"row 2401: column at: 'soon' does not fit", STAMPS)


def test_epoch_text_after_the_cutting_stopped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The streaming reader's path: the part read again with the column as text, the rows that
    were already yielded not yielded twice, and no error when the text converts."""
    monkeypatch.setattr(csvcut, "RUN_BYTES", 512)
    values = [str(1_709_287_200 + i) for i in range(3_000)]
    values[2_500] = "1709287200.75"
    path = _stamps(tmp_path, values, note=lambda i: "5'10\" tall" if i == 40 else "ok")
    assert _stamp_rows(path) == _expected(values)
    values[2_700] = "later"
    path = _stamps(tmp_path, values, note=lambda i: "5'10\" tall" if i == 40 else "ok")
    _fails(tmp_path, path, r"row 2701: column at: 'later' does not fit", STAMPS)


def test_epoch_milliseconds_past_two_to_the_53_are_exact(tmp_path: Path) -> None:
    table = TableSchema([Column("at", pa.timestamp("ms", tz="UTC"), epoch="ms")])
    path = tmp_path / "stamps.csv"
    path.write_text("at\n9007199254740993\n-9007199254740993\n")
    read = _normalized(path, table)
    assert read.column("at").cast(pa.int64()).to_pylist() == [2**53 + 1, -(2**53) - 1]
