"""Schema drift through the vendors' own normalizers: each policy, four vendors and formats.

Each case writes two partitions of one export into a real lake folder: January in the declared
columns, February with one field more (in the middle of the CSV/XLSX header, a new key of JSON
records, present from the third row on, every third row). Then:

- rescue keeps February's values in ``_rescued``, the table's columns stay as declared;
- evolve adds the field as a string column at the end, January's file keeps its bytes, and the
  analytics' dataset read of both partitions gives nulls for January's rows;
- freeze fails February naming the file, the field and row 3, writing nothing.

And a changed type (a declared numeric column holding text) fails naming file, column and row.
"""

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from export_pipelines.analytics.lakeio import upstream_tables
from export_pipelines.lake import LakeResource
from export_pipelines.normalize import Lineage, NormalizeError
from export_pipelines.normalize.drift import Drift, DriftPolicy, write_parquet_with_drift
from export_pipelines.normalize.schema import RESCUED, TableSchema
from export_pipelines.vendors.base import Normalizer
from export_pipelines.vendors.enterpret.records import EnterpretNormalizer
from export_pipelines.vendors.hellodata import ADAPTER as HELLODATA
from export_pipelines.vendors.hienergy.records import NORMALIZERS as HIENERGY
from export_pipelines.vendors.rebilly.records import RebillyNormalizer

ROWS = 30
NEW = "loyalty_tier"
FIRST_DRIFT_ROW = 3  # counting the file's rows from 1


def _drifts(i: int) -> bool:
    return i % 3 == 2


def _cell(column_type: pa.DataType, name: str, i: int) -> Any:
    """A value of a declared column as the vendor writes it (typed where the format is)."""
    if pa.types.is_int64(column_type):
        return i + 1
    if pa.types.is_float64(column_type):
        return i + 0.5
    if pa.types.is_decimal(column_type):
        return f"{i}.25"
    if pa.types.is_boolean(column_type):
        return i % 2 == 0
    if pa.types.is_date32(column_type):
        return "2024-01-02"
    if pa.types.is_timestamp(column_type):
        return "2024-01-02T03:04:05Z"
    return f"{name}-{i}"


def _rows(table: TableSchema, drift: bool, wrong: str | None = None) -> list[dict[str, Any]]:
    """Records keyed by source name; ``NEW`` on the drifting rows; ``wrong`` holds text at row 3."""
    rows = []
    for i in range(ROWS):
        row = {c.source or c.name: _cell(c.type, c.name, i) for c in table.columns}
        if wrong is not None and i == FIRST_DRIFT_ROW - 1:
            row[wrong] = "lots"
        if drift:
            middle = list(row.items())
            middle.insert(2, (NEW, f"gold-{i}" if _drifts(i) else None))
            row = dict(middle)
        rows.append(row)
    return rows


def _csv(rows: list[dict[str, Any]]) -> bytes:
    def text(value: Any) -> str:
        return (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )

    lines = [",".join(rows[0]), *(",".join(text(v) for v in r.values()) for r in rows)]
    return ("\n".join(lines) + "\n").encode()


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("report")
    sheet.write_row(0, 0, list(rows[0]))
    for n, row in enumerate(rows, start=1):
        for k, value in enumerate(row.values()):
            if value is not None:
                sheet.write(n, k, value)
    book.close()
    return buffer.getvalue()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows
    ).encode()


def _enterpret_records(drift: bool, wrong: bool = False) -> bytes:
    records = []
    for i in range(ROWS):
        record: dict[str, Any] = {
            "id": f"fb-{i}",
            "source": "Zendesk",
            "sourceTimestamp": 1704067200 + i,
            "text": {"text": f"feedback {i}"},
        }
        if wrong and i == FIRST_DRIFT_ROW - 1:
            record["sourceTimestamp"] = "soon"
        if drift and _drifts(i):
            record[NEW] = {"tier": f"gold-{i}"}  # an object: its column holds its JSON text
        records.append(record)
    return json.dumps({"records": records}).encode()


def _hellodata_jsonl() -> Normalizer:
    request = HELLODATA.parse_request(
        {
            "format": "jsonl",
            "name": "Rent survey",
            "dataset": {
                "scopes": [
                    {"column": "msa"},
                    {"column": "as_of_month"},
                    {"column": "asking_rent", "aggregate": "Avg"},
                    {"column": "number_units", "aggregate": "Sum"},
                ],
                "filters": [{"column": "state", "filter": {"in": ["TN"]}}],
            },
        }
    )
    return HELLODATA.normalizer_for(request)


@dataclass
class Case:
    name: str
    normalizer: Callable[[], Normalizer]
    #: The file of a month: ``encode(drift)``.
    encode: Callable[[bool], bytes]
    #: The drifted value of row ``i`` as its column holds it.
    value: Callable[[int], Any]

    def __repr__(self) -> str:
        return self.name


