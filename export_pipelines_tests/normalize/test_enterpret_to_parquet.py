"""Enterpret files → Parquet: the schema is fixed, nothing is dropped, the write is atomic."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from export_pipelines.normalize import Lineage, write_parquet
from export_pipelines.vendors.enterpret.records import RECORD_SCHEMA, EnterpretNormalizer

LINEAGE = Lineage("feedback", "2024-03-01", "async-1", datetime(2024, 3, 2, tzinfo=UTC))

REVIEW = {
    "id": "r1",
    "source": "Playstore",
    "orgID": "org",
    "type": "RecordTypeReview",
    "metadata": {"keyValues": {"Rating": {"n": [1]}, "App id": {"s": ["us.zoom"]}}},
    "sourceTimestamp": "1721302089",
    "ingestedAt": 1721389257,
    "languages": [{"iso6393": "bul", "iso6391": "bg", "source": "detected"}],
    "predictions": [
        {"labelID": "l1", "sentiment": {}},
        {"labelID": "l2", "reason": {"units": [{"confidence": 0.5}, {"confidence": 1.0000001}]}},
    ],
    "summary": ['He said "great" \\ then\nleft', "日本語 🎉"],
    "text": {"text": "Отлично", "textEn": "Excellent"},
}
CONVERSATION = {
    "id": "c1",
    "type": "RecordTypeConversation",
    "sourceTimestamp": 1721302000,
    "conversation": {
        "conversation": {
            "msgs": [
                {"text": "hi", "actor": "user"},
                {"text": "hello", "actor": "agent", "actorID": "a7"},
            ]
        }
    },
    "newVendorField": {"nested": [1, 2]},
}
SURVEY = {
    "id": "s1",
    "type": "RecordTypeSurvey",
    "survey": {
        "surveyResponse": {
            "responses": [{"question": "Why?", "answer": "Price", "selectedOptions": ["a", "b"]}]
        },
        "surveyResponseEn": {"responses": [{"question": "Why?", "answer": "Price"}]},
    },
}


def _file(path: Path, records: list[dict], **extra: object) -> Path:
    path.write_text(json.dumps({"records": records, **extra}, ensure_ascii=False), encoding="utf-8")
    return path


def _write(tmp_path: Path, files: list[Path]):
    normalizer = EnterpretNormalizer()
    sources = ((f.name, normalizer.batches(f, batch_rows=2)) for f in files)
    return write_parquet(tmp_path / "lake" / "data.parquet", RECORD_SCHEMA, sources, LINEAGE)


def test_every_field_lands_typed_with_lineage(tmp_path: Path) -> None:
    first = _file(tmp_path / "part-0.json", [REVIEW, CONVERSATION])
    second = _file(tmp_path / "part-1.json", [SURVEY], nextPage=None)
    result = _write(tmp_path, [first, second])

    assert result.rows == 3 and result.rows_per_source == {"part-0.json": 2, "part-1.json": 1}
    table = pq.read_table(result.path)
    assert table.schema.remove_metadata() == result.schema.remove_metadata()
    rows = {row["id"]: row for row in table.to_pylist()}
    review = rows["r1"]
    assert review["source_timestamp"] == datetime(2024, 7, 18, 11, 28, 9, tzinfo=UTC)
    assert review["ingested_at"] == datetime(2024, 7, 19, 11, 40, 57, tzinfo=UTC)
    assert review["metadata"] == [
        ("Rating", {"s": None, "n": [1.0], "b": None}),
        ("App id", {"s": ["us.zoom"], "n": None, "b": None}),
    ]
    assert review["predictions"] == [
        {"label_id": "l1", "kind": "sentiment", "confidences": None},
        {"label_id": "l2", "kind": "reason", "confidences": [0.5, 1.0000001]},
    ]
    assert review["summary"] == REVIEW["summary"]
    assert review["text"] == {"text": "Отлично", "text_en": "Excellent"}
    assert review["_rescued"] is None
    conversation = rows["c1"]
    assert conversation["conversation"]["msgs"][1] == {
        "text": "hello",
        "actor": "agent",
        "actor_id": "a7",
    }
    assert json.loads(conversation["_rescued"]) == {"newVendorField": {"nested": [1, 2]}}
    assert conversation["source"] is None and conversation["languages"] is None
    survey = rows["s1"]
    assert survey["survey"]["responses"][0]["selected_options"] == ["a", "b"]
    assert survey["survey"]["responses_en"][0]["selected_options"] is None
    assert {row["_source_file"] for row in table.to_pylist()} == {"part-0.json", "part-1.json"}
    assert {row["_vendor_job_id"] for row in table.to_pylist()} == {"async-1"}


def test_no_records_still_writes_the_schema(tmp_path: Path) -> None:
    result = _write(tmp_path, [_file(tmp_path / "part-0.json", [])])
    table = pq.read_table(result.path)
    assert table.num_rows == 0 and "source_timestamp" in table.schema.names


def test_a_broken_file_leaves_the_previous_table_in_place(tmp_path: Path) -> None:
    good = _write(tmp_path, [_file(tmp_path / "part-0.json", [REVIEW])])
    before = good.path.read_bytes()
    broken = tmp_path / "part-1.json"
    broken.write_text('{"records": [{"id": "x"}, {"id": "y", "sourceTimestamp": ', encoding="utf-8")
    with pytest.raises(ValueError, match=r"part-1\.json is not a complete"):
        _write(tmp_path, [_file(tmp_path / "part-2.json", [REVIEW, SURVEY, CONVERSATION]), broken])
    assert good.path.read_bytes() == before
    assert [p.name for p in good.path.parent.iterdir()] == ["data.parquet"]


def test_a_record_without_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without an id"):
        _write(tmp_path, [_file(tmp_path / "part-0.json", [{"source": "x"}])])
