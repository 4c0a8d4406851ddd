"""HelloData's dataset export over HTTP (seed 000, PROTOCOLS §1, DECISIONS H-1 … H-7).

Mounted under ``/hellodata``, which is the base URL (``{root}/hellodata``):

* ``POST /dataset/export`` → 201 ``{"queryUUID"}``; 401 no ``x-api-key``, 403 a wrong one; 400 a
  body that is not a JSON object or a webhook URL the vendor refuses; 422 anything the grammar of
  ``query.py`` refuses (or a missing / unknown field, a format not csv / jsonl); 429 past the
  running cap or the rate limit. Errors are ``{"message", "details"}`` (H-4).
* ``GET /files/{queryUUID}/{file}?expires=…&signature=…``: the gzip file, signed (no key, as a GCS
  URL), ``Range`` served, ``application/gzip``; 403 once expired or tampered with.

Every API answer carries ``RateLimit`` and ``RateLimit-Policy`` (§1.5), a fixed window per key.
"""

import hashlib
import hmac
import json
import math
import threading
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.decisions.hellodata import (
    API_KEY_HEADER,
    BAD_KEY_MESSAGE,
    BAD_KEY_STATUS,
    EXPORT_PATH,
    FILE_CONTENT_TYPE,
    FORMATS,
    MISSING_KEY_MESSAGE,
    MISSING_KEY_STATUS,
    RATE_LIMIT_HEADER,
    RATE_LIMIT_POLICY_HEADER,
    RATE_LIMIT_POLICY_NAME,
    REQUEST_FIELDS,
)
from export_pipelines.sandbox.downloads import file_response
from export_pipelines.sandbox.faults import FaultRegistry, with_fault
from export_pipelines.sandbox.hellodata.query import QueryError, parse_query
from export_pipelines.sandbox.hellodata.simulator import VENDOR, HelloDataSimulator
from export_pipelines.sandbox.hellodata.webhooks import webhook_refusal
from export_pipelines.sandbox.signed_urls import UrlSigner

FAULT_ROUTES = frozenset({"export", "file"})
DOWNLOAD_ROUTES = frozenset({"file"})

_DENIED_XML = (
    "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    "<Message>{reason}</Message></Error>"
)


def error(status: int, message: str, details: str, headers: dict[str, str]) -> JSONResponse:
    return JSONResponse(
        {"message": message, "details": details}, status_code=status, headers=headers
    )


