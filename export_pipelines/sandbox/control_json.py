"""The JSON plumbing every vendor's test controls (``/_sandbox/<vendor>/…``) share: one error shape
and one reader of optional JSON-object bodies, so the controls differ only in what they control."""

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


def control_error(status: int, message: str) -> JSONResponse:
    """A control endpoint's refusal: ``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status)


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object; an empty body is ``{}``; anything else a ValueError
    (a malformed document raises ``json.JSONDecodeError``, itself a ValueError)."""
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body
