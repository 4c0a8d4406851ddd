"""RFC 7807 problem bodies, the vendor's error shape (PROTOCOLS §3.5, R-8).

``{"type": "about:blank", "title", "status", "detail", "instance"}``, and for 422
``invalidFields: [{"field", "message"}]`` with dot notation for nested fields (``dateRange.start``,
``fields.2``). Served as ``application/json``, the content type the description lists.
"""

from typing import Any

from starlette.responses import JSONResponse

from export_pipelines.decisions.rebilly import INVALID_REQUEST_STATUS, PROBLEM_TITLES


class InvalidRequest(ValueError):
    """A request the vendor answers 422; ``fields`` are ``(field, message)`` pairs."""

    def __init__(self, fields: list[tuple[str, str]], detail: str | None = None) -> None:
        self.fields = fields
        self.detail = detail or "; ".join(f"{field}: {message}" for field, message in fields)
        super().__init__(self.detail)


def problem(
    status: int,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": PROBLEM_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def invalid(error: InvalidRequest, instance: str, headers: dict[str, str]) -> JSONResponse:
    fields = [{"field": field, "message": message} for field, message in error.fields]
    return problem(
        INVALID_REQUEST_STATUS, error.detail, instance, headers=headers, invalidFields=fields
    )
