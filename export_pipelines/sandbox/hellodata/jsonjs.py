"""JSON written as JavaScript's ``JSON.stringify`` writes it (H-1: ``PAYLOAD_SERIALIZATION``).

The vendor's sample verifier signs ``JSON.stringify(payload)``, so the sandbox must produce those
exact bytes: no whitespace, keys in the order they came, numbers in ECMAScript's Number::toString
form (``50.0`` is ``50``, ``1e-7`` stays an exponent, ``0.000001`` does not), non-ASCII as is.
Python's ``json.dumps`` differs on numbers (``50.0``, ``1e-06``), hence this module. The same
writer spells the JSONL rows and the numbers in CSV files, as a JavaScript service would.
"""

import json
import math
from decimal import Decimal
from typing import Any


def js_number(value: int | float) -> str:
    """ECMAScript Number::toString of ``value`` (NaN and infinities are ``null``, as in JSON)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest round-trip digits; ECMAScript places them by its own rules.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(str(d) for d in digit_tuple).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def js_stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for JSON-like Python values (dicts keep their key order)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return js_number(value)
    if isinstance(value, str):
        # Same escapes as ECMAScript's QuoteJSONString for well-formed strings.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{js_stringify(str(k))}:{js_stringify(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_stringify(item) for item in value) + "]"
    raise TypeError(f"cannot serialize {type(value).__name__} as JSON")
