"""The engine's C parser of flat JSON Lines against pyarrow's reader, which it stands in for.

It must read every run it accepts exactly as pyarrow reads it (generated files of every value
kind, escapes, key orders, blank lines and undeclared fields), and give back every run it cannot
decide exactly, so that pyarrow's reader and the engine's located errors take it.
"""

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from export_pipelines.normalize import NormalizeError, jsonread
from export_pipelines.normalize.flatlines import UNKNOWN_FIELDS, flat_plan, parse_flat
from export_pipelines.normalize.jsonscan import Run
from export_pipelines.normalize.readers import JsonLines, TabularNormalizer
from export_pipelines.normalize.schema import Column, TableSchema

#: (JSON key, the type pyarrow's reader is told; None: an epoch column, inferred).
FIELDS: list[tuple[str, pa.DataType | None]] = [
    ("name", pa.string()),
    ("count", pa.int64()),
    ("price", pa.float64()),
    ("paid", pa.bool_()),
    ("at", None),
    ("café ☕", pa.string()),
]
PLAN = flat_plan(FIELDS, rescue=True)
STRICT = flat_plan(FIELDS, rescue=False)

_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
_values = {
    "name": _text,
    "count": st.integers(-(2**63), 2**63 - 1),
    "price": st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False),
        st.integers(-(10**30), 10**30),
    ),
    "paid": st.booleans(),
    "at": st.integers(0, 2**40),
    "café ☕": _text,
}
#: Undeclared fields, each of one JSON type (pyarrow's reader infers them per run).
_unknown = {"extra": st.integers(), "nested": st.fixed_dictionaries({"k": st.lists(_text)})}


@st.composite
def records(draw) -> dict:
    record = {}
    keys = draw(st.permutations([*_values, *_unknown]))
    for key in keys[: draw(st.integers(0, len(keys)))]:
        values = _values[key] if key in _values else _unknown[key]
        record[key] = draw(st.one_of(st.none(), values))
    return record


def _pyarrow(data: bytes) -> pa.Table:
    declared = pa.schema([(k, t) for k, t in FIELDS if t is not None])
    options = pj.ParseOptions(explicit_schema=declared, unexpected_field_behavior="infer")
    return pj.read_json(pa.BufferReader(data), parse_options=options)


def _run(data: bytes) -> Run:
    return Run(data, 0, 1, None, unit="line")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(records(), min_size=1, max_size=30),
    ascii_only=st.booleans(),
    spaced=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n", "\n\n", "\n  \n"]),
)
def test_it_reads_what_pyarrow_reads(rows, ascii_only, spaced, newline) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    lines = [json.dumps(r, ensure_ascii=ascii_only, separators=separators) for r in rows]
    data = newline.join(lines).encode()
    assert PLAN is not None
    table = parse_flat(_run(data), PLAN)
    assert table is not None, data
    expected = _pyarrow(data)
    assert table.num_rows == expected.num_rows == len(rows)
    for key, kind in FIELDS:
        column = table.column(key)
        assert column.type == (kind or pa.int64())
        if key in expected.column_names:
            assert column.to_pylist() == expected.column(key).to_pylist(), key
        else:
            assert column.null_count == len(rows)
    marked = [any(r.get(k) is not None for k in _unknown) for r in rows]
    if any(marked):
        assert table.column(UNKNOWN_FIELDS).is_valid().to_pylist() == marked
    else:
        assert UNKNOWN_FIELDS not in table.column_names


