"""Every reader on small files, good ones and hostile or broken ones: each bad file fails with an
error naming the file, the place and the column, and no Parquet is written."""

import gzip
import io
import json
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from export_pipelines.normalize import Lineage, NormalizeError, write_parquet
from export_pipelines.normalize.readers import (
    Csv,
    JsonApi,
    JsonArray,
    JsonLines,
    TabularNormalizer,
    Xlsx,
    Xml,
)
from export_pipelines.normalize.schema import Column, TableSchema
from export_pipelines.normalize.source import Limits
from export_pipelines_tests.normalize.workbooks import write_workbook

TS = pa.timestamp("ms", tz="UTC")
ORDERS = TableSchema(
    [
        Column("order_id", pa.string(), source="Order ID", nullable=False),
        Column("note", pa.string(), source="Note"),
        Column("amount", pa.decimal128(12, 2), source="Amount"),
        Column("qty", pa.int64(), source="Qty"),
        Column("list_price", pa.float64(), source="price"),
        Column("net_price", pa.float64(), source="price", occurrence=2),
        Column("paid", pa.bool_(), source="Paid"),
        Column("day", pa.date32(), source="Day"),
        Column("created_at", TS, source="Created"),
        Column("shipped_at", TS, source="Shipped", epoch="s"),
    ]
)
HEADER = "Order ID;Note;Amount;Qty;price;price;Paid;Day;Created;Shipped"
LINES = [
    'A1;"semi; colon ""quoted""";12.50;3;9.5;8.25;true;2024-03-01;2024-03-01T10:00:00Z;1709287200',
    'A2;;0.10;;1;2;false;2024-03-02;2024-03-02T01:00:00+02:00;"1709287200.5"',
    'A3;"two\nlines";;7;;;;;;',
]
EXPECTED = [
    {
        "order_id": "A1",
        "note": 'semi; colon "quoted"',
        "amount": Decimal("12.50"),
        "qty": 3,
        "list_price": 9.5,
        "net_price": 8.25,
        "paid": True,
        "day": date(2024, 3, 1),
        "created_at": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "shipped_at": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "_rescued": None,
    },
    {
        "order_id": "A2",
        "note": None,
        "amount": Decimal("0.10"),
        "qty": None,
        "list_price": 1.0,
        "net_price": 2.0,
        "paid": False,
        "day": date(2024, 3, 2),
        "created_at": datetime(2024, 3, 1, 23, tzinfo=UTC),
        "shipped_at": datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC),
        "_rescued": None,
    },
    {
        "order_id": "A3",
        "note": "two\nlines",
        "amount": None,
        "qty": 7,
        "list_price": None,
        "net_price": None,
        "paid": None,
        "day": None,
        "created_at": None,
        "shipped_at": None,
        "_rescued": None,
    },
]
LINEAGE = Lineage("orders", "2024-03-01", "job-1", datetime(2024, 3, 2, tzinfo=UTC))


def _rows(normalizer: TabularNormalizer, path: Path) -> list[dict]:
    return pa.Table.from_batches(list(normalizer.batches(path, 2)), normalizer.schema).to_pylist()


