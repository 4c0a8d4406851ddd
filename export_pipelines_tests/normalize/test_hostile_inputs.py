"""Hostile and broken files, for every reader: truncated gzip, truncated documents, a value of the
wrong type, a ZIP member named ``../../x``, gzip and zip bombs over the cap, XML entities.

Each case writes the same 3,000 records in one format, breaks the file one way, and checks that
the conversion fails with a :class:`NormalizeError` naming the file (and, where it applies, the
record and the column) and that no Parquet file, not even a temporary, is left behind.
"""

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from export_pipelines.normalize import Lineage, NormalizeError, write_parquet
from export_pipelines.normalize.readers import (
    Csv,
    Format,
    JsonApi,
    JsonArray,
    JsonLines,
    TabularNormalizer,
    Xlsx,
    Xml,
)
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.normalize.source import DEFAULT_LIMITS, Limits
from export_pipelines.vendors.enterpret.records import RECORD_SCHEMA, EnterpretNormalizer

TS = pa.timestamp("ms", tz="UTC")
EVENTS = TableSchema(
    [
        Column("id", pa.string(), nullable=False),
        Column("count", pa.int64()),
        Column("at", TS, source="ts"),
    ]
)
ROWS = 3_000
WRONG_ROW = 2_500  # the record whose count is "many" in the wrong-type files
LINEAGE = Lineage("events", "2024-03-01", "job-1", datetime(2024, 3, 2, tzinfo=UTC))
CAP = Limits(max_bytes=1 << 20)


def _records(wrong: bool) -> list[dict[str, object]]:
    return [
        {
            "id": f"e{i}",
            "count": "many" if wrong and i == WRONG_ROW else i,
            "ts": "2024-01-01T00:00:00Z",
        }
        for i in range(ROWS)
    ]


def _csv(records: list[dict[str, object]]) -> bytes:
    lines = ["id,count,ts", *(f"{r['id']},{r['count']},{r['ts']}" for r in records)]
    return ("\n".join(lines) + "\n").encode()


