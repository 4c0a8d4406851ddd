"""The Enterpret Data Export API v1 over HTTP (seed 004, PROTOCOLS §5, DECISIONS N-1…N-6).

Mounted under ``/enterpret``: the client's base URL is ``http://host:port/enterpret``.

* ``POST /export/external/v1/async/submit`` → ``{"queryID": "async-xxxxxx"}``
* ``POST /export/external/v1/async/fetch`` → ``{}`` / ``{"isCompleted": false}`` while running,
  ``{"isCompleted": true, "responseFiles": [...]}`` when done, ``{"isCompleted": true,
  "error": ...}`` when failed; 404 for an unknown queryID.
* ``GET /export/external/v1/labels/{labelId}`` → ``{"label": {...}}``, 404 if unknown.
* The same three without the ``/export`` prefix (an older revision of the vendor's page).
* ``GET /files/{queryID}/{n}.json?expires=…&signature=…``: the response files, pre-signed (no API
  key), valid ``file_url_ttl_seconds`` (N-6), 403 once expired or tampered with; ``Range`` served.

Auth is ``Authorization: Bearer <key>`` or, from the older revision, ``api-key: <key>``; anything
else is 401 ``{"error": "unauthorized"}`` (N-1). Errors are ``{"error": message}``.
"""

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.decisions.enterpret import UNAUTHORIZED_ERROR
from export_pipelines.sandbox.downloads import file_response
from export_pipelines.sandbox.enterpret.errors import RequestError
from export_pipelines.sandbox.enterpret.simulator import VENDOR, EnterpretSimulator
from export_pipelines.sandbox.faults import FaultRegistry, with_fault
from export_pipelines.sandbox.signed_urls import UrlSigner

API_PREFIXES = ("/export/external/v1", "/external/v1")
FAULT_ROUTES = frozenset({"submit", "fetch", "labels", "file"})
DOWNLOAD_ROUTES = frozenset({"file"})


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


class EnterpretApi:
    """Request handlers bound to one simulator, one fault registry and one URL signer."""

    def __init__(
        self, simulator: EnterpretSimulator, faults: FaultRegistry, signer: UrlSigner
    ) -> None:
        self.simulator = simulator
        self.faults = faults
        self.signer = signer

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for prefix in API_PREFIXES:
            routes += [
                Route(f"{prefix}/async/submit", self.submit, methods=["POST"]),
                Route(f"{prefix}/async/fetch", self.fetch, methods=["POST"]),
                Route(f"{prefix}/labels/{{label_id}}", self.label, methods=["GET"]),
            ]
        routes.append(
            Route("/files/{query_id}/{index:int}.json", self.download, methods=["GET", "HEAD"])
        )
        return routes

    def _authorized(self, request: Request) -> bool:
        key = self.simulator.api_key
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and _same(token, key):
            return True
        legacy = request.headers.get("api-key")
        return legacy is not None and _same(legacy, key)

    async def _guarded(
        self, request: Request, route: str, handle: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The route's injected fault around authentication and the handler (see ``faults``)."""

        async def authorized() -> Response:
            if not self._authorized(request):
                return error(401, UNAUTHORIZED_ERROR)
            return await handle(request)

        return await with_fault(self.faults.take(VENDOR, route), authorized)

    @staticmethod
    async def _json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestError(f"request body is not valid JSON: {exc}") from exc

    async def submit(self, request: Request) -> Response:
        return await self._guarded(request, "submit", self._submit)

    async def _submit(self, request: Request) -> Response:
        try:
            job = self.simulator.submit(await self._json(request))
        except RequestError as exc:
            return error(400, str(exc))
        return JSONResponse({"queryID": job.query_id})

    async def fetch(self, request: Request) -> Response:
        return await self._guarded(request, "fetch", self._fetch)

    async def _fetch(self, request: Request) -> Response:
        try:
            body = await self._json(request)
        except RequestError as exc:
            return error(400, str(exc))
        query_id = body.get("queryID") if isinstance(body, dict) else None
        if not isinstance(query_id, str) or not query_id:
            return error(400, "queryID: is required and must be a string")
        answer = self.simulator.fetch(
            query_id, lambda index: self._file_url(request, query_id, index)
        )
        if answer is None:
            return error(404, f"queryID not found: {query_id}")
        return JSONResponse(answer)

    def _file_url(self, request: Request, query_id: str, index: int) -> str:
        """An absolute pre-signed URL on the host the client used, under this vendor's mount."""
        path = f"/files/{query_id}/{self.simulator.file_name(index)}"
        query = self.signer.query(path, self.simulator.config.file_url_ttl_seconds)
        root = request.scope.get("root_path", "")
        return f"{request.url.scheme}://{request.url.netloc}{root}{path}?{query}"

    async def label(self, request: Request) -> Response:
        return await self._guarded(request, "labels", self._label)

    async def _label(self, request: Request) -> Response:
        label_id = request.path_params["label_id"]
        label = self.simulator.dataset.labels.get(label_id)
        if label is None:
            return error(404, f"label not found: {label_id}")
        return JSONResponse({"label": label})

    async def download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "file")
        cut = fault.cut_after_bytes if fault is not None else None
        return await with_fault(fault, lambda: self._download(request, cut))

    async def _download(self, request: Request, cut: int | None) -> Response:
        query_id: str = request.path_params["query_id"]
        index: int = request.path_params["index"]
        path = f"/files/{query_id}/{self.simulator.file_name(index)}"
        refusal = self.signer.check(
            path, request.query_params.get("expires"), request.query_params.get("signature")
        )
        if refusal is not None:
            return error(403, refusal)
        file_path = self.simulator.file_path(query_id, index)
        if file_path is None:
            return error(404, "file not found")
        return file_response(file_path, cut_after_bytes=cut, media_type="application/json")
