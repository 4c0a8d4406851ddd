"""Rebilly's data-exports API over HTTP (seed 002, PROTOCOLS §3, DECISIONS R-1…R-9).

Mounted under ``/rebilly``; the base URL is ``{root}/rebilly/experimental/organizations/{org}``.

* ``POST /data-exports`` → 201, ``Location``, the DataExport; ``GET /data-exports/{id}``;
  ``GET /data-exports`` with ``limit`` (default 100, 0…1000), ``offset``, ``sort`` (default
  ``-createdTime``), ``filter``, ``q`` (over ``name`` and ``id``; ``criteria`` is refused, 422)
  and ``Pagination-Total``,
  ``Pagination-Limit``, ``Pagination-Offset``; ``PUT /data-exports/{id}`` → 200 while pending,
  422 after, 201 creating an export with that id; ``DELETE /data-exports/{id}`` → 204.
  ``expand=file,user`` adds ``_embedded.file`` (once completed) and ``_embedded.user``; other
  names are ignored, as the vendor's ``expand`` documents no error.
* ``GET /files/{fileId}/download``: the file, with the API key; ``Range`` served.
* ``GET /rebilly/storage/{fileId}/{name}?expires=…&signature=…``: the ``signedLink`` target, no key,
  valid ``signed_link_ttl_seconds`` (R-4), 403 once expired or edited.

``_links``: ``self`` and ``user`` always; ``download`` and ``signedLink`` only once completed (R-4).
Auth is ``REB-APIKEY``; anything else is 401. Another organization id is 403. Errors are RFC 7807
problems (``problems.py``). Every API answer carries the rate-limit headers; a non-GET request past
the limit is 429 (``ratelimit.py``). Faults (``sandbox/faults.py``) apply per route: ``create``,
``get``, ``list``, ``update``, ``delete``, ``file`` and ``signed-file`` (the last two can be cut).
"""

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.decisions.rebilly import (
    API_KEY_HEADER,
    BASE_PATH_TEMPLATE,
    DELETE_STATUS,
    FILE_DOWNLOAD_PATH,
    LINK_DOWNLOAD,
    LINK_SELF,
    LINK_SIGNED,
    LINK_USER,
    LIST_DEFAULT_LIMIT,
    LIST_DEFAULT_SORT,
    LIST_MAX_LIMIT,
    PAGINATION_HEADERS,
)
from export_pipelines.sandbox.downloads import file_response
from export_pipelines.sandbox.faults import FaultRegistry, with_fault
from export_pipelines.sandbox.rebilly.catalog import Field, Kind
from export_pipelines.sandbox.rebilly.config import SANDBOX_USER_ID
from export_pipelines.sandbox.rebilly.problems import InvalidRequest, invalid, problem
from export_pipelines.sandbox.rebilly.query import (
    QueryError,
    compile_filter,
    parse_sort,
    sort_key,
)
from export_pipelines.sandbox.rebilly.ratelimit import RateLimiter
from export_pipelines.sandbox.rebilly.simulator import (
    VENDOR,
    DataExport,
    ExportError,
    RebillySimulator,
)
from export_pipelines.sandbox.signed_urls import UrlSigner

FAULT_ROUTES = frozenset({"create", "get", "list", "update", "delete", "file", "signed-file"})
DOWNLOAD_ROUTES = frozenset({"file", "signed-file"})
BASE_PATH = BASE_PATH_TEMPLATE.replace("{organizationId}", "{organization_id}")
STORAGE_PATH = "/storage/{file_id}/{name}"
_RESOURCE_ID = re.compile(r"^[@~\-\.\w]{1,50}$")
_TOTAL, _LIMIT, _OFFSET = PAGINATION_HEADERS

#: What ``filter`` and ``sort`` of ``GET /data-exports`` address (R-6).
EXPORT_FIELDS = {
    spec.path: spec
    for spec in (
        Field("id", Kind.STRING),
        Field("name", Kind.STRING, text=True),
        Field("resource", Kind.STRING),
        Field("format", Kind.STRING),
        Field("status", Kind.STRING),
        Field("recordCount", Kind.INTEGER),
        Field("scheduledTime", Kind.TIMESTAMP),
        Field("createdTime", Kind.TIMESTAMP),
        Field("updatedTime", Kind.TIMESTAMP),
    )
}

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


