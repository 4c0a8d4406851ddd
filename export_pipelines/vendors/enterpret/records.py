"""Enterpret FeedbackRecord → Arrow: the table's documented, stable schema.

Each result file is one JSON document ``{"records": [...]}`` (possibly hundreds of MB). No common
JSON reader streams such a document, so the ``records`` array is walked one record at a time with
ijson (C backend) and rows are built against a schema fixed up front — never inferred from the first
block, never dropping a key the first record happened to lack.

Column mapping (vendor field → column):
- ``id, source, orgID, type, originRecordID`` → ``id, source, org_id, type, origin_record_id`` (string)
- ``sourceTimestamp, ingestedAt`` (epoch seconds, as int or decimal string) → ``source_timestamp,
  ingested_at`` timestamp[ms, UTC]
- ``languages[]`` → ``languages`` list<struct<iso6393, iso6391, source>>
- ``predictions[]`` → ``predictions`` list<struct<label_id, kind, confidences list<double>>>, where
  ``kind`` is the name of the prediction's one typed member (``sentiment``, ``reason``, ``aspect``…)
  and ``confidences`` the confidences of its ``units``
- ``summary[]`` → ``summary`` list<string>
- ``metadata.keyValues`` → ``metadata`` map<string, struct<s list<string>, n list<double>,
  b list<bool>>> (the vendor's typed arrays)
- ``text`` → ``text`` struct<text, text_en>; ``conversation`` → ``conversation``
  struct<msgs, msgs_en> of list<struct<text, actor, actor_id>>; ``survey`` → ``survey``
  struct<responses, responses_en> of list<struct<question, answer, selected_options list<string>>>
- anything else the vendor adds → ``_rescued`` (JSON text of the unknown keys), so nothing is lost
  silently and a schema change shows up as non-null ``_rescued`` values.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson
import pyarrow as pa

_LANGUAGE = pa.struct([("iso6393", pa.string()), ("iso6391", pa.string()), ("source", pa.string())])
_PREDICTION = pa.struct(
    [("label_id", pa.string()), ("kind", pa.string()), ("confidences", pa.list_(pa.float64()))]
)
_TYPED_VALUES = pa.struct(
    [("s", pa.list_(pa.string())), ("n", pa.list_(pa.float64())), ("b", pa.list_(pa.bool_()))]
)
_MESSAGE = pa.struct([("text", pa.string()), ("actor", pa.string()), ("actor_id", pa.string())])
_ANSWER = pa.struct(
    [
        ("question", pa.string()),
        ("answer", pa.string()),
        ("selected_options", pa.list_(pa.string())),
    ]
)
_TS = pa.timestamp("ms", tz="UTC")

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        ("source", pa.string()),
        ("org_id", pa.string()),
        ("type", pa.string()),
        ("source_timestamp", _TS),
        ("ingested_at", _TS),
        ("origin_record_id", pa.string()),
        ("languages", pa.list_(_LANGUAGE)),
        ("predictions", pa.list_(_PREDICTION)),
        ("summary", pa.list_(pa.string())),
        ("metadata", pa.map_(pa.string(), _TYPED_VALUES)),
        ("text", pa.struct([("text", pa.string()), ("text_en", pa.string())])),
        (
            "conversation",
            pa.struct([("msgs", pa.list_(_MESSAGE)), ("msgs_en", pa.list_(_MESSAGE))]),
        ),
        (
            "survey",
            pa.struct([("responses", pa.list_(_ANSWER)), ("responses_en", pa.list_(_ANSWER))]),
        ),
        ("_rescued", pa.string()),
    ]
)

_KNOWN = frozenset(
    {
        "id",
        "source",
        "orgID",
        "type",
        "sourceTimestamp",
        "ingestedAt",
        "originRecordID",
        "languages",
        "predictions",
        "summary",
        "metadata",
        "text",
        "conversation",
        "survey",
    }
)


def _epoch_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return int(value) * 1000 if value.isdigit() else int(float(value) * 1000)
    return int(value * 1000)


def _prediction(item: dict[str, Any]) -> dict[str, Any]:
    kinds = [key for key in item if key != "labelID"]
    kind = kinds[0] if kinds else None
    units = (item.get(kind) or {}).get("units") if kind else None
    return {
        "label_id": item.get("labelID"),
        "kind": kind,
        "confidences": [unit.get("confidence") for unit in units] if units else None,
    }


def _messages(conversation: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if not conversation:
        return None
    return [
        {"text": m.get("text"), "actor": m.get("actor"), "actor_id": m.get("actorID")}
        for m in conversation.get("msgs") or []
    ]


def _answers(survey_response: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if not survey_response:
        return None
    return [
        {
            "question": qa.get("question"),
            "answer": qa.get("answer"),
            "selected_options": qa.get("selectedOptions"),
        }
        for qa in survey_response.get("responses") or []
    ]


def _metadata(metadata: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]] | None:
    key_values = (metadata or {}).get("keyValues")
    if not key_values:
        return None
    return [
        (key, {"s": v.get("s"), "n": v.get("n"), "b": v.get("b")}) for key, v in key_values.items()
    ]


def record_to_row(record: dict[str, Any]) -> dict[str, Any]:
    """One FeedbackRecord as a row of :data:`RECORD_SCHEMA`."""
    text = record.get("text")
    conversation = record.get("conversation")
    survey = record.get("survey")
    unknown = {key: value for key, value in record.items() if key not in _KNOWN}
    metadata = record.get("metadata")
    if metadata and set(metadata) - {"keyValues"}:
        unknown["metadata"] = {k: v for k, v in metadata.items() if k != "keyValues"}
    return {
        "id": record["id"],
        "source": record.get("source"),
        "org_id": record.get("orgID"),
        "type": record.get("type"),
        "source_timestamp": _epoch_ms(record.get("sourceTimestamp")),
        "ingested_at": _epoch_ms(record.get("ingestedAt")),
        "origin_record_id": record.get("originRecordID"),
        "languages": record.get("languages"),
        "predictions": [_prediction(p) for p in record["predictions"]]
        if record.get("predictions") is not None
        else None,
        "summary": record.get("summary"),
        "metadata": _metadata(metadata),
        "text": {"text": text.get("text"), "text_en": text.get("textEn")} if text else None,
        "conversation": {
            "msgs": _messages(conversation.get("conversation")),
            "msgs_en": _messages(conversation.get("conversationEn")),
        }
        if conversation
        else None,
        "survey": {
            "responses": _answers(survey.get("surveyResponse")),
            "responses_en": _answers(survey.get("surveyResponseEn")),
        }
        if survey
        else None,
        "_rescued": json.dumps(unknown, ensure_ascii=False, default=str) if unknown else None,
    }


class EnterpretNormalizer:
    """Streams one ``{"records": [...]}`` file into record batches of :data:`RECORD_SCHEMA`."""

    schema = RECORD_SCHEMA

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._batches(path, batch_rows)
        except ijson.JSONError as exc:
            raise ValueError(f"{path.name} is not a complete records document: {exc}") from None

    def _batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        rows: list[dict[str, Any]] = []
        with path.open("rb") as f:
            for record in ijson.items(f, "records.item", use_float=True):
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError(f"{path.name}: a record without an id: {str(record)[:200]}")
                rows.append(record_to_row(record))
                if len(rows) >= batch_rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=RECORD_SCHEMA)
                    rows = []
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=RECORD_SCHEMA)