REFUSED = {
    "text in an integer column": b'{"count": "3"}',
    "a fraction in an integer column": b'{"count": 1.0}',
    "an integer beyond int64": b'{"count": 9223372036854775808}',
    "a number in a text column": b'{"name": 5}',
    "an object in a text column": b'{"name": {"a": 1}}',
    "0 and 1 as booleans": b'{"paid": 1}',
    "an epoch with a fraction (pyarrow infers a double)": b'{"at": 1.5}',
    "an epoch as text": b'{"at": "1709287200"}',
    "a repeated key": b'{"name": "a", "name": "b"}',
    "a NUL escape": b'{"name": "\\u0000"}',
    "a lone surrogate": b'{"name": "\\ud800"}',
    "a raw control character": b'{"name": "a\tb"}',
    "invalid UTF-8": b'{"name": "\xff"}',
    "an encoded surrogate": b'{"name": "\xed\xa0\x80"}',
    "a leading zero": b'{"count": 01}',
    "a double out of range": b'{"price": 1e400}',
    "a subnormal double": b'{"price": 2.2250738585072011e-308}',
    "two objects on a line": b'{"name": "a"} {"name": "b"}',
    "an object across lines": b'{"name": "a",\n"count": 1}',
    "an array for a line": b"[1, 2]",
    "a truncated line": b'{"name": "a", "cou',
    "a missing comma": b'{"name": "a" "count": 1}',
    "a trailing comma": b'{"name": "a",}',
    "a bare word": b'{"name": nope}',
    "an undeclared number beyond a double": b'{"extra": 1e400}',
    "nesting too deep": b'{"extra": ' + b"[" * 300 + b"]" * 300 + b"}",
}


@pytest.mark.parametrize("line", REFUSED.values(), ids=REFUSED.keys())
def test_it_gives_back_what_it_does_not_decide(line: bytes) -> None:
    assert PLAN is not None
    good = b'{"name": "ok", "count": 1}\n'
    assert parse_flat(_run(good + line + b"\n" + good), PLAN) is None


def test_an_undeclared_field_is_refused_when_the_schema_refuses_them() -> None:
    assert PLAN is not None and STRICT is not None
    data = b'{"name": "a", "extra": null}\n{"name": "b", "extra": 1}'
    assert parse_flat(_run(data), STRICT) is None
    table = parse_flat(_run(data), PLAN)
    assert table is not None
    assert table.column(UNKNOWN_FIELDS).is_valid().to_pylist() == [False, True]


def test_schemas_it_cannot_read_have_no_plan() -> None:
    assert flat_plan([("a", pa.string()), ("a", pa.int64())], rescue=True) is None
    assert flat_plan([("a", pa.list_(pa.string()))], rescue=True) is None
    assert flat_plan([], rescue=True) is None


EVENTS = TableSchema(
    [
        Column("name", pa.string()),
        Column("count", pa.int64()),
        Column("at", pa.timestamp("ms", tz="UTC"), epoch="s"),
    ]
)


def test_the_reader_takes_the_fast_path_and_pyarrow_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of one run read by the C parser, one refused (a fractional epoch, which pyarrow
    reads), and one with a wrong value, which fails naming its line and column."""
    taken: list[bool] = []

    def counted(run: Run, plan):
        table = parse_flat(run, plan)
        taken.append(table is not None)
        return table

    monkeypatch.setattr(jsonread, "parse_flat", counted)
    normalizer = TabularNormalizer(EVENTS, JsonLines())
    fast = tmp_path / "fast.jsonl.gz"
    fast.write_bytes(gzip.compress(b'{"name": "a", "at": 1709287200, "new": [1]}\n{"count": 2}\n'))
    rows = [r for b in normalizer.batches(fast, 100) for r in b.to_pylist()]
    assert [r["name"] for r in rows] == ["a", None] and rows[1]["count"] == 2
    assert rows[0]["at"].isoformat() == "2024-03-01T10:00:00+00:00"
    assert json.loads(rows[0]["_rescued"]) == {"new": [1]} and rows[1]["_rescued"] is None
    assert taken == [True]

    slow = tmp_path / "slow.jsonl"
    slow.write_bytes(b'{"name": "b", "at": 1709287200.5}\n')
    rows = [r for b in normalizer.batches(slow, 100) for r in b.to_pylist()]
    assert rows[0]["at"].isoformat() == "2024-03-01T10:00:00.500000+00:00"
    assert taken == [True, False]

    wrong = tmp_path / "wrong.jsonl"
    wrong.write_bytes(b'{"name": "c"}\n{"count": "many"}\n')
    with pytest.raises(NormalizeError, match=r"wrong\.jsonl: line 2") as failed:
        list(normalizer.batches(wrong, 100))
    assert failed.value.column == "count"
