"""HiEnergy's error answer: ``{"error": {"code", "message", "request_id", "details"}}`` (E-1, E-7).

The vendor's SDK reads exactly these four fields; the ``code`` vocabulary is not documented (E-7), so
the sandbox uses a small one: ``bad_request`` (400), ``unauthorized`` (401), ``not_found`` (404),
``rate_limited`` (429). ``request_id`` is also sent as the ``X-Request-Id`` header.
"""

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error answer; raised by the simulator, turned into the envelope by the routes."""

    def __init__(
        self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def error_response(
    error: ApiError, request_id: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
            "details": error.details,
        }
    }
    return JSONResponse(
        body, status_code=error.status, headers={**(headers or {}), "X-Request-Id": request_id}
    )
