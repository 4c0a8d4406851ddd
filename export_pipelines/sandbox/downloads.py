"""Serving generated files: sendfile-style, with ``Range``, and with a connection cut on demand.

Starlette's ``FileResponse`` already answers ``Range`` with 206 and ``Content-Range`` and sets
``Accept-Ranges: bytes`` and ``Content-Length``; it is used as is (a Python loop writing the body
would make the sandbox slower than the client it tests).

A cut download must look to the client like a dropped connection, not like a short file: the
headers promise the full ``Content-Length``, the first N body bytes go out, and then the response
is left unfinished, on which uvicorn closes the socket. The client then reads an incomplete body.
"""

from os import PathLike

from starlette.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send


class CutFileResponse(FileResponse):
    """A ``FileResponse`` whose body stops after ``cut_after_bytes`` and whose socket is dropped."""

    def __init__(
        self, path: str | PathLike[str], cut_after_bytes: int, media_type: str | None = None
    ) -> None:
        super().__init__(path, media_type=media_type)
        self.cut_after_bytes = cut_after_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        budget = self.cut_after_bytes

        async def cutting_send(message: Message) -> None:
            nonlocal budget
            if message["type"] != "http.response.body":
                await send(message)
                return
            if budget <= 0:
                # Swallowed: the response never completes, so the server drops the connection.
                return
            body: bytes = message.get("body", b"")
            chunk = body[:budget]
            budget -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        await super().__call__(scope, receive, cutting_send)


def file_response(
    path: str | PathLike[str], cut_after_bytes: int | None = None, media_type: str | None = None
) -> FileResponse:
    """The download answer for ``path``: whole (or ranged), or cut after ``cut_after_bytes``."""
    if cut_after_bytes is None:
        return FileResponse(path, media_type=media_type)
    return CutFileResponse(path, cut_after_bytes, media_type=media_type)
