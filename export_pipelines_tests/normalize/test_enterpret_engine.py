"""Enterpret on the engine: the fast path equals the record-by-record reference on the sandbox's
data, a file of the wrong shape is an error (never zero rows), and a wrong type names the file, the
record and the column."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from export_pipelines.normalize import Lineage, NormalizeError, jsonscan, write_parquet
from export_pipelines.normalize.arrowops import struct_to_map
from export_pipelines.sandbox.enterpret.dataset import FeedbackDataset
from export_pipelines.sandbox.enterpret.export_files import write_export
from export_pipelines.vendors.enterpret.records import (
    RECORD_SCHEMA,
    EnterpretNormalizer,
    record_to_row,
)

LINEAGE = Lineage("feedback", "2024-03-01", "async-1", datetime(2024, 3, 2, tzinfo=UTC))


def _sandbox_file(directory: Path, count: int) -> Path:
    dataset = FeedbackDataset(
        11, count, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    )
    _, paths = write_export(dataset.records(dataset.start_ts, dataset.end_ts), count, directory)
    return paths[0]


def _sorted_maps(rows: list[dict]) -> list[dict]:
    # Map entries keep pyarrow's field order within a run; a JSON object's keys are unordered.
    for row in rows:
        row["metadata"] = sorted(row["metadata"]) if row["metadata"] else row["metadata"]
    return rows


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_fast_path_equals_the_reference_mapping(tmp_path: Path, monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(jsonscan, "CHUNK_BYTES", chunk)
    path = _sandbox_file(tmp_path, 1500)
    fast = pa.Table.from_batches(list(EnterpretNormalizer().batches(path, 500)), RECORD_SCHEMA)
    records = json.loads(path.read_bytes())["records"]
    reference = pa.Table.from_pylist([record_to_row(r) for r in records], schema=RECORD_SCHEMA)
    assert fast.num_rows == 1500
    assert _sorted_maps(fast.to_pylist()) == _sorted_maps(reference.to_pylist())


def test_mixed_number_and_text_timestamps_in_one_run(tmp_path: Path) -> None:
    path = tmp_path / "0.json"
    records = [
        {"id": "a", "sourceTimestamp": 1721302089},
        {"id": "b", "sourceTimestamp": "1721302090.5"},
    ]
    path.write_text(json.dumps({"records": records}), encoding="utf-8")
    rows = pa.Table.from_batches(list(EnterpretNormalizer().batches(path, 10))).to_pylist()
    assert [r["source_timestamp"] for r in rows] == [
        datetime(2024, 7, 18, 11, 28, 9, tzinfo=UTC),
        datetime(2024, 7, 18, 11, 28, 10, 500000, tzinfo=UTC),
    ]


def _write(tmp_path: Path, path: Path):
    normalizer = EnterpretNormalizer()
    dest = tmp_path / "lake" / "data.parquet"
    return write_parquet(dest, RECORD_SCHEMA, [(path.name, normalizer.batches(path, 100))], LINEAGE)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"nextPage": None}, 'no "records" array'),
        ({"records": {"id": "x"}}, '"records" is an object, not an array'),
        ({"records": None}, 'no "records" array'),
        ([{"id": "x"}], "not a JSON document of the shape"),
    ],
)
def test_a_file_of_the_wrong_shape_fails_and_keeps_the_good_table(
    tmp_path: Path, document: object, reason: str
) -> None:
    good = tmp_path / "0.json"
    good.write_text(json.dumps({"records": [{"id": "r1"}]}), encoding="utf-8")
    before = _write(tmp_path, good).path.read_bytes()
    bad = tmp_path / "1.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(NormalizeError, match=reason) as caught:
        _write(tmp_path, bad)
    assert caught.value.file == "1.json"
    assert (tmp_path / "lake" / "data.parquet").read_bytes() == before
    assert [p.name for p in (tmp_path / "lake").iterdir()] == ["data.parquet"]


@pytest.mark.parametrize(
    ("record", "column", "reason"),
    [
        ({"id": "b", "sourceTimestamp": "abc"}, "sourceTimestamp", "not epoch seconds: 'abc'"),
        ({"id": "b", "text": "plain"}, "text", "wrong type"),
        ({"id": "b", "predictions": {"labelID": "x"}}, "predictions", "wrong type"),
        ({"id": "b", "languages": [{"iso6393": 5}]}, "languages", "wrong type"),
    ],
)
def test_a_wrong_type_names_file_record_and_column(
    tmp_path: Path, record: dict, column: str, reason: str
) -> None:
    path = tmp_path / "3.json"
    path.write_text(json.dumps({"records": [{"id": "a"}, record]}), encoding="utf-8")
    with pytest.raises(NormalizeError, match=reason) as caught:
        _write(tmp_path, path)
    error = caught.value
    assert error.file == "3.json" and error.location is not None
    assert error.location.startswith("record 1") and error.column is not None
    assert error.column.startswith(column)


def test_a_record_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    path = tmp_path / "0.json"
    path.write_text('{"records": [{"id": "a"}, 7]}', encoding="utf-8")
    with pytest.raises(
        NormalizeError, match=r"0\.json: record 1 \(byte 25\): a record that is not"
    ):
        _write(tmp_path, path)


def test_an_unknown_nested_metadata_field_is_rescued(tmp_path: Path) -> None:
    path = tmp_path / "0.json"
    records = [{"id": "a", "metadata": {"keyValues": {"K": {"s": ["v"]}}, "extra": 1}}, {"id": "b"}]
    path.write_text(json.dumps({"records": records}), encoding="utf-8")
    rows = pa.Table.from_batches(list(EnterpretNormalizer().batches(path, 10))).to_pylist()
    assert json.loads(rows[0]["_rescued"]) == {"metadata": {"extra": 1}}
    assert rows[0]["metadata"] == [("K", {"s": ["v"], "n": None, "b": None})]
    assert rows[1]["_rescued"] is None and rows[1]["metadata"] is None


def test_key_values_come_in_key_order_whatever_the_structs_field_order() -> None:
    """pyarrow's reader orders an object's inferred fields by the blocks it parsed in parallel,
    differently from one read to the next; the map's entries must not follow it."""

    def typed(name: str, child: pa.Array) -> pa.Array:
        return child.cast(pa.string())

    rows = [{"b": 1, "a": None}, {"a": 2}, {}, {"b": 3, "a": 4}]
    one = pa.array(rows, pa.struct([("b", pa.int64()), ("a", pa.int64())]))
    other = pa.array(rows, pa.struct([("a", pa.int64()), ("b", pa.int64())]))
    expected = [[("b", "1")], [("a", "2")], None, [("a", "4"), ("b", "3")]]
    assert struct_to_map(one, pa.string(), typed).to_pylist() == expected
    assert struct_to_map(other, pa.string(), typed).to_pylist() == expected
