"""The documented FilterQuery tree: validated once, compiled to a predicate over record dicts.

Grammar (seed 004, PROTOCOLS §5.3):

* FilterQuery: exactly one of ``filter`` (a Filter) or ``operation``
  (``{"op": "AND"|"OR", "params": [FilterQuery, …]}``, recursive).
* Filter: exactly one of ``metadata {key, value, op}`` (``op`` ∈ EQ (default), GT, LT, GTE, LTE),
  ``languageISO6393``, ``source``, ``hasLabel`` (exactly one of ``aspect``/``reason``/``sentiment``
  set to ``true``).

The vendor leaves the encoding of a metadata ``value`` open (PROTOCOLS §6, N-5). The sandbox reads it
as a plain JSON scalar compared with the record's typed array ``{"s": [...]}`` / ``{"n": [...]}``,
matching when any element matches: a number is compared with the ``n`` elements; a string with the
``s`` elements (code-point order for GT/LT) and, when it reads as a number (``"4"``), also with the
``n`` elements, since this API sends numbers as strings elsewhere (``pageSize``, ``value``). A record
without the key never matches. Typed values, booleans, null, arrays and objects are refused with a
400, so a client that encodes values differently finds out at once rather than getting no rows.

Unknown fields are refused too: a misspelt field would otherwise silently widen the export.
"""

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from export_pipelines.decisions.enterpret import (
    FILTER_OPERATIONS,
    HAS_LABEL_KINDS,
    METADATA_OPERATORS,
)
from export_pipelines.sandbox.enterpret.errors import RequestError

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

FILTER_FIELDS = ("metadata", "languageISO6393", "source", "hasLabel")
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "GT": operator.gt,
    "LT": operator.lt,
    "GTE": operator.ge,
    "LTE": operator.le,
}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def compile_filter_query(query: object, where: str = "listRecords.filter") -> Predicate:
    """Validate a FilterQuery and return its predicate; ``where`` names it in error messages."""
    fields = _object(query, where, allowed=("filter", "operation"))
    present = [name for name in ("filter", "operation") if fields.get(name) is not None]
    if len(present) != 1:
        raise RequestError(f"{where}: exactly one of filter or operation must be set")
    if present[0] == "filter":
        return _compile_filter(fields["filter"], f"{where}.filter")
    return _compile_operation(fields["operation"], f"{where}.operation")


def matches(filter_query: object, record: Record) -> bool:
    """Whether ``record`` passes ``filter_query`` (None passes everything)."""
    if filter_query is None:
        return True
    return compile_filter_query(filter_query)(record)


def _object(value: object, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestError(f"{where}: must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise RequestError(f"{where}: unknown field(s) {unknown}; allowed: {list(allowed)}")
    return value


def _compile_operation(value: object, where: str) -> Predicate:
    fields = _object(value, where, allowed=("op", "params"))
    op = fields.get("op")
    if op not in FILTER_OPERATIONS:
        raise RequestError(f"{where}.op: must be one of {list(FILTER_OPERATIONS)}, got {op!r}")
    params = fields.get("params")
    if not isinstance(params, list) or not params:
        raise RequestError(f"{where}.params: must be a non-empty list of FilterQuery")
    children = [
        compile_filter_query(param, f"{where}.params[{index}]")
        for index, param in enumerate(params)
    ]
    if op == "AND":
        return lambda record: all(child(record) for child in children)
    return lambda record: any(child(record) for child in children)


def _compile_filter(value: object, where: str) -> Predicate:
    fields = _object(value, where, allowed=FILTER_FIELDS)
    present = [name for name in FILTER_FIELDS if fields.get(name) is not None]
    if len(present) != 1:
        raise RequestError(f"{where}: exactly one of {list(FILTER_FIELDS)} must be set")
    kind = present[0]
    argument = fields[kind]
    if kind == "metadata":
        return _compile_metadata(argument, f"{where}.metadata")
    if kind == "hasLabel":
        return _compile_has_label(argument, f"{where}.hasLabel")
    if not isinstance(argument, str) or not argument:
        raise RequestError(f"{where}.{kind}: must be a non-empty string")
    if kind == "source":
        return lambda record: record.get("source") == argument
    return lambda record: any(
        language.get("iso6393") == argument for language in record.get("languages") or ()
    )


def _compile_has_label(value: object, where: str) -> Predicate:
    fields = _object(value, where, allowed=HAS_LABEL_KINDS)
    for name, flag in fields.items():
        if not isinstance(flag, bool):
            raise RequestError(f"{where}.{name}: must be a boolean")
    chosen = [name for name in HAS_LABEL_KINDS if fields.get(name) is True]
    if len(chosen) != 1:
        raise RequestError(f"{where}: exactly one of {list(HAS_LABEL_KINDS)} must be true")
    kind = chosen[0]
    return lambda record: any(kind in prediction for prediction in record.get("predictions") or ())


def _compile_metadata(value: object, where: str) -> Predicate:
    fields = _object(value, where, allowed=("key", "value", "op"))
    key = fields.get("key")
    if not isinstance(key, str) or not key:
        raise RequestError(f"{where}.key: must be a non-empty string")
    op = fields.get("op") or "EQ"
    if op not in METADATA_OPERATORS:
        raise RequestError(f"{where}.op: must be one of {list(METADATA_OPERATORS)}, got {op!r}")
    compare = _COMPARATORS[op]
    target = fields.get("value")
    if target is None:
        raise RequestError(f"{where}.value: is required")
    if isinstance(target, bool) or not isinstance(target, str | int | float):
        raise RequestError(
            f"{where}.value: must be a plain string or number (compared with each element of "
            f"the record's s/n array), got {type(target).__name__}"
        )
    strings: str | None = target if isinstance(target, str) else None
    number: float | None = None
    if isinstance(target, int | float):
        number = target
    elif _NUMBER.fullmatch(target.strip()):
        number = float(target)

    def predicate(record: Record) -> bool:
        typed = ((record.get("metadata") or {}).get("keyValues") or {}).get(key)
        if not typed:
            return False
        if strings is not None and any(compare(s, strings) for s in typed.get("s") or ()):
            return True
        return number is not None and any(compare(n, number) for n in typed.get("n") or ())

    return predicate
