"""Columns as a reader found them → a batch of the declared table: the checks every format shares.

Each reader gathers a raw column per declared column (its own types, or text) and hands them to
:func:`conform`, which casts each to its declared type with Arrow, turns epoch numbers or text into
UTC timestamps, and fails naming the file, the row and the column when a value does not fit or a
required one is missing. Fields no column declares go to ``_rescued`` as JSON text of the row's
non-null unknown fields (:func:`rescue_columns`, only for the rows that have any).
"""

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from export_pipelines.normalize import arrowops
from export_pipelines.normalize.errors import NormalizeError, shown
from export_pipelines.normalize.schema import Column, TableSchema


def conform(
    raw: pa.Table | dict[str, pa.Array],
    table: TableSchema,
    label: str,
    first_row: int,
    unit: str,
    rescued: pa.Array | None = None,
) -> pa.RecordBatch:
    """Columns keyed by :attr:`Column.key` → a batch of ``table.arrow()``."""
    n = raw.num_rows if isinstance(raw, pa.Table) else len(next(iter(raw.values()), []))
    arrays = []
    for column in table.columns:
        if isinstance(raw, pa.Table):
            present = column.key in raw.column_names
            values = raw.column(column.key).combine_chunks() if present else pa.nulls(n)
        else:
            values = raw.get(column.key, pa.nulls(n))
        arrays.append(convert_column(values, column, label, first_row, unit))
    if table.extra == "rescue":
        arrays.append(rescued if rescued is not None else pa.nulls(n, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=table.arrow())


def convert_column(
    values: pa.Array, column: Column, label: str, first_row: int, unit: str
) -> pa.Array:
    """One reader's column → ``column.type``; ``first_row`` numbers its first value."""
    target = column.type

    def bad(row: int, value: object) -> Exception:
        return NormalizeError(
            label,
            f"{unit} {first_row + row}",
            column.name,
            reason=f"{shown(value)} does not fit {target}",
        )

    if column.epoch:
        scale = 1 if column.epoch == "s" else 0.001
        result = arrowops.epoch_to_timestamp(values, scale, target, bad)
    elif values.type == target:
        result = values
    elif pa.types.is_null(values.type):
        result = pa.nulls(len(values), target)
    else:
        try:
            result = values.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            for row, value in enumerate(values.to_pylist()):
                try:
                    pa.array([value], values.type).cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                    raise bad(row, value) from None
            raise NormalizeError(label, None, column.name, reason=str(exc)) from None
    if not column.nullable and result.null_count:
        row = pc.index(pc.is_null(result), True).as_py()
        raise NormalizeError(
            label,
            f"{unit} {first_row + row}",
            column.name,
            reason="empty, but the column is required",
        )
    return result


def rescue_rows(rows: list[dict[str, Any]]) -> list[str | None]:
    out: list[str | None] = []
    for row in rows:
        kept = {k.replace("\x00", "#"): v for k, v in row.items() if v is not None}
        out.append(json.dumps(kept, ensure_ascii=False, default=str) if kept else None)
    return out


def rescue_columns(raw: pa.Table, extras: list[str]) -> pa.Array | None:
    """JSON of the unknown columns, only for the rows that have any (rare path)."""
    if not extras:
        return None
    flags = np.zeros(raw.num_rows, dtype=bool)
    for name in extras:
        flags |= raw.column(name).is_valid().to_numpy(zero_copy_only=False)
    if not flags.any():
        return pa.nulls(raw.num_rows, pa.string())
    values: list[str | None] = [None] * raw.num_rows
    rows = np.flatnonzero(flags)
    texts = rescue_rows(raw.select(extras).take(pa.array(rows)).to_pylist())
    for row, text in zip(rows.tolist(), texts, strict=True):
        values[row] = text
    return pa.array(values, pa.string())


def unique_keys(names: list[str]) -> list[str]:
    """Header names → keys, a repeated name's later occurrences as ``name\\x002``, ``name\\x003``
    (:attr:`Column.key`), so that repeated headers stay apart."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}\x00{seen[name]}")
    return keys