def _tabular(name: str, key: str, writer: Callable[[list[dict[str, Any]]], bytes]) -> Case:
    normalizer = HIENERGY[key]
    table = normalizer.table  # type: ignore[attr-defined]
    return Case(
        name, lambda: normalizer, lambda drift: writer(_rows(table, drift)), lambda i: f"gold-{i}"
    )


def _hellodata_case() -> Case:
    table = _hellodata_jsonl().table  # type: ignore[attr-defined]
    return Case(
        "hellodata-jsonl",
        _hellodata_jsonl,
        lambda drift: _jsonl(_rows(table, drift)),
        lambda i: f"gold-{i}",
    )


CASES = [
    Case(
        "enterpret-json",
        EnterpretNormalizer,
        _enterpret_records,
        lambda i: {"tier": f"gold-{i}"},
    ),
    _tabular("hienergy-csv", "advertisers_csv", _csv),
    _tabular("hienergy-xlsx", "deals_excel", _xlsx),
    _hellodata_case(),
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Lake:
    """Two monthly partitions of one export in a real lake folder."""

    def __init__(self, root: Path, case: Case) -> None:
        self.lake = LakeResource(root=str(root / "lake"))
        self.raw = root / "raw"
        self.raw.mkdir()
        self.case = case

    def write(self, month: str, drift: bool, policy: DriftPolicy) -> tuple[Path, Drift]:
        normalizer = self.case.normalizer()
        raw = self.raw / f"{month}-report.data"
        raw.write_bytes(self.case.encode(drift))
        lineage = Lineage("report", month, f"job-{month}", datetime(2024, 3, 1, tzinfo=UTC))
        location = self.lake.table("vendor", "report", month)
        with self.lake.writing(location) as dest:
            _, found = write_parquet_with_drift(
                dest,
                normalizer.schema,
                [(raw.name, normalizer.batches(raw, 500))],
                lineage,
                policy,
            )
        return Path(str(location.path)), found


def _rescued(table: pa.Table) -> list[Any]:
    return [None if t is None else json.loads(t) for t in table.column(RESCUED.name).to_pylist()]


def _as_held(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value.startswith("{") else value


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_rescue_keeps_the_new_field_in_rescued(tmp_path: Path, case: Case) -> None:
    lake = Lake(tmp_path, case)
    january, none = lake.write("2024-01", drift=False, policy="rescue")
    february, drift = lake.write("2024-02", drift=True, policy="rescue")
    assert none.fields == ()
    assert [(f.name, f.file, f.row, f.kept_in) for f in drift.fields] == [
        (NEW, "2024-02-report.data", FIRST_DRIFT_ROW, "_rescued")
    ]
    assert drift.evolved_schema is None
    table = pq.read_table(february)
    assert table.schema == pq.read_schema(january)  # the declared columns, nothing added
    assert _rescued(table) == [{NEW: case.value(i)} if _drifts(i) else None for i in range(ROWS)]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_evolve_adds_a_column_and_leaves_earlier_partitions_alone(
    tmp_path: Path, case: Case
) -> None:
    lake = Lake(tmp_path, case)
    january, _ = lake.write("2024-01", drift=False, policy="evolve")
    before = _sha(january)
    february, drift = lake.write("2024-02", drift=True, policy="evolve")

    assert [(f.name, f.row, f.kept_in) for f in drift.fields] == [(NEW, FIRST_DRIFT_ROW, "column")]
    schema = pq.read_schema(february)
    old = pq.read_schema(january)
    assert schema.names == [*old.names, NEW]  # appended after every other column
    assert schema.field(NEW).type == pa.string() and schema.field(NEW).nullable
    assert drift.evolved_schema == schema
    table = pq.read_table(february)
    assert [_as_held(v) for v in table.column(NEW).to_pylist()] == [
        case.value(i) if _drifts(i) else None for i in range(ROWS)
    ]
    assert table.column(RESCUED.name).null_count == ROWS  # moved out, not copied
    assert _sha(january) == before

    both = upstream_tables(lake.lake, "vendor", "report", ["2024-01", "2024-02"])
    frame = both.dataset().to_table().to_pandas()
    assert len(frame) == 2 * ROWS
    by_month = frame.groupby("_partition")[NEW]
    assert by_month.count().to_dict() == {"2024-01": 0, "2024-02": ROWS // 3}
    # Read the other way round (the drifted file first) the old rows are still null, not dropped.
    reverse = upstream_tables(lake.lake, "vendor", "report", ["2024-02", "2024-01"])
    assert reverse.dataset().to_table(columns=[NEW, "_partition"]).num_rows == 2 * ROWS


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_freeze_refuses_the_file_naming_field_and_row(tmp_path: Path, case: Case) -> None:
    lake = Lake(tmp_path, case)
    january, _ = lake.write("2024-01", drift=False, policy="freeze")
    before = _sha(january)
    with pytest.raises(NormalizeError) as caught:
        lake.write("2024-02", drift=True, policy="freeze")
    message = str(caught.value)
    assert message.startswith(f"2024-02-report.data: row {FIRST_DRIFT_ROW}: column {NEW}: ")
    assert "schema_drift is freeze" in message and "gold" not in message  # no values shown
    assert not lake.lake.table("vendor", "report", "2024-02").exists()
    assert _sha(january) == before
    assert (lake.raw / "2024-02-report.data").exists()  # the raw file is kept


def test_a_field_named_like_a_table_column_stays_rescued_under_evolve(tmp_path: Path) -> None:
    """An undeclared field called ``_export`` cannot become a column beside the lineage one."""
    normalizer = HIENERGY["advertisers_csv"]
    table = normalizer.table  # type: ignore[attr-defined]
    rows = [{**r, "_export": "theirs", NEW: "gold"} for r in _rows(table, drift=False)]
    raw = tmp_path / "report.csv"
    raw.write_bytes(_csv(rows))
    lineage = Lineage("report", "2024-01", "job", datetime(2024, 3, 1, tzinfo=UTC))
    written, drift = write_parquet_with_drift(
        tmp_path / "out.parquet",
        normalizer.schema,
        [(raw.name, normalizer.batches(raw, 500))],
        lineage,
        "evolve",
    )
    assert {f.name: f.kept_in for f in drift.fields} == {"_export": "_rescued", NEW: "column"}
    out = pq.read_table(written.path)
    assert set(out.column("_export").to_pylist()) == {"report"}
    assert _rescued(out) == [{"_export": "theirs"}] * ROWS
    assert out.column(NEW).to_pylist() == ["gold"] * ROWS


# --- a changed type ---------------------------------------------------------------------------

CUSTOMER_JSON = {"id": "cus_1", "paymentCount": 3}


def _rebilly(fmt: str) -> bytes:
    records = [{**CUSTOMER_JSON, "id": f"cus_{i}"} for i in range(ROWS)]
    records[FIRST_DRIFT_ROW - 1]["paymentCount"] = "many"
    if fmt == "json":
        return json.dumps(records).encode()
    items = "".join(
        f"<record><id>{r['id']}</id><paymentCount>{r['paymentCount']}</paymentCount></record>"
        for r in records
    )
    return f"<customers>{items}</customers>".encode()


def _tabular_wrong(key: str, column: str, writer: Callable[[list[dict[str, Any]]], bytes]) -> bytes:
    table = HIENERGY[key].table  # type: ignore[attr-defined]
    return writer(_rows(table, drift=False, wrong=column))


CHANGED = [
    # (case, normalizer, file bytes, column named, where named)
    (
        "hienergy-csv",
        lambda: HIENERGY["advertisers_csv"],
        lambda: _tabular_wrong("advertisers_csv", "cookie_days", _csv),
        "cookie_days",
        "row 3",
    ),
    (
        "hienergy-xlsx",
        lambda: HIENERGY["deals_excel"],
        lambda: _tabular_wrong("deals_excel", "advertiser_id", _xlsx),
        "advertiser_id",
        "row 3",
    ),
    (
        "hellodata-jsonl",
        _hellodata_jsonl,
        lambda: _jsonl(_rows(_hellodata_jsonl().table, False, wrong="number_units_sum")),  # type: ignore[attr-defined]
        "number_units_sum",
        "line 3 (byte ",
    ),
    (
        "enterpret-json",
        EnterpretNormalizer,
        lambda: _enterpret_records(False, wrong=True),
        "sourceTimestamp",
        "record 2",
    ),
    (
        "rebilly-json",
        lambda: RebillyNormalizer("customers", "json"),
        lambda: _rebilly("json"),
        "paymentCount",
        "record 2 (byte ",
    ),
    (
        "rebilly-xml",
        lambda: RebillyNormalizer("customers", "xml"),
        lambda: _rebilly("xml"),
        "payment_count",
        "record 2",
    ),
]


@pytest.mark.parametrize(
    ("name", "normalizer", "content", "column", "where"), CHANGED, ids=[c[0] for c in CHANGED]
)
def test_a_changed_type_names_file_column_and_row(
    tmp_path: Path,
    name: str,
    normalizer: Callable[[], Normalizer],
    content: Callable[[], bytes],
    column: str,
    where: str,
) -> None:
    raw = tmp_path / f"{name}.data"
    raw.write_bytes(content())
    reader = normalizer()
    lineage = Lineage("report", "2024-01", "job", datetime(2024, 3, 1, tzinfo=UTC))
    dest = tmp_path / "lake" / "data.parquet"
    with pytest.raises(NormalizeError) as caught:
        write_parquet_with_drift(
            dest, reader.schema, [(raw.name, reader.batches(raw, 500))], lineage, "evolve"
        )
    message = str(caught.value)
    assert message.startswith(f"{raw.name}: {where}"), message
    assert f"column {column}" in message, message
    assert "many" in message or "lots" in message or "soon" in message
    assert not dest.exists() and raw.exists()
