"""The Connhex exporter API (seed 003; PROTOCOLS §4; DECISIONS C-1 … C-7) under ``/connhex``.

* ``POST /exports``: 201 with the request as accepted (defaults filled in) plus ``id``, ``status``,
  ``createdAt``, ``updatedAt``, ``deletedAt`` and ``jobs``; 400 for a bad body (every problem, path
  first, in one message); 429 with ``QUEUE_FULL_MESSAGE`` when the account already holds
  ``max_queued_exports`` requests that are not terminal.
* ``GET /exports``: ``{results, page, pageSize, total}``; filters ``ids[]``, ``status[]``, ``type``,
  ``from``/``to`` (ISO date-times on ``createdAt``, from inclusive, to exclusive), ``page`` (from 0),
  ``pageSize`` (default 1000), ``sort`` ``createdAt|updatedAt:asc|desc``; the tag filters are not
  simulated (400, rather than silently matching everything).
* ``GET /exports/{id}`` (C-1: with ``jobs``), ``GET /exports/{id}/status`` (``{status, jobs}``).
* ``GET /exports/{id}/download[?jobId=]``: the ZIP of the latest job of each item, or of that one
  job (one member); 400 while a job in it is not ``done`` (or has expired). Served from a file, so
  ``Range`` works (206).

Auth: ``Authorization: Bearer <token>``; missing or another scheme 401, a wrong token 403. Every
error body is ``{"error": {"message": ...}}``; an unknown id is 404. Faults (``sandbox/faults.py``)
apply per route: ``create``, ``list``, ``get``, ``status``, ``download`` (the last can be cut).
"""

import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.decisions.connhex import (
    AUTH_HEADER,
    AUTH_SCHEME,
    DOWNLOAD_CONTENT_TYPE,
    EXPORTS_PATH,
    LIST_DEFAULT_PAGE_SIZE,
    LIST_DEFAULT_SORT,
    QUEUE_FULL_MESSAGE,
    REQUEST_TYPES,
    STATUSES,
)
from export_pipelines.sandbox.connhex.errors import InvalidRequest, error
from export_pipelines.sandbox.connhex.simulator import (
    VENDOR,
    ConnhexSimulator,
    ExportError,
    NotDownloadable,
)
from export_pipelines.sandbox.downloads import file_response
from export_pipelines.sandbox.faults import FaultRegistry, with_fault

FAULT_ROUTES = frozenset({"create", "list", "get", "status", "download"})
DOWNLOAD_ROUTES = frozenset({"download"})
SORT_FIELDS = ("createdAt", "updatedAt")

Handler = Callable[[Request], Awaitable[Response]]


