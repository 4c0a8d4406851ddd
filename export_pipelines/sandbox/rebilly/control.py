"""Test control of the Rebilly simulator, mounted under ``/_sandbox/rebilly``.

* ``GET exports``, ``GET exports/{id}``: each export with its request as understood, the moment its
  window was resolved (``resolved_at``), its absolute window (``window_start``/``window_end``,
  epoch seconds, start inclusive, end exclusive), record count, file id and parts.
* ``POST exports/{id}/advance[?wait=false]``: the next status now (processing → completed answers
  once the file is written unless ``wait=false``).
* ``POST exports/{id}/complete``: through to ``completed`` (or ``failed``) now.
* ``POST exports/{id}/fail`` with ``{"failureReason": ...}``: failed now.
* ``POST fail-next`` with ``{"failureReason": ..., "times": 1}``: the next exports created fail
  with that reason when processed (``record-limit-exceeded``, ``max-retries-reached``).
* ``GET deleted``: every export deleted through the API and the status it had then (a cancel).
* ``POST rate-limit/reset``: a fresh rate-limit window.
* ``GET dataset``: the generator's parameters, to rebuild ``RebillyDataset`` in another process.

Handlers that wait for a writer thread run in Starlette's thread pool, never on the event loop.
"""

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.sandbox.control_json import control_error, json_object
from export_pipelines.sandbox.rebilly.ratelimit import RateLimiter
from export_pipelines.sandbox.rebilly.simulator import ExportError, RebillySimulator

_WAIT_TIMEOUT_SECONDS = 600.0


def control_routes(simulator: RebillySimulator, rate_limiter: RateLimiter) -> list[BaseRoute]:
    def list_exports(request: Request) -> Response:
        return JSONResponse({"exports": simulator.summaries()})

    def get_export(request: Request) -> Response:
        try:
            return JSONResponse(simulator.summary(request.path_params["export_id"]))
        except ExportError as exc:
            return control_error(404, str(exc))

    def _action(request: Request, act: Any) -> Response:
        export_id = request.path_params["export_id"]
        if simulator.get(export_id) is None:
            return control_error(404, f"unknown data export {export_id!r}")
        try:
            act(export_id)
            return JSONResponse(simulator.summary(export_id))
        except ExportError as exc:
            return control_error(409, str(exc))
        except TimeoutError as exc:
            return control_error(504, str(exc))

    def advance(request: Request) -> Response:
        wait = request.query_params.get("wait", "true").lower() not in ("0", "false", "no")
        return _action(
            request, lambda i: simulator.advance(i, wait=wait, timeout=_WAIT_TIMEOUT_SECONDS)
        )

    def complete(request: Request) -> Response:
        return _action(request, lambda i: simulator.complete(i, timeout=_WAIT_TIMEOUT_SECONDS))

    async def fail(request: Request) -> Response:
        try:
            reason = (await json_object(request)).get("failureReason", "max-retries-reached")
        except ValueError as exc:
            return control_error(400, f'body must be like {{"failureReason": "..."}}: {exc}')
        return await run_in_threadpool(_action, request, lambda i: simulator.fail(i, reason))

    async def fail_next(request: Request) -> Response:
        try:
            body = await json_object(request)
            reason = body.get("failureReason")
            times = body.get("times", 1)
            if not isinstance(reason, str) or not isinstance(times, int) or times < 1:
                raise ValueError("failureReason (a string) is required, times ≥ 1")
            simulator.arm_failure(reason, times)
        except (ValueError, ExportError) as exc:
            return control_error(400, str(exc))
        return JSONResponse({"armed": {"failureReason": reason, "times": times}}, status_code=201)

    def reset_rate_limit(request: Request) -> Response:
        rate_limiter.reset()
        return JSONResponse({"limit": rate_limiter.limit, "remaining": rate_limiter.limit})

    def deleted(request: Request) -> Response:
        return JSONResponse(
            {"deleted": [{"id": i, "status": status} for i, status in simulator.deleted()]}
        )

    def dataset(request: Request) -> Response:
        return JSONResponse(simulator.dataset.parameters())

    return [
        Route("/exports", list_exports, methods=["GET"]),
        Route("/exports/{export_id}", get_export, methods=["GET"]),
        Route("/exports/{export_id}/advance", advance, methods=["POST"]),
        Route("/exports/{export_id}/complete", complete, methods=["POST"]),
        Route("/exports/{export_id}/fail", fail, methods=["POST"]),
        Route("/fail-next", fail_next, methods=["POST"]),
        Route("/rate-limit/reset", reset_rate_limit, methods=["POST"]),
        Route("/deleted", deleted, methods=["GET"]),
        Route("/dataset", dataset, methods=["GET"]),
    ]
