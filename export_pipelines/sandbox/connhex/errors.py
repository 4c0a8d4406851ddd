"""Connhex's error body (C-7, §4.5, Ory style): ``{"error": {"message": "..."}}``."""

from collections.abc import Iterable

from starlette.responses import JSONResponse

from export_pipelines.decisions.connhex import ERROR_KEY, ERROR_MESSAGE_KEY


class InvalidRequest(ValueError):
    """A request the exporter refuses with 400; ``messages`` are its problems, path first."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages = list(messages)
        super().__init__("; ".join(self.messages))


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {ERROR_KEY: {ERROR_MESSAGE_KEY: message}}, status_code=status, headers=headers
    )