class RebillyApi:
    """Request handlers bound to one simulator, fault registry, URL signer and rate limiter."""

    def __init__(
        self, simulator: RebillySimulator, faults: FaultRegistry, signer: UrlSigner
    ) -> None:
        self.simulator = simulator
        self.faults = faults
        self.signer = signer
        config = simulator.config
        self.rate_limiter = RateLimiter(
            config.rate_limit_requests, config.rate_limit_window_seconds
        )

    def routes(self) -> list[BaseRoute]:
        exports = f"{BASE_PATH}/data-exports"
        download = BASE_PATH + FILE_DOWNLOAD_PATH.replace("{fileId}", "{file_id}")
        return [
            Route(exports, self._api("create", self.create), methods=["POST"]),
            Route(exports, self._api("list", self.list), methods=["GET"]),
            Route(f"{exports}/{{export_id}}", self._api("get", self.get), methods=["GET"]),
            Route(f"{exports}/{{export_id}}", self._api("update", self.update), methods=["PUT"]),
            Route(f"{exports}/{{export_id}}", self._api("delete", self.delete), methods=["DELETE"]),
            Route(download, self.download, methods=["GET", "HEAD"]),
            Route(STORAGE_PATH, self.signed_download, methods=["GET", "HEAD"]),
        ]

    def _base(self, request: Request) -> str:
        root = request.scope.get("root_path", "")
        organization = self.simulator.config.organization_id
        path = BASE_PATH_TEMPLATE.replace("{organizationId}", organization)
        return f"{request.url.scheme}://{request.url.netloc}{root}{path}"

    def _refusal(self, request: Request, counted: bool) -> tuple[Response | None, dict[str, str]]:
        """401 without the key, 403 for another organization, 429 past the limit."""
        instance = request.url.path
        presented = request.headers.get(API_KEY_HEADER)
        if presented is None or not _same(presented, self.simulator.api_key):
            return problem(401, f"missing or invalid {API_KEY_HEADER} header", instance), {}
        organization = request.path_params.get("organization_id")
        if organization != self.simulator.config.organization_id:
            detail = f"this key has no access to organization {organization!r}"
            return problem(403, detail, instance), {}
        allowed, headers = self.rate_limiter.take(counted)
        if not allowed:
            detail = "too many requests for this organization; retry after X-RateLimit-Retry-After"
            return problem(429, detail, instance, headers=headers), headers
        return None, headers

    def _api(self, route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            async def guarded() -> Response:
                refused, headers = self._refusal(request, counted=request.method != "GET")
                if refused is not None:
                    return refused
                return await handler(request, headers)

            return await with_fault(self.faults.take(VENDOR, route), guarded)

        return endpoint

    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequest([("body", f"is not valid JSON: {exc}")]) from exc

    def _render(self, request: Request, export: DataExport, body: dict[str, Any]) -> dict[str, Any]:
        """The DataExport with ``_links`` and, when asked, ``_embedded``."""
        base = self._base(request)
        links = [
            {"rel": LINK_SELF, "href": f"{base}/data-exports/{export.id}"},
            {"rel": LINK_USER, "href": f"{base}/users/{SANDBOX_USER_ID}"},
        ]
        file_id = body.get("fileId")
        if body["status"] == "completed" and isinstance(file_id, str):
            links.append(
                {
                    "rel": LINK_DOWNLOAD,
                    "href": base + FILE_DOWNLOAD_PATH.replace("{fileId}", file_id),
                }
            )
            links.append({"rel": LINK_SIGNED, "href": self._signed_link(request, file_id)})
        body["_links"] = links
        expand = {name.strip() for name in request.query_params.get("expand", "").split(",")}
        embedded: dict[str, Any] = {}
        if "user" in expand:
            embedded["user"] = {"id": SANDBOX_USER_ID, "email": "sandbox@example.com"}
        if "file" in expand and isinstance(file_id, str):
            found = self.simulator.file(file_id)
            if found is not None:
                path, media_type, name = found
                embedded["file"] = {
                    "id": file_id,
                    "name": name,
                    "mime": media_type,
                    "size": path.stat().st_size,
                }
        if embedded:
            body["_embedded"] = embedded
        return body

    def _signed_link(self, request: Request, file_id: str) -> str:
        found = self.simulator.file(file_id)
        name = found[2] if found is not None else "file"
        path = STORAGE_PATH.format(file_id=file_id, name=name)
        query = self.signer.query(path, self.simulator.config.signed_link_ttl_seconds)
        root = request.scope.get("root_path", "")
        return f"{request.url.scheme}://{request.url.netloc}{root}{path}?{query}"

    def _one(self, request: Request, export: DataExport, status: int, headers: dict[str, str]):
        body = self.simulator.snapshot(export.id)
        if body is None:  # deleted meanwhile
            return problem(404, f"data export {export.id} not found", request.url.path)
        return JSONResponse(
            self._render(request, export, body), status_code=status, headers=headers
        )

    async def create(self, request: Request, headers: dict[str, str]) -> Response:
        try:
            parsed = self.simulator.parse(await self._body(request))
        except InvalidRequest as exc:
            return invalid(exc, request.url.path, headers)
        export = self.simulator.create(parsed)
        headers = {**headers, "Location": f"{self._base(request)}/data-exports/{export.id}"}
        return self._one(request, export, 201, headers)

    async def get(self, request: Request, headers: dict[str, str]) -> Response:
        export_id = request.path_params["export_id"]
        export = self.simulator.get(export_id)
        if export is None:
            return problem(404, f"data export {export_id} not found", request.url.path)
        return self._one(request, export, 200, headers)

    async def update(self, request: Request, headers: dict[str, str]) -> Response:
        export_id = request.path_params["export_id"]
        try:
            if not _RESOURCE_ID.match(export_id):
                raise InvalidRequest(
                    [("id", "must be at most 50 characters of letters, digits, @ ~ - . _")]
                )
            parsed = self.simulator.parse(await self._body(request))
        except InvalidRequest as exc:
            return invalid(exc, request.url.path, headers)
        try:
            updated = self.simulator.update(export_id, parsed)
        except ExportError:  # PUT is an upsert: an unknown id creates the export
            export = self.simulator.create(parsed, export_id=export_id)
            headers = {**headers, "Location": f"{self._base(request)}/data-exports/{export.id}"}
            return self._one(request, export, 201, headers)
        if updated is None:
            status = self.simulator.snapshot(export_id) or {"status": "deleted"}
            message = f"is {status['status']}; a data export may be changed only while pending"
            refusal = InvalidRequest([("status", message)])
            return invalid(refusal, request.url.path, headers)
        return self._one(request, updated, 200, headers)

    async def delete(self, request: Request, headers: dict[str, str]) -> Response:
        export_id = request.path_params["export_id"]
        if not self.simulator.delete(export_id):
            return problem(404, f"data export {export_id} not found", request.url.path)
        return Response(status_code=DELETE_STATUS, headers=headers)

    async def list(self, request: Request, headers: dict[str, str]) -> Response:
        params = request.query_params
        if params.get("criteria"):
            refusal = InvalidRequest([("criteria", "criteria are not simulated; use filter")])
            return invalid(refusal, request.url.path, headers)
        try:
            limit = _bounded_int(params.get("limit"), "limit", LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
            offset = _bounded_int(params.get("offset"), "offset", 0, None)
            predicate = compile_filter("data-exports", params.get("filter", ""), EXPORT_FIELDS)
            keys = parse_sort("data-exports", params.get("sort", LIST_DEFAULT_SORT), EXPORT_FIELDS)
        except QueryError as exc:
            part = str(exc).partition(":")[0]
            field = part if part in ("limit", "offset", "sort") else "filter"
            return invalid(InvalidRequest([(field, str(exc))]), request.url.path, headers)
        needle = params.get("q", "").strip().casefold()
        items = self.simulator.resources()
        if predicate is not None:
            items = [item for item in items if predicate(item)]
        if needle:
            items = [
                item
                for item in items
                if needle in str(item["name"]).casefold() or needle in item["id"].casefold()
            ]
        items.sort(key=sort_key(EXPORT_FIELDS, keys))
        page = items[offset : offset + limit]
        exports = {export.id: export for export in self.simulator.exports()}
        rendered = [
            self._render(request, exports[item["id"]], item)
            for item in page
            if item["id"] in exports
        ]
        headers = {
            **headers,
            _TOTAL: str(len(items)),
            _LIMIT: str(limit),
            _OFFSET: str(offset),
        }
        return JSONResponse(rendered, headers=headers)

    async def download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "file")
        cut = fault.cut_after_bytes if fault is not None else None

        async def answer() -> Response:
            refused, headers = self._refusal(request, counted=False)
            if refused is not None:
                return refused
            return self._file(request, request.path_params["file_id"], cut, headers)

        return await with_fault(fault, answer)

    async def signed_download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "signed-file")
        cut = fault.cut_after_bytes if fault is not None else None

        async def answer() -> Response:
            file_id, name = request.path_params["file_id"], request.path_params["name"]
            refusal = self.signer.check(
                STORAGE_PATH.format(file_id=file_id, name=name),
                request.query_params.get("expires"),
                request.query_params.get("signature"),
            )
            if refusal is not None:
                return problem(403, f"signed link refused: {refusal}", request.url.path)
            return self._file(request, file_id, cut, {})

        return await with_fault(fault, answer)

    def _file(
        self, request: Request, file_id: str, cut: int | None, headers: dict[str, str]
    ) -> Response:
        found = self.simulator.file(file_id)
        if found is None:
            return problem(404, f"file {file_id} not found", request.url.path)
        path, media_type, name = found
        response = file_response(path, cut_after_bytes=cut, media_type=media_type)
        response.headers.update(headers)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _bounded_int(raw: str | None, name: str, default: int, maximum: int | None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}: {raw!r} is not an integer") from None
    if value < 0 or (maximum is not None and value > maximum):
        bound = f"0…{maximum}" if maximum is not None else "≥ 0"
        raise QueryError(f"{name}: {value} is outside {bound}")
    return value
