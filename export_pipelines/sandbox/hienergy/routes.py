"""The HiEnergy export-report API over HTTP (seed 001, PROTOCOLS §2, DECISIONS E-1 … E-6).

Mounted under ``/hienergy``; the API is at the vendor's documented base path, so the client's base
URL is ``http://host:port/hienergy/api/v1`` (``decisions.hienergy.API_PREFIX``).

* ``POST /exports`` → 201 ``{"export": {...}, "deduped": false}`` for a new report; 200 with
  ``deduped: true`` when an identical request was answered by a report completed inside the dedupe
  window; 409 ``{"export": {...}}`` with the identical report still in flight (E-2, E-3).
* ``GET /exports/{id}`` → ``{"export": {...}}`` (E-1), a fresh ``download_url`` on each call (E-5).
* ``GET /exports?limit=&parent_report_id=`` → ``{"exports": [...]}``, newest first: the top-level
  reports, or the parts of one chunked report (E-4); ``limit`` 25 by default, at most 100 (E-6).
* ``GET /files/{id}/{filename}?expires=…&signature=…``: a report's file, presigned (no API key, as an
  S3 URL), ``Range`` served; 403 once expired or tampered with.

Auth: ``X-Api-Key: <key>``, ``Authorization: Bearer <key>`` or the legacy ``api_key`` query
parameter; anything else is 401. Errors use the envelope of ``errors.py``; every authenticated answer
carries the ``X-RateLimit-*`` headers of ``rate_limit.py``.
"""

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.decisions.hienergy import (
    API_KEY_HEADER,
    API_PREFIX,
    LIST_DEFAULT_LIMIT,
    LIST_MAX_LIMIT,
)
from export_pipelines.sandbox.downloads import file_response
from export_pipelines.sandbox.faults import FaultRegistry, with_fault
from export_pipelines.sandbox.hienergy.errors import ApiError, error_response, new_request_id
from export_pipelines.sandbox.hienergy.rate_limit import RateLimiter
from export_pipelines.sandbox.hienergy.report_files import media_type
from export_pipelines.sandbox.hienergy.simulator import VENDOR, HiEnergySimulator, Report
from export_pipelines.sandbox.signed_urls import UrlSigner

FAULT_ROUTES = frozenset({"create", "status", "list", "file"})
DOWNLOAD_ROUTES = frozenset({"file"})

_EXPIRED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>{reason}</Message></Error>"
)


def _same(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            400, "bad_request", f"{name} must be an integer, got {raw!r}", {"field": name}
        ) from None


class HiEnergyApi:
    """Request handlers bound to one simulator, one fault registry, one signer, one limiter."""

    def __init__(
        self,
        simulator: HiEnergySimulator,
        faults: FaultRegistry,
        signer: UrlSigner,
        limiter: RateLimiter,
    ) -> None:
        self.simulator = simulator
        self.faults = faults
        self.signer = signer
        self.limiter = limiter

    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{API_PREFIX}/exports", self.exports, methods=["GET", "POST"]),
            Route(f"{API_PREFIX}/exports/{{report_id}}", self.status, methods=["GET"]),
            Route("/files/{report_id:int}/{filename}", self.download, methods=["GET", "HEAD"]),
        ]

    def _presented_key(self, request: Request) -> str | None:
        key = self.simulator.api_key
        header = request.headers.get(API_KEY_HEADER)
        if header is not None and _same(header, key):
            return key
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(token, key):
            return key
        legacy = request.query_params.get("api_key")
        if legacy is not None and _same(legacy, key):
            return key
        return None

    async def _api(
        self, request: Request, route: str, handle: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Fault, then auth, rate limit, the handler; the envelope for every ``ApiError``."""

        async def answer() -> Response:
            request_id = new_request_id()
            key = self._presented_key(request)
            if key is None:
                refused = ApiError(
                    401,
                    "unauthorized",
                    f"missing or invalid API key: send it as {API_KEY_HEADER} "
                    "or Authorization: Bearer",
                )
                return error_response(refused, request_id)
            quota = self.limiter.count(key)
            headers = quota.headers()
            if not quota.allowed:
                limited = ApiError(
                    429,
                    "rate_limited",
                    f"rate limit of {quota.limit} requests per "
                    f"{self.limiter.window_seconds} s exceeded",
                    {"limit": quota.limit, "reset_at": quota.reset_epoch},
                )
                retry = quota.retry_after(self.limiter.clock())
                return error_response(limited, request_id, {**headers, "Retry-After": retry})
            try:
                response = await handle(request)
            except ApiError as error:
                return error_response(error, request_id, headers)
            response.headers.update({**headers, "X-Request-Id": request_id})
            return response

        return await with_fault(self.faults.take(VENDOR, route), answer)

    def _links(self, request: Request) -> tuple[Callable[[Report], str], Callable[[int], str]]:
        """The report's presigned file URL and its status URL, on the host the client used."""
        root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        ttl = self.simulator.config.download_expires_in_seconds

        def download_url(report: Report) -> str:
            path = f"/files/{report.id}/{report.filename}"
            return f"{root}{path}?{self.signer.query(path, ttl)}"

        def status_url(report_id: int) -> str:
            return f"{root}{API_PREFIX}/exports/{report_id}"

        return download_url, status_url

    def _object(self, request: Request, report: Report) -> dict[str, Any]:
        download_url, status_url = self._links(request)
        return self.simulator.export_object(report, download_url, status_url)

    async def exports(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._api(request, "create", self._create)
        return await self._api(request, "list", self._list)

    async def _create(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, "bad_request", f"request body is not valid JSON: {exc}") from None
        key = self._presented_key(request)
        assert key is not None
        status, report = self.simulator.create(key, body)
        payload: dict[str, Any] = {"export": self._object(request, report)}
        if status != 409:
            payload["deduped"] = status == 200
        return JSONResponse(payload, status_code=status)

    async def status(self, request: Request) -> Response:
        return await self._api(request, "status", self._status)

    async def _status(self, request: Request) -> Response:
        raw = request.path_params["report_id"]
        report = self.simulator.get(int(raw)) if raw.isdigit() else None
        if report is None:
            raise ApiError(404, "not_found", f"export report {raw} not found", {"id": raw})
        return JSONResponse({"export": self._object(request, report)})

    async def _list(self, request: Request) -> Response:
        limit = _int_param(request, "limit")
        if limit is None:
            limit = LIST_DEFAULT_LIMIT
        if not 1 <= limit <= LIST_MAX_LIMIT:
            raise ApiError(
                400,
                "bad_request",
                f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}",
                {"field": "limit"},
            )
        parent = _int_param(request, "parent_report_id")
        reports = self.simulator.listing(limit, parent)
        return JSONResponse({"exports": [self._object(request, report) for report in reports]})

    async def download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "file")
        cut = fault.cut_after_bytes if fault is not None else None
        return await with_fault(fault, lambda: self._download(request, cut))

    async def _download(self, request: Request, cut: int | None) -> Response:
        report_id: int = request.path_params["report_id"]
        filename: str = request.path_params["filename"]
        path = f"/files/{report_id}/{filename}"
        refusal = self.signer.check(
            path, request.query_params.get("expires"), request.query_params.get("signature")
        )
        if refusal is not None:
            return Response(
                _EXPIRED_XML.format(reason=refusal), status_code=403, media_type="application/xml"
            )
        file_path = self.simulator.file_of(report_id, filename)
        if file_path is None:
            return Response("file not found", status_code=404, media_type="text/plain")
        response = file_response(file_path, cut_after_bytes=cut, media_type=media_type(filename))
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