def _jsonl(records: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _json_array(records: list[dict[str, object]]) -> bytes:
    return json.dumps(records).encode()


def _jsonapi(records: list[dict[str, object]]) -> bytes:
    data = [
        {"id": r["id"], "type": "events", "attributes": {"count": r["count"], "ts": r["ts"]}}
        for r in records
    ]
    return json.dumps({"data": data, "links": {"next": None}}).encode()


def _xml(records: list[dict[str, object]]) -> bytes:
    items = "".join(
        f"<event><id>{r['id']}</id><count>{r['count']}</count><ts>{r['ts']}</ts></event>"
        for r in records
    )
    return f'<?xml version="1.0"?><events>{items}</events>'.encode()


def _xlsx(records: list[dict[str, object]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("data")
    sheet.write_row(0, 0, ["id", "count", "ts"])
    for i, r in enumerate(records, start=1):
        sheet.write_row(i, 0, [r["id"], r["count"], r["ts"]])
    book.close()
    return buffer.getvalue()


def _enterpret(records: list[dict[str, object]]) -> bytes:
    rows = [
        {"id": r["id"], "sourceTimestamp": r["count"] if r["count"] == "many" else 1704067200}
        for r in records
    ]
    return json.dumps({"records": rows}).encode()


class Reader:
    def __init__(
        self,
        name: str,
        encode: Callable[[list[dict[str, object]]], bytes],
        fmt: Format | None,
        wrong: str,
    ) -> None:
        self.name, self.encode, self.fmt = name, encode, fmt
        #: The message of the wrong-type file, naming the record and the column.
        self.wrong = wrong

    def normalizer(
        self, limits: Limits = DEFAULT_LIMITS
    ) -> TabularNormalizer | EnterpretNormalizer:
        if self.fmt is None:
            return EnterpretNormalizer()
        return TabularNormalizer(EVENTS, self.fmt, limits)

    def __repr__(self) -> str:
        return self.name


READERS = [
    Reader("csv", _csv, Csv(), rf": row {WRONG_ROW + 1}: column count: 'many' does not fit int64"),
    Reader("jsonl", _jsonl, JsonLines(), rf": line {WRONG_ROW + 1} \(byte \d+\): column count"),
    Reader("json", _json_array, JsonArray(), rf": record {WRONG_ROW} \(byte \d+\): column count"),
    Reader("jsonapi", _jsonapi, JsonApi(), rf": record {WRONG_ROW} \(byte \d+\): column "),
    Reader("xml", _xml, Xml(record="event"), rf": record {WRONG_ROW + 1}: column count"),
    Reader("xlsx", _xlsx, Xlsx(), rf": row {WRONG_ROW + 1}: column count"),
    # A number in most records and text in one: the record-by-record path names the record.
    Reader(
        "enterpret",
        _enterpret,
        None,
        rf": record {WRONG_ROW}: column sourceTimestamp: wrong type: .*'many'",
    ),
]
TEXT_READERS = [r for r in READERS if r.name != "xlsx"]
CAPPABLE = [r for r in READERS if r.fmt is not None]  # Enterpret's normalizer has the default cap


def _fails_without_parquet(
    tmp_path: Path, reader: Reader, path: Path, match: str, limits: Limits = DEFAULT_LIMITS
) -> NormalizeError:
    normalizer = reader.normalizer(limits)
    dest = tmp_path / "lake" / "data.parquet"
    with pytest.raises(NormalizeError, match=match) as caught:
        write_parquet(
            dest, normalizer.schema, [(path.name, normalizer.batches(path, 500))], LINEAGE
        )
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    return caught.value


@pytest.mark.parametrize("reader", READERS, ids=repr)
def test_the_good_file_converts(tmp_path: Path, reader: Reader) -> None:
    path = tmp_path / f"events.{reader.name}"
    path.write_bytes(reader.encode(_records(wrong=False)))
    normalizer = reader.normalizer()
    result = write_parquet(
        tmp_path / "out.parquet",
        normalizer.schema,
        [(path.name, normalizer.batches(path, 500))],
        LINEAGE,
    )
    assert result.rows == ROWS


@pytest.mark.parametrize("reader", TEXT_READERS, ids=repr)
def test_truncated_gzip(tmp_path: Path, reader: Reader) -> None:
    packed = gzip.compress(reader.encode(_records(wrong=False)))
    path = tmp_path / "events.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    error = _fails_without_parquet(
        tmp_path, reader, path, r"events\.gz: the compressed data is truncated or corrupt"
    )
    assert error.file == "events.gz"


TRUNCATED = {
    "csv": None,  # a CSV cut at a line end is a shorter CSV: nothing tells it was cut
    "jsonl": r"line 3000 \(byte \d+\): not valid JSON",
    "json": r"is not a complete JSON document \(truncated at byte \d+\?\)",
    "jsonapi": r"is not a complete JSON document \(truncated at byte \d+\?\)",
    "enterpret": r"is not a complete JSON document \(truncated at byte \d+\?\)",
    "xml": r"line 1: not well-formed XML",
    "xlsx": r"not a readable ZIP archive",
}


@pytest.mark.parametrize("reader", [r for r in READERS if TRUNCATED[r.name]], ids=repr)
def test_truncated_document(tmp_path: Path, reader: Reader) -> None:
    data = reader.encode(_records(wrong=False))
    path = tmp_path / "events.data"
    path.write_bytes(data[: len(data) - 40 if reader.name == "jsonl" else len(data) // 2])
    match = TRUNCATED[reader.name]
    assert match is not None
    error = _fails_without_parquet(tmp_path, reader, path, r"events\.data:? .*" + match)
    assert error.file == "events.data"


@pytest.mark.parametrize("reader", READERS, ids=repr)
def test_a_value_of_the_wrong_type(tmp_path: Path, reader: Reader) -> None:
    path = tmp_path / "events.data"
    path.write_bytes(reader.encode(_records(wrong=True)))
    _fails_without_parquet(tmp_path, reader, path, r"events\.data" + reader.wrong)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize("reader", READERS, ids=repr)
def test_a_zip_member_escaping_the_folder(tmp_path: Path, reader: Reader) -> None:
    path = _zip(
        tmp_path / "parts.zip",
        {"ok.data": reader.encode(_records(False)), "../../x": reader.encode(_records(False))},
    )
    _fails_without_parquet(
        tmp_path, reader, path, r"parts\.zip: member '\.\./\.\./x': a member name that escapes"
    )
    assert not (tmp_path.parent / "x").exists()


def _padded(reader: Reader) -> bytes:
    """The good file and 8 MB of whitespace after it: valid, and far over the 1 MB cap."""
    return reader.encode(_records(False)) + b"\n" * (8 << 20)


@pytest.mark.parametrize("reader", [r for r in CAPPABLE if r.name != "xlsx"], ids=repr)
def test_a_gzip_bomb_over_the_cap(tmp_path: Path, reader: Reader) -> None:
    path = tmp_path / "bomb.data"
    path.write_bytes(gzip.compress(_padded(reader)))
    assert path.stat().st_size < 1 << 20
    _fails_without_parquet(
        tmp_path, reader, path, r"bomb\.data: expands beyond the limit of 1,048,576", CAP
    )


@pytest.mark.parametrize("reader", CAPPABLE, ids=repr)
def test_a_zip_bomb_over_the_cap(tmp_path: Path, reader: Reader) -> None:
    if reader.name == "xlsx":  # the workbook itself is the ZIP: its sheet declares the size
        path = tmp_path / "bomb.xlsx"
        path.write_bytes(_xlsx(_records(False) * 10))
        match = r"the workbook declares [\d,]+ uncompressed bytes, beyond the limit of 1,048,576"
    else:
        path = _zip(tmp_path / "bomb.zip", {"big.data": _padded(reader)})
        match = r"its members declare [\d,]+ uncompressed bytes, beyond the limit of 1,048,576"
    assert path.stat().st_size < 1 << 20
    _fails_without_parquet(tmp_path, reader, path, match, CAP)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE events [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE events [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE events SYSTEM "http://127.0.0.1:9/events.dtd">',
    ],
    ids=["internal-entities", "external-entity", "external-dtd"],
)
def test_an_xml_dtd_or_entity_is_refused(tmp_path: Path, doctype: str) -> None:
    path = tmp_path / "events.xml"
    path.write_text(
        f'<?xml version="1.0"?>{doctype}<events><event><id>e1</id><count>1</count>'
        "<ts>2024-01-01T00:00:00Z</ts></event></events>",
        encoding="utf-8",
    )
    reader = next(r for r in READERS if r.name == "xml")
    _fails_without_parquet(tmp_path, reader, path, r"events\.xml: refused: DTDForbidden")


def test_the_enterpret_schema_is_the_one_written() -> None:
    assert EnterpretNormalizer().schema == RECORD_SCHEMA
