"""The records splitter: the guessed separator is confirmed by the parse or the run is cut again
exactly, so every document gives the records ``json.loads`` gives, however it is laid out and
wherever the reads fall."""

import io
import json

import pyarrow as pa
import pyarrow.json as pj
import pytest

from export_pipelines.normalize import NormalizeError, jsonscan
from export_pipelines.normalize.jsonread import parse_records
from export_pipelines.normalize.jsonscan import RecordSplitter

OPTIONS = pj.ParseOptions(
    explicit_schema=pa.schema([("id", pa.string())]), unexpected_field_behavior="infer"
)


def _records(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"r{i}",
            # Nested objects that start with the records' own first key: the guessed separator
            # also matches inside them, so the guess must be rejected and the run cut exactly.
            "children": [{"id": f"c{i}a"}, {"id": f"c{i}b"}] if i % 7 == 0 else [],
            # The separator's bytes inside a string, escaped as JSON escapes them.
            "note": 'tricky },{"id": text \\ and "quotes"' if i % 5 == 0 else "plain",
        }
        for i in range(n)
    ]


def _ids(document: bytes, key: str | None) -> list[str]:
    ids: list[str] = []
    for _, table in parse_records(io.BytesIO(document), "doc.json", key, OPTIONS):
        assert table is not None
        ids += table.column("id").to_pylist()
    return ids


@pytest.mark.parametrize("chunk", [64, 4096, 1 << 20])
@pytest.mark.parametrize(
    "layout",
    [
        {"separators": (",", ":")},
        {"separators": (", ", ": ")},
        {"indent": 2},
    ],
    ids=["compact", "spaced", "pretty"],
)
@pytest.mark.parametrize("key", ["records", None])
def test_every_layout_gives_the_records_json_loads_gives(
    monkeypatch: pytest.MonkeyPatch, chunk: int, layout: dict, key: str | None
) -> None:
    monkeypatch.setattr(jsonscan, "CHUNK_BYTES", chunk)
    records = _records(300)
    value: object = {"records": records, "next": {"records": []}} if key else records
    document = json.dumps(value, **layout).encode()
    assert _ids(document, key) == [r["id"] for r in records]


def test_a_guess_is_used_where_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonscan, "CHUNK_BYTES", 4096)
    records = [{"id": f"r{i}", "n": i} for i in range(2000)]
    splitter = RecordSplitter(
        io.BytesIO(json.dumps({"records": records}).encode()), "d", "records", guess=True
    )
    guessed = exact = 0
    seen = []
    while (run := splitter.next_run()) is not None:
        seen += [json.loads(run.data[s:e])["id"] for s, e in run.record_spans()]
        if run.guessed:
            guessed += 1
            splitter.settle(True)
        else:
            exact += 1
    assert seen == [r["id"] for r in records]
    assert guessed > exact >= 1


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'{"records": [{"id": "a"} {"id": "b"}]}', "expected ',' or ']' after a record"),
        (b'{"records": [{"id": "a"},]}', "an empty element of the array"),
        (b'{"records": [{"id": "a"}]} x', "data after the end of the JSON document"),
        (b'{"records": [{"id": "a"}], "records": []}', 'a second "records" array'),
        (b'{"records": [{"id": "a"}', "it ends inside the records array"),
        (b'{"records": [{"id": "a\\"}]}', "is not a complete JSON document"),
    ],
)
def test_broken_documents_are_named(document: bytes, reason: str) -> None:
    with pytest.raises(NormalizeError, match=reason) as caught:
        _ids(document, "records")
    assert caught.value.file == "doc.json"