class ConnhexApi:
    """Request handlers bound to one simulator and the fault registry."""

    def __init__(self, simulator: ConnhexSimulator, faults: FaultRegistry) -> None:
        self.simulator = simulator
        self.faults = faults

    def routes(self) -> list[BaseRoute]:
        one = f"{EXPORTS_PATH}/{{export_id}}"
        return [
            Route(EXPORTS_PATH, self._api("create", self.create), methods=["POST"]),
            Route(EXPORTS_PATH, self._api("list", self.list), methods=["GET"]),
            Route(one, self._api("get", self.get), methods=["GET"]),
            Route(f"{one}/status", self._api("status", self.status), methods=["GET"]),
            Route(f"{one}/download", self.download, methods=["GET", "HEAD"]),
        ]

    def _refusal(self, request: Request) -> Response | None:
        presented = request.headers.get(AUTH_HEADER, "")
        scheme, _, token = presented.partition(" ")
        if scheme.lower() != AUTH_SCHEME.lower() or not token.strip():
            return error(401, f"missing {AUTH_HEADER}: {AUTH_SCHEME} <token>")
        if not hmac.compare_digest(token.strip().encode(), self.simulator.api_key.encode()):
            return error(403, "this token may not use the exporter")
        return None

    def _api(self, route: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            async def guarded() -> Response:
                refused = self._refusal(request)
                return refused if refused is not None else await handler(request)

            return await with_fault(self.faults.take(VENDOR, route), guarded)

        return endpoint

    async def create(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error(400, f"body: is not valid JSON: {exc}")
        try:
            parsed = self.simulator.parse(body)
        except InvalidRequest as exc:
            return error(400, str(exc))
        if self.simulator.queued() >= self.simulator.config.max_queued_exports:
            return error(429, QUEUE_FULL_MESSAGE)
        export = self.simulator.create(parsed)
        snapshot = self.simulator.snapshot(export.id)
        return JSONResponse(snapshot, status_code=201)

    async def get(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        snapshot = self.simulator.snapshot(export_id)
        if snapshot is None:
            return error(404, f"export {export_id} not found")
        return JSONResponse(snapshot)

    async def status(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        status = self.simulator.status(export_id)
        if status is None:
            return error(404, f"export {export_id} not found")
        return JSONResponse(status)

    async def list(self, request: Request) -> Response:
        try:
            query = _ListQuery.parse(request)
        except InvalidRequest as exc:
            return error(400, str(exc))
        items = [item for item in self.simulator.snapshots() if query.matches(item)]
        field, descending = query.sort
        items.sort(key=lambda item: (item[field], item["id"]), reverse=descending)
        start = query.page * query.page_size
        page = items[start : start + query.page_size]
        return JSONResponse(
            {
                "results": page,
                "page": query.page,
                "pageSize": query.page_size,
                "total": len(items),
            }
        )

    async def download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "download")
        cut = fault.cut_after_bytes if fault is not None else None

        async def answer() -> Response:
            refused = self._refusal(request)
            if refused is not None:
                return refused
            export_id = request.path_params["export_id"]
            job_id = request.query_params.get("jobId") or None
            try:
                path, name = self.simulator.download(export_id, job_id)
            except ExportError as exc:
                return error(404, str(exc))
            except NotDownloadable as exc:
                return error(400, str(exc))
            response = file_response(path, cut_after_bytes=cut, media_type=DOWNLOAD_CONTENT_TYPE)
            response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
            return response

        return await with_fault(fault, answer)


class _ListQuery:
    """The filters, paging and sort of ``GET /exports``."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.statuses: set[str] = set()
        self.type: str | None = None
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.page = 0
        self.page_size = LIST_DEFAULT_PAGE_SIZE
        self.sort: tuple[str, bool] = ("createdAt", True)

    @classmethod
    def parse(cls, request: Request) -> "_ListQuery":
        params = request.query_params
        problems: list[str] = []
        query = cls()
        query.ids = {
            part
            for raw in params.getlist("ids[]") + params.getlist("ids")
            for part in raw.split(",")
            if part
        }
        statuses = [
            part
            for raw in params.getlist("status[]") + params.getlist("status")
            for part in raw.split(",")
            if part
        ]
        for status in statuses:
            if status not in STATUSES:
                problems.append(f"status[]: {status!r} is not one of {', '.join(STATUSES)}")
        query.statuses = set(statuses)
        if "type" in params:
            if params["type"] not in REQUEST_TYPES:
                problems.append(
                    f"type: {params['type']!r} is not one of {', '.join(REQUEST_TYPES)}"
                )
            query.type = params["type"]
        for key in ("tagLabels[]", "tagLabelValues[]"):
            if key in params:
                problems.append(f"{key}: tags are not simulated by this sandbox")
        for key in ("from", "to"):
            if key in params:
                try:
                    moment = datetime.fromisoformat(params[key].replace("Z", "+00:00"))
                except ValueError:
                    problems.append(f"{key}: {params[key]!r} is not an ISO-8601 date-time")
                    continue
                moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
                setattr(query, "start" if key == "from" else "end", moment)
        for key, attribute in (("page", "page"), ("pageSize", "page_size")):
            if key in params:
                try:
                    value = int(params[key])
                    if value < 0:
                        raise ValueError
                    setattr(query, attribute, value)
                except ValueError:
                    problems.append(f"{key}: {params[key]!r} is not an integer ≥ 0")
        sort = params.get("sort", LIST_DEFAULT_SORT)
        field, _, direction = sort.partition(":")
        direction = direction or "asc"
        if field not in SORT_FIELDS or direction not in ("asc", "desc"):
            problems.append(f"sort: {sort!r} is not <{'|'.join(SORT_FIELDS)}>:<asc|desc>")
        else:
            query.sort = (field, direction == "desc")
        if problems:
            raise InvalidRequest(problems)
        return query

    def matches(self, item: dict[str, Any]) -> bool:
        if self.ids and item["id"] not in self.ids:
            return False
        if self.statuses and item["status"] not in self.statuses:
            return False
        if self.type is not None and item["type"] != self.type:
            return False
        created = datetime.fromisoformat(item["createdAt"].replace("Z", "+00:00"))
        if self.start is not None and created < self.start:
            return False
        return self.end is None or created < self.end
