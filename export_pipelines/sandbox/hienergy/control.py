"""Test control of the HiEnergy simulator, mounted under ``/_sandbox/hienergy``.

* ``GET reports``: every report and part, with its request as understood and its outcome.
* ``GET reports/{id}``: one of them.
* ``POST reports/{id}/release?parts=N``: take the timers over; let N more parts be written (default
  1) and answer once they are; the report then holds until released again or completed.
* ``POST reports/{id}/complete[?wait=false]``: write everything now (by default, answer when done).
* ``POST reports/{id}/fail`` with optional ``{"message": ...}``: the report fails with it.
* ``POST fail-next`` with ``{"message": ..., "report_type": ...}`` (both optional): the next created
  report (of that type) fails with ``error_message`` = message.
* ``POST rate-limit/reset``: a fresh rate-limit window for every key.
* ``GET generator``: the generator's parameters, to recompute a report's rows in another process.

Handlers that wait for a writer thread run in Starlette's thread pool, so they never block the
event loop that serves the vendor API.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.sandbox.control_json import control_error, json_object
from export_pipelines.sandbox.hienergy.rate_limit import RateLimiter
from export_pipelines.sandbox.hienergy.simulator import HiEnergySimulator, ReportError

_WAIT_TIMEOUT_SECONDS = 600.0
DEFAULT_FAIL_NEXT_MESSAGE = "report generation failed (sandbox fail-next)"


def control_routes(simulator: HiEnergySimulator, limiter: RateLimiter) -> list[BaseRoute]:
    def report_id(request: Request) -> int:
        return int(request.path_params["report_id"])

    def list_reports(request: Request) -> Response:
        return JSONResponse(
            {"reports": [simulator.summary(report.id) for report in simulator.reports()]}
        )

    def get_report(request: Request) -> Response:
        try:
            return JSONResponse(simulator.summary(report_id(request)))
        except ReportError as exc:
            return control_error(404, str(exc))

    def release(request: Request) -> Response:
        try:
            parts = int(request.query_params.get("parts", "1"))
        except ValueError:
            return control_error(400, "parts must be an integer")
        if parts < 1:
            return control_error(400, "parts must be at least 1")
        try:
            before = simulator.summary(report_id(request))["parts_ready"]
            report = simulator.release(report_id(request), parts)
            simulator.wait_parts(report.id, before + parts, timeout=_WAIT_TIMEOUT_SECONDS)
            return JSONResponse(simulator.summary(report.id))
        except ReportError as exc:
            return control_error(
                404 if simulator.get(report_id(request)) is None else 409, str(exc)
            )
        except TimeoutError as exc:
            return control_error(504, str(exc))

    def complete(request: Request) -> Response:
        wait = request.query_params.get("wait", "true").lower() not in ("0", "false", "no")
        try:
            report = simulator.complete(report_id(request), wait, _WAIT_TIMEOUT_SECONDS)
            return JSONResponse(simulator.summary(report.id))
        except ReportError as exc:
            return control_error(
                404 if simulator.get(report_id(request)) is None else 409, str(exc)
            )
        except TimeoutError as exc:
            return control_error(504, str(exc))

    async def fail(request: Request) -> Response:
        try:
            body = await json_object(request)
        except ValueError:
            return control_error(400, 'body must be JSON like {"message": "..."}')
        try:
            report = simulator.fail(report_id(request), body.get("message"))
            return JSONResponse(simulator.summary(report.id))
        except ReportError as exc:
            return control_error(
                404 if simulator.get(report_id(request)) is None else 409, str(exc)
            )

    async def fail_next(request: Request) -> Response:
        try:
            body = await json_object(request)
        except ValueError:
            return control_error(
                400, 'body must be JSON like {"message": "...", "report_type": "..."}'
            )
        message = body.get("message") or DEFAULT_FAIL_NEXT_MESSAGE
        try:
            simulator.fail_next(str(message), body.get("report_type"))
        except ReportError as exc:
            return control_error(400, str(exc))
        return JSONResponse({"armed": {"message": message, "report_type": body.get("report_type")}})

    def reset_rate_limit(request: Request) -> Response:
        limiter.reset()
        return JSONResponse({"reset": True})

    def generator(request: Request) -> Response:
        return JSONResponse(simulator.params.as_dict())

    return [
        Route("/reports", list_reports, methods=["GET"]),
        Route("/reports/{report_id:int}", get_report, methods=["GET"]),
        Route("/reports/{report_id:int}/release", release, methods=["POST"]),
        Route("/reports/{report_id:int}/complete", complete, methods=["POST"]),
        Route("/reports/{report_id:int}/fail", fail, methods=["POST"]),
        Route("/fail-next", fail_next, methods=["POST"]),
        Route("/rate-limit/reset", reset_rate_limit, methods=["POST"]),
        Route("/generator", generator, methods=["GET"]),
    ]
