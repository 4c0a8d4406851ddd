"""Flat JSON Lines through the engine's own C parser, before pyarrow's reader.

HelloData's gzip JSONL (and any export of flat records) is one object per line of scalars. For
those, :mod:`._jsonlines` fills the declared columns' Arrow buffers in one pass with the GIL
released, at about a third of the CPU of ``pyarrow.json.read_json`` (docs/benchmarks.md). It
decides speed, not meaning: a run it cannot read exactly as pyarrow would (another value kind, a
nested value in a declared column, a number out of range, broken JSON or UTF-8, an unknown field
where the schema refuses them) comes back ``None`` and goes to pyarrow's reader, whose errors the
engine locates by line and column. ``test_flatlines.py`` holds it to pyarrow's results on
generated files.

One difference is deliberate: an undeclared field whose JSON type varies between lines (a list of
numbers and objects, a number here and text there) is marked for the rescue column like any other,
where pyarrow's reader, which must infer a column for it, refuses the run.

A schema that declares a column pyarrow would read as anything but text, an integer, a double or
a boolean has no plan (:func:`flat_plan` returns None) and is read by pyarrow alone.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from export_pipelines.normalize.jsonscan import Run

try:
    from export_pipelines.normalize import _jsonlines
except ImportError as exc:  # a source tree used without installing it
    raise ImportError(
        "export_pipelines.normalize._jsonlines is not built: install the package "
        "(`make install` or `pip install -e .`), which compiles it"
    ) from exc

#: The column of a parsed run that marks (valid = yes) the rows holding a non-null field no column
#: declares; its name is no JSON key's, and the reader rescues those rows' unknown fields.
UNKNOWN_FIELDS = "\x00unknown"

_KINDS = {pa.string(): b"s", pa.int64(): b"i", pa.float64(): b"f", pa.bool_(): b"b"}
_TYPES = {b"s": pa.string(), b"i": pa.int64(), b"f": pa.float64(), b"b": pa.bool_()}


@dataclass(frozen=True)
class FlatPlan:
    """The JSON keys to read and the kind of each, as pyarrow's reader is told them (with the
    keys' UTF-8 and the kinds' Arrow types, made once rather than per run)."""

    names: tuple[str, ...]
    kinds: bytes
    rescue: bool
    keys: tuple[bytes, ...]
    types: tuple[pa.DataType, ...]


def flat_plan(fields: list[tuple[str, pa.DataType | None]], rescue: bool) -> FlatPlan | None:
    """A plan for ``(JSON key, type told to pyarrow)`` pairs; a None type is an epoch column's
    number, read as int64 (pyarrow infers int64 for whole numbers; a fraction or text is left to
    it). None when a type is not flat or two columns read one key."""
    names = tuple(name for name, _ in fields)
    if not names or len(set(names)) != len(names):
        return None
    kinds = b""
    for _, kind in fields:
        code = b"e" if kind is None else _KINDS.get(kind)
        if code is None:
            return None
        kinds += code
    keys = tuple(name.encode() for name in names)
    types = tuple(_TYPES.get(bytes([code]), pa.int64()) for code in kinds)
    return FlatPlan(names, kinds, rescue, keys, types)


def parse_flat(run: Run, plan: FlatPlan) -> pa.Table | None:
    """The run's records as a table of the plan's columns (plus :data:`UNKNOWN_FIELDS` when a row
    holds an undeclared field); None when the run is for pyarrow's reader."""
    parsed = _jsonlines.parse(run.data, plan.kinds, plan.keys, plan.rescue)
    if parsed is None:
        return None
    rows, columns, flags = parsed
    arrays = {}
    for name, kind, (valid, nulls, values, data) in zip(
        plan.names, plan.types, columns, strict=True
    ):
        buffers = [pa.py_buffer(valid) if nulls else None, pa.py_buffer(values)]
        if data is not None:
            buffers.append(pa.py_buffer(data))
        arrays[name] = pa.Array.from_buffers(kind, rows, buffers, null_count=nulls)
    if flags is not None:
        marked = np.frombuffer(flags, dtype=np.bool_)
        arrays[UNKNOWN_FIELDS] = pa.array(np.ones(rows, dtype=np.bool_), mask=~marked)
    return pa.table(arrays)