def _csv_text(lines: list[str] = LINES, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def _fails_without_parquet(tmp_path: Path, normalizer: TabularNormalizer, path: Path, match: str):
    dest = tmp_path / "lake" / "data.parquet"
    with pytest.raises(NormalizeError, match=match) as caught:
        write_parquet(dest, normalizer.schema, [(path.name, normalizer.batches(path, 2))], LINEAGE)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
    return caught.value


def test_csv_plain_and_gzip_give_the_same_typed_rows(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    plain = tmp_path / "orders.csv"
    plain.write_text(_csv_text(), encoding="utf-8")
    packed = tmp_path / "orders.csv"  # same name: compression is told by the bytes
    assert _rows(normalizer, plain) == EXPECTED
    packed.write_bytes(gzip.compress(_csv_text().encode()))
    assert _rows(normalizer, packed) == EXPECTED


def test_csv_unknown_column_is_rescued_and_missing_one_refused(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    path = tmp_path / "orders.csv"
    path.write_text(
        _csv_text([line + ";x" for line in LINES[:2]], header=HEADER + ";Coupon"), encoding="utf-8"
    )
    rows = _rows(normalizer, path)
    assert [json.loads(r["_rescued"]) for r in rows] == [{"Coupon": "x"}, {"Coupon": "x"}]
    path.write_text(_csv_text(header=HEADER.replace("Qty", "Quantity")), encoding="utf-8")
    error = _fails_without_parquet(tmp_path, normalizer, path, "Qty: declared but missing")
    assert error.file == "orders.csv"


def test_csv_value_of_the_wrong_type_names_file_row_and_column(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    path = tmp_path / "orders.csv"
    bad = LINES[1].replace(";1;2;", ";abc;2;")
    path.write_text(_csv_text([LINES[0], LINES[0], bad]), encoding="utf-8")
    error = _fails_without_parquet(
        tmp_path, normalizer, path, r"orders\.csv: row 3: column list_price"
    )
    assert "'abc'" in str(error) and error.column == "list_price"


def test_csv_required_column_empty_is_refused(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    path = tmp_path / "orders.csv"
    path.write_text(_csv_text([LINES[0], ";" + LINES[1][3:]]), encoding="utf-8")
    _fails_without_parquet(tmp_path, normalizer, path, "row 2: column order_id: empty, but")


def test_truncated_gzip_fails_with_the_file_named(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    path = tmp_path / "orders.csv.gz"
    packed = gzip.compress((_csv_text() * 2000).encode())
    path.write_bytes(packed[: len(packed) // 2])
    _fails_without_parquet(tmp_path, normalizer, path, r"orders\.csv\.gz: the compressed data is")


def test_gzip_bomb_over_the_cap_is_refused(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"), Limits(max_bytes=1 << 20))
    path = tmp_path / "bomb.csv"
    path.write_bytes(gzip.compress((_csv_text() + LINES[0] * 0 + "\n" * (8 << 20)).encode()))
    _fails_without_parquet(tmp_path, normalizer, path, "beyond the limit of 1,048,576")


EVENTS = TableSchema(
    [
        Column("id", pa.string(), nullable=False),
        Column("count", pa.int64()),
        Column("score", pa.float64()),
        Column("at", TS, source="ts"),
        Column("price", pa.decimal128(10, 2)),
    ]
)


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


RECORDS = [
    {"id": "e1", "count": 1, "score": 0.5, "ts": "2024-01-01T00:00:00Z", "price": "1.20"},
    {"id": "e2", "count": None, "ts": "2024-01-01T00:00:01.250Z", "extra": {"a": [1]}},
]


def test_jsonl_gzip_with_rescue(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(gzip.compress(_jsonl(RECORDS) + b"\n"))
    rows = _rows(TabularNormalizer(EVENTS, JsonLines()), path)
    assert [r["id"] for r in rows] == ["e1", "e2"]
    assert rows[0]["price"] == Decimal("1.20") and rows[1]["score"] is None
    assert rows[1]["at"] == datetime(2024, 1, 1, 0, 0, 1, 250000, tzinfo=UTC)
    assert rows[0]["_rescued"] is None and json.loads(rows[1]["_rescued"]) == {"extra": {"a": [1]}}


def test_jsonl_wrong_type_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(_jsonl([*RECORDS, {"id": "e3", "count": "many"}]))
    error = _fails_without_parquet(
        tmp_path,
        TabularNormalizer(EVENTS, JsonLines()),
        path,
        r"events\.jsonl: line 3 \(byte \d+\)",
    )
    assert error.column == "count"


def test_json_array_and_truncated_json(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(EVENTS, JsonArray())
    path = tmp_path / "events.json"
    path.write_text(json.dumps(RECORDS, indent=2), encoding="utf-8")
    assert [r["id"] for r in _rows(normalizer, path)] == ["e1", "e2"]
    path.write_text(json.dumps(RECORDS)[:-30], encoding="utf-8")
    _fails_without_parquet(tmp_path, normalizer, path, r"events\.json is not a complete JSON")


def test_json_array_element_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([RECORDS[0], 5]), encoding="utf-8")
    _fails_without_parquet(
        tmp_path,
        TabularNormalizer(EVENTS, JsonArray()),
        path,
        r"record 1 \(byte \d+\): a record that is not an object",
    )


def test_jsonapi_attributes_flattened_id_and_type_kept(tmp_path: Path) -> None:
    schema = TableSchema(
        [
            Column("id", pa.string(), nullable=False),
            Column("kind", pa.string(), source="type"),
            Column("amount", pa.float64()),
            Column("created_at", TS, source="createdTime"),
        ]
    )
    doc = {
        "data": [
            {
                "id": "1",
                "type": "invoices",
                "attributes": {"amount": 5.5, "createdTime": "2024-01-01T00:00:00Z"},
            },
            {
                "id": "2",
                "type": "invoices",
                "attributes": {"amount": 1, "currency": "EUR"},
                "links": {"self": "/x"},
            },
        ],
        "links": {"next": None},
    }
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    rows = _rows(TabularNormalizer(schema, JsonApi()), path)
    assert [(r["id"], r["kind"], r["amount"]) for r in rows] == [
        ("1", "invoices", 5.5),
        ("2", "invoices", 1.0),
    ]
    assert rows[0]["created_at"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert rows[0]["_rescued"] is None and json.loads(rows[1]["_rescued"]) == {"currency": "EUR"}


XML_SCHEMA = TableSchema(
    [
        Column("id", pa.string(), source="@id", nullable=False),
        Column("amount", pa.decimal128(10, 2)),
        Column("paid", pa.bool_()),
        Column("note", pa.string()),
    ]
)


def test_xml_records_streamed(tmp_path: Path) -> None:
    path = tmp_path / "tx.xml"
    path.write_text(
        '<?xml version="1.0"?><list><tx id="t1"><amount>1.50</amount><paid>true</paid>'
        '<note></note></tx><tx id="t2"><amount>2</amount><coupon>Z</coupon></tx></list>',
        encoding="utf-8",
    )
    rows = _rows(TabularNormalizer(XML_SCHEMA, Xml(record="tx")), path)
    assert [(r["id"], r["amount"], r["paid"], r["note"]) for r in rows] == [
        ("t1", Decimal("1.50"), True, None),
        ("t2", Decimal("2.00"), None, None),
    ]
    assert json.loads(rows[1]["_rescued"]) == {"coupon": "Z"}


def test_xml_entity_declaration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tx.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<list><tx id="t1"><note>&b;</note></tx></list>',
        encoding="utf-8",
    )
    _fails_without_parquet(
        tmp_path,
        TabularNormalizer(XML_SCHEMA, Xml(record="tx")),
        path,
        r"tx\.xml: refused: DTDForbidden",
    )


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    return write_workbook(path, rows)


XLSX_SCHEMA = TableSchema(
    [
        Column("sku", pa.string(), source="SKU", nullable=False),
        Column("units", pa.int64(), source="Units"),
        Column("price", pa.float64(), source="Price"),
        Column("at", TS, source="At"),
    ]
)


def test_xlsx_rows_typed_empty_cells_null(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "stock.xlsx",
        [
            ["SKU", "Units", "Price", "At"],
            ["s1", 3, 1.5, datetime(2024, 1, 2)],
            [1001, None, 2, datetime(2024, 1, 2, 13, 30)],
        ],
    )
    rows = _rows(TabularNormalizer(XLSX_SCHEMA, Xlsx()), path)
    assert rows == [
        {
            "sku": "s1",
            "units": 3,
            "price": 1.5,
            "at": datetime(2024, 1, 2, tzinfo=UTC),
            "_rescued": None,
        },
        {
            "sku": "1001",
            "units": None,
            "price": 2.0,
            "at": datetime(2024, 1, 2, 13, 30, tzinfo=UTC),
            "_rescued": None,
        },
    ]


def test_xlsx_wrong_type_names_row_and_column(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "stock.xlsx", [["SKU", "Units", "Price", "At"], ["s1", 2.5, 1, None]])
    _fails_without_parquet(
        tmp_path, TabularNormalizer(XLSX_SCHEMA, Xlsx()), path, r"stock\.xlsx: row 1: column units"
    )


#: The CSV's orders as a workbook holds them: typed cells in A1 (date and date-time cells, a
#: boolean), text in A2 (ISO dates and times with an offset, a number as text), empty cells in A3.
ORDER_CELLS: list[list[object]] = [
    [*HEADER.split(";")],
    ["A1", 'semi; colon "quoted"', 12.5, 3, 9.5, 8.25, True, datetime(2024, 3, 1),
     datetime(2024, 3, 1, 10), 1709287200],
    ["A2", None, "0.10", None, 1, 2, "false", "2024-03-02", "2024-03-02T01:00:00+02:00",
     "1709287200.5"],
    ["A3", "two\nlines", None, 7, None, None, None, None, None, None],
]  # fmt: skip


def test_xlsx_typed_cells_and_text_give_the_csv_rows(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "orders.xlsx", ORDER_CELLS)
    assert _rows(TabularNormalizer(ORDERS, Xlsx()), path) == EXPECTED


def test_xlsx_repeated_header_next_to_a_name_like_a_renamed_one(tmp_path: Path) -> None:
    """fastexcel would call the second ``price`` ``price_1``, the name of another column."""
    table = TableSchema(
        [
            Column("first", pa.float64(), source="price"),
            Column("second", pa.float64(), source="price", occurrence=2),
            Column("literal", pa.string(), source="price_1"),
        ]
    )
    path = _xlsx(tmp_path / "p.xlsx", [["price", "price_1", "price"], [1, "x", 2]])
    assert _rows(TabularNormalizer(table, Xlsx()), path) == [
        {"first": 1.0, "second": 2.0, "literal": "x", "_rescued": None}
    ]
    plain = TableSchema([Column("literal", pa.string(), source="price_1")])
    assert _rows(TabularNormalizer(plain, Xlsx()), path) == [
        {"literal": "x", "_rescued": '{"price": 1.0, "price#2": 2.0}'}
    ]


@pytest.mark.parametrize(
    ("column", "cell", "reason"),
    [
        (2, 0.001, r"column amount: .*does not fit decimal128\(12, 2\)"),
        (3, "many", r"column qty: 'many' does not fit int64"),
        (6, 2, r"column paid: 2\.0 does not fit bool"),
        (8, "2024-03-01 10:00:00", r"column created_at: .*does not fit timestamp"),
        (9, "soon", r"column shipped_at: 'soon' does not fit timestamp"),
    ],
    ids=["decimal-digits-lost", "text-in-int", "number-as-bool", "naive-text-time", "bad-epoch"],
)
def test_xlsx_a_cell_that_does_not_fit_names_row_and_column(
    tmp_path: Path, column: int, cell: object, reason: str
) -> None:
    rows = [list(r) for r in ORDER_CELLS]
    rows[2][column] = cell
    path = _xlsx(tmp_path / "orders.xlsx", rows)
    _fails_without_parquet(
        tmp_path, TabularNormalizer(ORDERS, Xlsx()), path, r"orders\.xlsx: row 2: " + reason
    )


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_of_parts_read_one_after_another(tmp_path: Path) -> None:
    normalizer = TabularNormalizer(ORDERS, Csv(delimiter=";"))
    path = _zip(
        tmp_path / "parts.gz",  # a misleading name: the bytes say ZIP
        {
            "part-1.csv": _csv_text(LINES[:1]).encode(),
            "part-2.csv.gz": gzip.compress(_csv_text(LINES[1:]).encode()),
        },
    )
    assert _rows(normalizer, path) == EXPECTED


def test_zip_member_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "parts.zip", {"../../x": _csv_text().encode()})
    _fails_without_parquet(
        tmp_path,
        TabularNormalizer(ORDERS, Csv(delimiter=";")),
        path,
        r"member '\.\./\.\./x': a member name that escapes",
    )


def test_zip_bomb_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "parts.zip", {"big.csv": _csv_text().encode() + b"\n" * (4 << 20)})
    _fails_without_parquet(
        tmp_path,
        TabularNormalizer(ORDERS, Csv(delimiter=";"), Limits(max_bytes=1 << 20)),
        path,
        "beyond the limit of 1,048,576",
    )


def test_empty_text_in_a_zip_member_gzip_stream_still_detected_by_bytes() -> None:
    from export_pipelines.normalize.source import compression

    assert compression(gzip.compress(b"x")[:4]) == "gzip"
    assert compression(b"PK\x03\x04") == "zip"
    assert compression(io.BytesIO(b"a,b\n").read(4)) == "none"
