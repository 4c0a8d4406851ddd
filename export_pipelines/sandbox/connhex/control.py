"""Test control of the Connhex simulator, mounted under ``/_sandbox/connhex``.

* ``GET generator``: the generator's parameters (``GeneratorParams``), to rebuild it elsewhere.
* ``GET exports/{id}``: the request with each job's run time, window (``windowStart``/``windowEnd``,
  Unix seconds, start inclusive, end exclusive), rows written and failure, and the ZIP member names.
* ``GET jobs/{id}``: one job so, with its request's body as accepted.
* ``POST exports/{id}/complete``: every job of the request to done (or failed) now.
* ``POST jobs/{id}/fail``: that job failed now; ``POST jobs/{id}/expire``: a done job expired.
* ``POST fail-next`` with ``{"times": n}``: the next n jobs created fail.
* ``GET clock``, ``POST clock/advance`` with ``{"seconds": s}``: the simulated clock, moved forward
  (recurring runs due by then are made at once).
* ``DELETE exports``: forget every request (the queue limit counts them all).

Handlers that wait for writer threads run in Starlette's thread pool, never on the event loop.
"""

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.sandbox.connhex.simulator import ConnhexSimulator, ExportError
from export_pipelines.sandbox.control_json import control_error, json_object

_WAIT_TIMEOUT_SECONDS = 600.0


def control_routes(simulator: ConnhexSimulator) -> list[BaseRoute]:
    def _answer(act: Callable[[], dict[str, Any]]) -> Response:
        try:
            return JSONResponse(act())
        except ExportError as exc:
            status = 404 if str(exc).startswith("unknown") else 409
            return control_error(status, str(exc))
        except TimeoutError as exc:
            return control_error(504, str(exc))

    def generator(request: Request) -> Response:
        return JSONResponse(simulator.params.as_dict())

    def export(request: Request) -> Response:
        return _answer(lambda: simulator.summary(request.path_params["export_id"]))

    def job(request: Request) -> Response:
        return _answer(lambda: simulator.job_summary(request.path_params["job_id"]))

    def complete(request: Request) -> Response:
        export_id = request.path_params["export_id"]
        return _answer(lambda: simulator.complete(export_id, _WAIT_TIMEOUT_SECONDS))

    def fail(request: Request) -> Response:
        return _answer(lambda: simulator.fail(request.path_params["job_id"]))

    def expire(request: Request) -> Response:
        return _answer(lambda: simulator.expire(request.path_params["job_id"]))

    async def fail_next(request: Request) -> Response:
        try:
            times = (await json_object(request)).get("times", 1)
            if not isinstance(times, int) or isinstance(times, bool) or times < 1:
                raise ValueError("times must be an integer ≥ 1")
        except ValueError as exc:
            return control_error(400, f'body must be like {{"times": 1}}: {exc}')
        simulator.arm_failures(times)
        return JSONResponse({"armed": {"times": times}}, status_code=201)

    def clock(request: Request) -> Response:
        return JSONResponse({"now": simulator.now()})

    async def advance(request: Request) -> Response:
        try:
            seconds = (await json_object(request)).get("seconds")
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                raise ValueError("seconds must be a number ≥ 0")
        except ValueError as exc:
            return control_error(400, f'body must be like {{"seconds": 3600}}: {exc}')
        now = await run_in_threadpool(simulator.advance_clock, float(seconds))
        return JSONResponse({"now": now})

    def forget(request: Request) -> Response:
        simulator.forget()
        return JSONResponse({"exports": []})

    return [
        Route("/generator", generator, methods=["GET"]),
        Route("/exports", forget, methods=["DELETE"]),
        Route("/exports/{export_id}", export, methods=["GET"]),
        Route("/exports/{export_id}/complete", complete, methods=["POST"]),
        Route("/jobs/{job_id}", job, methods=["GET"]),
        Route("/jobs/{job_id}/fail", fail, methods=["POST"]),
        Route("/jobs/{job_id}/expire", expire, methods=["POST"]),
        Route("/fail-next", fail_next, methods=["POST"]),
        Route("/clock", clock, methods=["GET"]),
        Route("/clock/advance", advance, methods=["POST"]),
    ]
