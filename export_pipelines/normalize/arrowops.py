"""Arrow compute over whole arrays for the mappings vendors need: no Python per row.

Each helper handles one recurring shape of vendor JSON: a nested structure under the vendor's
field names that becomes the same structure under the table's names (:func:`retype`), epoch
seconds that arrive as numbers or as decimal text (:func:`epoch_to_timestamp`), an object whose
keys are data (``{"Country": {...}, "Rating": {...}}``, which pyarrow reads as a struct with one
field per key) that becomes a map (:func:`struct_to_map`), and "the first non-null member"
(:func:`first_member`).
"""

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def retype(array: pa.Array, source: pa.DataType, target: pa.DataType) -> pa.Array:
    """``array`` (read as ``source``, perhaps with extra inferred struct fields) as ``target``,
    a type of the same shape whose struct fields are matched by position to ``source``'s."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_struct(target):
        assert isinstance(source, pa.StructType) and isinstance(array, pa.StructArray)
        children = [
            retype(array.field(source.field(i).name), source.field(i).type, target.field(i).type)
            for i in range(target.num_fields)
        ]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=_null_mask(array))
    if pa.types.is_list(target):
        assert isinstance(source, pa.ListType) and isinstance(array, pa.ListArray)
        values = retype(array.values, source.value_type, target.value_type)
        return pa.ListArray.from_arrays(
            _offsets(array), values, type=target, mask=_null_mask(array)
        )
    return array if array.type == target else array.cast(target)


def _null_mask(array: pa.Array) -> pa.Array | None:
    return array.is_null() if array.null_count else None


def _offsets(array: pa.ListArray) -> pa.Array:
    offsets = array.offsets
    return offsets if offsets.null_count == 0 else offsets.fill_null(0)


def nested(array: pa.StructArray, *names: str) -> pa.Array:
    """``array.names[0].names[1]…``, null wherever a parent on the way is null."""
    current: pa.Array = array
    missing = pc.is_null(array)
    for name in names:
        assert isinstance(current, pa.StructArray)
        current = current.field(name)
        missing = pc.or_(missing, pc.is_null(current))
    if not pc.any(missing).as_py():
        return current
    return with_nulls(current, missing)


def with_nulls(array: pa.Array, mask: pa.Array) -> pa.Array:
    """``array`` null where ``mask`` is true (and where it already was). Lists and structs are
    rebuilt around their children, not copied: ``if_else`` on nested types copies every value."""
    if isinstance(array, pa.ListArray):
        return pa.ListArray.from_arrays(
            _offsets(array), array.values, type=array.type, mask=pc.or_(mask, array.is_null())
        )
    if isinstance(array, pa.StructArray):
        children = [array.field(i) for i in range(array.type.num_fields)]
        return pa.StructArray.from_arrays(
            children, fields=list(array.type), mask=pc.or_(mask, array.is_null())
        )
    return pc.if_else(mask, pa.scalar(None, array.type), array)


def null_when_empty(array: pa.StructArray) -> pa.Array:
    """A struct whose every field is null becomes null (the vendor's ``{}`` means absent)."""
    if array.type.num_fields == 0:
        return pa.nulls(len(array), array.type)
    empty = pc.is_null(array.field(0))
    for i in range(1, array.type.num_fields):
        empty = pc.and_(empty, pc.is_null(array.field(i)))
    mask = pc.or_(empty, array.is_null())
    if not pc.any(mask).as_py():
        return array
    children = [array.field(i) for i in range(array.type.num_fields)]
    return pa.StructArray.from_arrays(children, fields=list(array.type), mask=mask)


def epoch_to_timestamp(
    array: pa.Array,
    unit_seconds: float,
    target: pa.TimestampType,
    bad: Callable[[int, object], Exception],
) -> pa.Array:
    """Epoch numbers (int, float, or their decimal text; ``""`` is null) → ``target``.

    ``unit_seconds`` is the input's unit (1 for seconds, 0.001 for milliseconds). ``bad(row,
    value)`` builds the error for a value that is no epoch, located by a scan of this array only.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    scale = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[target.unit] * unit_seconds
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), target)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        try:  # text as a number needs no trimming first (nor a copy of every string)
            array = pc.cast(array, pa.float64())
        except pa.ArrowInvalid:
            array = _epoch_text(array, bad)
    if pa.types.is_integer(array.type) and scale == int(scale):
        values = pc.multiply(array.cast(pa.int64()), int(scale))
    elif pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        values = pc.trunc(pc.multiply(array.cast(pa.float64()), scale))
        finite = pc.is_finite(values)
        if not pc.all(pc.or_kleene(finite, pc.is_null(values))).as_py():
            row = pc.index(finite, False).as_py()
            raise bad(row, array[row].as_py())
        values = values.cast(pa.int64())
    else:
        row = pc.index(pc.is_valid(array), True).as_py()
        if row < 0:
            return pa.nulls(len(array), target)
        raise bad(row, array[row].as_py())
    return values.cast(target)


def _epoch_text(array: pa.Array, bad: Callable[[int, object], Exception]) -> pa.Array:
    """Decimal text with spaces around it or empty (null) → float64; ``bad`` for the first value
    that is no number."""
    text = pc.utf8_trim_whitespace(array)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, array.type), text)
    try:
        return pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        for row, value in enumerate(text.to_pylist()):
            try:
                float(value) if value is not None else None
            except ValueError:
                raise bad(row, value) from None
        raise


def struct_to_map(
    array: pa.Array, value_type: pa.DataType, convert: Callable[[str, pa.Array], pa.Array]
) -> pa.Array:
    """A struct with one field per data key → ``map<string, value_type>``; a row with no key
    present is null. Entries are in key order: a JSON object is unordered, and the struct's
    field order is not even stable (pyarrow's reader infers it from blocks parsed in parallel,
    so two reads of one file differed in 40,000 of 200,000 rows), while a partition normalized
    again must give the same table."""
    n = len(array)
    map_type = pa.map_(pa.string(), value_type)
    if not isinstance(array, pa.StructArray) or array.type.num_fields == 0:
        return pa.nulls(n, map_type)
    fields = sorted(range(array.type.num_fields), key=lambda i: array.type.field(i).name)
    names = [array.type.field(i).name for i in fields]
    children = [array.field(i) for i in fields]
    present = np.vstack(
        [
            pc.and_(pc.is_valid(child), pc.is_valid(array)).to_numpy(zero_copy_only=False)
            for child in children
        ]
    )  # keys by rows
    # Only the present values are converted, key after key (Enterpret's records hold about 6 of
    # their 19 keys), then put in row order: the i-th present value of key k sits at
    # rank[k, row] of the key-major concatenation.
    items = pa.concat_arrays(
        [
            convert(name, child.filter(pa.array(present[k])))
            for k, (name, child) in enumerate(zip(names, children, strict=True))
        ]
    )
    rank = (np.cumsum(present.ravel()) - 1).reshape(present.shape)
    in_rows = present.T.ravel()
    take = rank.T.ravel()[in_rows]
    key_of = np.broadcast_to(np.arange(len(names))[:, None], present.shape).T.ravel()[in_rows]
    counts = present.sum(axis=0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    keys = pa.array(names, pa.string()).take(pa.array(key_of))
    return pa.MapArray.from_arrays(
        pa.array(offsets),
        keys,
        items.take(pa.array(take)),
        type=map_type,
        mask=pa.array(counts == 0),
    )


def first_member(array: pa.StructArray, skip: set[str]) -> tuple[pa.Array, np.ndarray, list[str]]:
    """For each row, the name of its first non-null field not in ``skip`` (null if none), the
    index of that field among the candidates (-1 if none) and the candidates' names."""
    names = [array.type.field(i).name for i in range(array.type.num_fields)]
    candidates = [name for name in names if name not in skip]
    n = len(array)
    if not candidates:
        return pa.nulls(n, pa.string()), np.full(n, -1), candidates
    valid = np.vstack(
        [pc.is_valid(array.field(name)).to_numpy(zero_copy_only=False) for name in candidates]
    )
    chosen = np.where(valid.any(axis=0), valid.argmax(axis=0), -1)
    kinds = pa.array(np.asarray(candidates, dtype=object)[np.maximum(chosen, 0)], pa.string())
    return pc.if_else(pa.array(chosen < 0), pa.scalar(None, pa.string()), kinds), chosen, candidates
