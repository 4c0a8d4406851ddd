"""Enterpret FeedbackRecord → Arrow: the table's documented, stable schema.

Each result file is one JSON document ``{"records": [...]}`` (possibly hundreds of MB). The
normalization engine splits the ``records`` array into runs of newline-delimited records
(:mod:`export_pipelines.normalize.jsonscan`), pyarrow's C reader parses each run against the
vendor's shape declared below (:data:`VENDOR_SCHEMA`), and :mod:`.mapping` maps whole batches onto
the table schema with Arrow compute: no Python per record on the normal path. A file of another
shape (no ``records`` array, or an object there) is an error naming the file, never zero rows.

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
  silently and a schema change shows up as non-null ``_rescued`` values; the export's
  ``schema_drift`` then keeps it there, makes it a column or refuses the file (``normalize.drift``).
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from export_pipelines.normalize import arrowops
from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.jsonread import parse_records
from export_pipelines.normalize.jsonscan import Run
from export_pipelines.normalize.prefetch import prefetch
from export_pipelines.normalize.source import open_parts

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


_UNITS = pa.struct([("units", pa.list_(pa.struct([("confidence", pa.float64())])))])
_VENDOR_MESSAGE = pa.struct(
    [("text", pa.string()), ("actor", pa.string()), ("actorID", pa.string())]
)
_VENDOR_ANSWER = pa.struct(
    [
        ("question", pa.string()),
        ("answer", pa.string()),
        ("selectedOptions", pa.list_(pa.string())),
    ]
)
_VENDOR_TEXT = pa.struct([("text", pa.string()), ("textEn", pa.string())])
_VENDOR_CONVERSATION = pa.struct(
    [
        ("conversation", pa.struct([("msgs", pa.list_(_VENDOR_MESSAGE))])),
        ("conversationEn", pa.struct([("msgs", pa.list_(_VENDOR_MESSAGE))])),
    ]
)
_VENDOR_SURVEY = pa.struct(
    [
        ("surveyResponse", pa.struct([("responses", pa.list_(_VENDOR_ANSWER))])),
        ("surveyResponseEn", pa.struct([("responses", pa.list_(_VENDOR_ANSWER))])),
    ]
)
#: The vendor's record as pyarrow reads it. ``sourceTimestamp``/``ingestedAt`` are left out (the
#: vendor sends numbers or decimal text, and an explicit type accepts only one), as are
#: ``metadata``'s keys (they are data); pyarrow infers those, and fields the vendor adds.
VENDOR_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("orgID", pa.string()),
        ("type", pa.string()),
        ("originRecordID", pa.string()),
        ("languages", pa.list_(_LANGUAGE)),
        (
            "predictions",
            pa.list_(
                pa.struct(
                    [
                        ("labelID", pa.string()),
                        ("sentiment", _UNITS),
                        ("reason", _UNITS),
                        ("aspect", _UNITS),
                    ]
                )
            ),
        ),
        ("summary", pa.list_(pa.string())),
        ("metadata", pa.struct([])),
        ("text", _VENDOR_TEXT),
        ("conversation", _VENDOR_CONVERSATION),
        ("survey", _VENDOR_SURVEY),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=VENDOR_SCHEMA, unexpected_field_behavior="infer")
_EPOCHS = (("sourceTimestamp", "source_timestamp"), ("ingestedAt", "ingested_at"))


def _confidences(member: pa.Array) -> pa.Array:
    """``member.units[].confidence`` as list<double>; null where there are no units."""
    n = len(member)
    target = pa.list_(pa.float64())
    if not isinstance(member, pa.StructArray) or member.type.get_field_index("units") < 0:
        return pa.nulls(n, target)
    units = member.field("units")
    if not isinstance(units, pa.ListArray) or not pa.types.is_struct(units.type.value_type):
        return pa.nulls(n, target)
    values = units.values
    if values.type.get_field_index("confidence") < 0:
        return pa.nulls(n, target)
    mask = pc.or_(pc.is_null(units), pc.is_null(member))
    result = pa.ListArray.from_arrays(
        units.offsets, values.field("confidence").cast(pa.float64()), type=target, mask=mask
    )
    empty = pc.equal(pc.list_value_length(result), 0)
    if pc.any(empty).as_py():
        result = pc.if_else(empty, pa.scalar(None, target), result)
    return result


def _predictions(array: pa.Array) -> pa.Array:
    assert isinstance(array, pa.ListArray)
    items = array.values
    assert isinstance(items, pa.StructArray)
    kind, chosen, candidates = arrowops.first_member(items, {"labelID"})
    m = len(items)
    if candidates:
        stacked = pa.concat_arrays([_confidences(items.field(name)) for name in candidates])
        picks = np.maximum(chosen, 0) * m + np.arange(m)
        confidences = stacked.take(pa.array(picks))
        confidences = pc.if_else(
            pa.array(chosen < 0), pa.scalar(None, confidences.type), confidences
        )
    else:
        confidences = pa.nulls(m, pa.list_(pa.float64()))
    structs = pa.StructArray.from_arrays(
        [items.field("labelID"), kind, confidences], fields=list(_PREDICTION)
    )
    return pa.ListArray.from_arrays(
        array.offsets,
        structs,
        type=pa.list_(_PREDICTION),
        mask=array.is_null() if array.null_count else None,
    )


def _typed_values(name: str, value: pa.Array) -> pa.Array:
    children = []
    for member in ("s", "n", "b"):
        target = _TYPED_VALUES.field(member).type
        if isinstance(value, pa.StructArray) and value.type.get_field_index(member) >= 0:
            child = value.field(member)
            try:
                children.append(child if child.type == target else child.cast(target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise _TypedValueError(f"metadata.keyValues.{name}.{member}", str(exc)) from None
        else:
            children.append(pa.nulls(len(value), target))
    return pa.StructArray.from_arrays(children, fields=list(_TYPED_VALUES))


class _TypedValueError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason


def _unknown_rows(table: pa.Table) -> np.ndarray:
    """Rows that carry a field the schema does not know: top level, or beside ``keyValues``."""
    n = table.num_rows
    flags = np.zeros(n, dtype=bool)
    for name in table.column_names:
        if name not in _KNOWN:
            flags |= table.column(name).is_valid().to_numpy(zero_copy_only=False)
    metadata = table.column("metadata").combine_chunks()
    for i in range(metadata.type.num_fields):
        if metadata.type.field(i).name != "keyValues":
            flags |= pc.is_valid(metadata.field(i)).to_numpy(zero_copy_only=False)
    return flags


def map_table(table: pa.Table, run: Run, file: str) -> pa.RecordBatch:
    """Whole-table mapping of parsed vendor records onto :data:`RECORD_SCHEMA`."""
    n = table.num_rows
    ids = table.column("id").combine_chunks()
    if ids.null_count:
        row = pc.index(pc.is_null(ids), True).as_py()
        raise NormalizeError(file, _where(run, row), "id", reason="a record without an id")
    columns: dict[str, pa.Array] = {"id": ids}
    for vendor, column in (("source", "source"), ("orgID", "org_id"), ("type", "type")):
        columns[column] = table.column(vendor).combine_chunks()
    for vendor, column in _EPOCHS:
        if vendor not in table.column_names:
            columns[column] = pa.nulls(n, _TS)
            continue

        def bad(row: int, value: object, vendor: str = vendor) -> Exception:
            return NormalizeError(
                file, _where(run, row), vendor, reason=f"not epoch seconds: {shown(value)}"
            )

        columns[column] = arrowops.epoch_to_timestamp(table.column(vendor), 1, _TS, bad)
    columns["origin_record_id"] = table.column("originRecordID").combine_chunks()
    columns["languages"] = arrowops.retype(
        table.column("languages"), VENDOR_SCHEMA.field("languages").type, pa.list_(_LANGUAGE)
    )
    columns["predictions"] = _predictions(table.column("predictions").combine_chunks())
    columns["summary"] = table.column("summary").combine_chunks()
    metadata = table.column("metadata").combine_chunks()
    key_values = (
        metadata.field("keyValues")
        if metadata.type.get_field_index("keyValues") >= 0
        else pa.nulls(n)
    )
    try:
        columns["metadata"] = arrowops.struct_to_map(key_values, _TYPED_VALUES, _typed_values)
    except _TypedValueError as exc:
        raise NormalizeError(
            file,
            f"records {run.first_index} to {run.first_index + n - 1}",
            exc.column,
            reason=exc.reason,
        ) from None
    text = arrowops.null_when_empty(table.column("text").combine_chunks())
    columns["text"] = arrowops.retype(text, _VENDOR_TEXT, RECORD_SCHEMA.field("text").type)
    for vendor, column, inner, items, vendor_item, item in (
        ("conversation", "conversation", "conversation", "msgs", _VENDOR_MESSAGE, _MESSAGE),
        ("survey", "survey", "surveyResponse", "responses", _VENDOR_ANSWER, _ANSWER),
    ):
        outer = arrowops.null_when_empty(table.column(vendor).combine_chunks())
        lists = [
            arrowops.retype(
                arrowops.nested(outer, name, items), pa.list_(vendor_item), pa.list_(item)
            )
            for name in (inner, inner + "En")
        ]
        columns[column] = pa.StructArray.from_arrays(
            lists, fields=list(RECORD_SCHEMA.field(column).type), mask=outer.is_null()
        )
    columns["_rescued"] = _rescued(table, run, file)
    return pa.RecordBatch.from_arrays(
        [columns[field.name] for field in RECORD_SCHEMA], schema=RECORD_SCHEMA
    )


def _where(run: Run, row: int) -> str:
    return f"record {run.first_index + row}"


def _rescued(table: pa.Table, run: Run, file: str) -> pa.Array:
    """JSON of the unknown fields, from the record's own bytes (rare path: only rows that have
    any; exact, whatever types pyarrow inferred for them)."""
    flags = _unknown_rows(table)
    if not flags.any():
        return pa.nulls(table.num_rows, pa.string())
    values: list[str | None] = [None] * table.num_rows
    spans = run.record_spans()
    for row in np.flatnonzero(flags).tolist():
        start, end = spans[row]
        values[row] = _rescue_json(json.loads(run.data[start:end]))
    return pa.array(values, pa.string())


def _rescue_json(record: dict[str, Any]) -> str | None:
    unknown = {key: value for key, value in record.items() if key not in _KNOWN}
    metadata = record.get("metadata")
    if isinstance(metadata, dict) and set(metadata) - {"keyValues"}:
        unknown["metadata"] = {k: v for k, v in metadata.items() if k != "keyValues"}
    return json.dumps(unknown, ensure_ascii=False, default=str) if unknown else None


def _rows_one_by_one(run: Run, file: str) -> pa.RecordBatch:
    """The reference mapping, record by record: only for a run whose open field types vary
    between records (``sourceTimestamp`` a number here and text there), which pyarrow cannot
    read in one table."""
    rows = []
    for k, (start, end) in enumerate(run.record_spans()):
        record = json.loads(run.data[start:end])
        if "id" not in record or record["id"] is None:
            raise NormalizeError(file, _where(run, k), "id", reason="a record without an id")
        try:
            rows.append(record_to_row(record))
        except (ValueError, TypeError, AttributeError) as exc:
            raise NormalizeError(
                file, _where(run, k), _failing_field(record), reason=f"wrong type: {exc}"
            ) from None
    return pa.RecordBatch.from_pylist(rows, schema=RECORD_SCHEMA)


#: The fields pyarrow reads without a declared type (the epochs and ``metadata``), each with its
#: conversion: a record that fails :func:`record_to_row` fails one of these (every declared field
#: was checked by its own parse first).
_OPEN_FIELDS: tuple[tuple[str, Any], ...] = (
    ("sourceTimestamp", lambda r: _epoch_ms(r.get("sourceTimestamp"))),
    ("ingestedAt", lambda r: _epoch_ms(r.get("ingestedAt"))),
    ("metadata", lambda r: _metadata(r.get("metadata"))),
)


def _failing_field(record: dict[str, Any]) -> str | None:
    """The vendor field whose value does not convert, for the error to name (rare path)."""
    for name, convert in _OPEN_FIELDS:
        try:
            convert(record)
        except (ValueError, TypeError, AttributeError):
            return name
    return None


class EnterpretNormalizer:
    """Streams one ``{"records": [...]}`` file into record batches of :data:`RECORD_SCHEMA`."""

    schema = RECORD_SCHEMA

    def batches(self, path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """One batch per run of records (a few MB of JSON each): ``batch_rows`` bounded the rows
        the old reader built in Python; Arrow-parsed runs are bounded by bytes instead."""
        with open_parts(path) as parts:
            for part in parts:
                runs = parse_records(part.stream, part.label, "records", _PARSE)
                for run, table in prefetch(runs):
                    if table is None:
                        yield _rows_one_by_one(run, part.label)
                    else:
                        yield map_table(table, run, part.label)