class RateLimiter:
    """A fixed window per key (hashed, so no secret sits in the table); thread-safe."""

    def __init__(self, quota: int, window_seconds: int) -> None:
        self.quota, self.window = quota, window_seconds
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def count(self, key: str) -> tuple[bool, dict[str, str]]:
        slot = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            started, used = self._windows.get(slot, (now, 0))
            if now >= started + self.window:
                started, used = now, 0
            used += 1
            self._windows[slot] = (started, used)
        reset = max(1, math.ceil(started + self.window - now))
        return used <= self.quota, self.headers(max(0, self.quota - used), reset)

    def headers(self, remaining: int, reset: int) -> dict[str, str]:
        name = f'"{RATE_LIMIT_POLICY_NAME}"'
        return {
            RATE_LIMIT_HEADER: f"{name};r={remaining};t={reset}",
            RATE_LIMIT_POLICY_HEADER: f"{name};q={self.quota};w={self.window}",
        }

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class HelloDataApi:
    def __init__(
        self,
        simulator: HelloDataSimulator,
        faults: FaultRegistry,
        signer: UrlSigner,
        limiter: RateLimiter,
    ) -> None:
        self.simulator, self.faults, self.signer, self.limiter = simulator, faults, signer, limiter

    def routes(self) -> list[BaseRoute]:
        return [
            Route(EXPORT_PATH, self.export, methods=["POST"]),
            Route("/files/{query_uuid}/{filename}", self.download, methods=["GET", "HEAD"]),
        ]

    def file_url(self, root: str, query_uuid: str, filename: str) -> tuple[str, datetime]:
        """A signed URL for the file, valid ``url_ttl_seconds`` (also for expired-URL tests)."""
        return self.signed_url(root, query_uuid, filename, self.simulator.config.url_ttl_seconds)

    def signed_url(
        self, root: str, query_uuid: str, filename: str, ttl: int
    ) -> tuple[str, datetime]:
        path = f"/files/{query_uuid}/{filename}"
        query = self.signer.query(path, ttl)
        expires = int(query.split("expires=")[1].split("&")[0])
        return f"{root}{path}?{query}", datetime.fromtimestamp(expires, UTC)

    async def export(self, request: Request) -> Response:
        return await with_fault(self.faults.take(VENDOR, "export"), lambda: self._export(request))

    async def _export(self, request: Request) -> Response:
        presented = request.headers.get(API_KEY_HEADER)
        # One count per request, refused ones included, by the key presented.
        allowed, headers = self.limiter.count(presented or "")
        if presented is None:
            return error(
                MISSING_KEY_STATUS,
                MISSING_KEY_MESSAGE,
                f"send the API key as {API_KEY_HEADER}",
                headers,
            )
        if not hmac.compare_digest(presented.strip().encode(), self.simulator.api_key.encode()):
            return error(BAD_KEY_STATUS, BAD_KEY_MESSAGE, "Invalid API key", headers)
        if not allowed:
            return error(
                429,
                "Too Many Requests",
                "rate limit exceeded; wait t seconds of RateLimit",
                headers,
            )
        try:
            body = json.loads(await request.body())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error(400, "Bad Request", f"request body is not valid JSON: {exc}", headers)
        if not isinstance(body, dict):
            return error(400, "Bad Request", "request body must be a JSON object", headers)
        missing = [name for name in REQUEST_FIELDS if name not in body]
        unknown = [name for name in body if name not in REQUEST_FIELDS]
        if missing or unknown:
            problem = (
                f"missing field {missing[0]!r}" if missing else f"unknown field {unknown[0]!r}"
            )
            return error(422, "Unprocessable Entity", problem, headers)
        refusal = webhook_refusal(body["webhookURL"], self.simulator.config.allow_loopback_webhooks)
        if refusal is not None:
            return error(400, "Bad Request", refusal, headers)
        if body["format"] not in FORMATS:
            return error(
                422,
                "Unprocessable Entity",
                f"format must be one of {list(FORMATS)}, got {body['format']!r}",
                headers,
            )
        if not isinstance(body["name"], str):
            return error(422, "Unprocessable Entity", "name must be a string", headers)
        try:
            query = parse_query(body["dataset"])
        except QueryError as exc:
            return error(422, "Unprocessable Entity", str(exc), headers)
        root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
        created = self.simulator.create(
            root, body["name"], body["format"], body["webhookURL"], body["dataset"], query
        )
        if created is None:
            wait = self.simulator.seconds_until_a_slot()
            capped = {**headers, RATE_LIMIT_HEADER: f'"{RATE_LIMIT_POLICY_NAME}";r=0;t={wait}'}
            cap = self.simulator.config.max_running_exports
            return error(
                429,
                "Too Many Requests",
                f"{cap} exports are already running; wait for one to finish",
                capped,
            )
        return JSONResponse({"queryUUID": created.query_uuid}, status_code=201, headers=headers)

    async def download(self, request: Request) -> Response:
        fault = self.faults.take(VENDOR, "file")
        cut = fault.cut_after_bytes if fault is not None else None

        async def answer() -> Response:
            query_uuid: str = request.path_params["query_uuid"]
            filename: str = request.path_params["filename"]
            refusal = self.signer.check(
                f"/files/{query_uuid}/{filename}",
                request.query_params.get("expires"),
                request.query_params.get("signature"),
            )
            if refusal is not None:
                return Response(
                    _DENIED_XML.format(reason=refusal), 403, media_type="application/xml"
                )
            path = self.simulator.file_of(query_uuid, filename)
            if path is None:
                return Response("no such object", 404, media_type="text/plain")
            return file_response(path, cut_after_bytes=cut, media_type=FILE_CONTENT_TYPE)

        return await with_fault(fault, answer)
