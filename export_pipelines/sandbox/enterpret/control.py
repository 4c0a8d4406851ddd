"""Test control of the Enterpret simulator, mounted under ``/_sandbox/enterpret``.

* ``GET jobs``: every job created, with the request as understood and its window.
* ``GET jobs/{queryID}``: one job.
* ``POST jobs/{queryID}/complete[?wait=false]``: complete now (by default, answer once written).
* ``POST jobs/{queryID}/fail`` with optional ``{"message": ...}``: fetch then reports the failure.
* ``GET dataset``: the dataset parameters, to rebuild ``FeedbackDataset`` in another process.

Handlers that wait for a writer thread run in Starlette's thread pool, so they never block the
event loop that serves the vendor API.
"""

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.sandbox.enterpret.routes import error
from export_pipelines.sandbox.enterpret.simulator import EnterpretSimulator, JobError

_COMPLETE_TIMEOUT_SECONDS = 600.0


def control_routes(simulator: EnterpretSimulator) -> list[BaseRoute]:
    def list_jobs(request: Request) -> Response:
        return JSONResponse({"jobs": simulator.summaries()})

    def get_job(request: Request) -> Response:
        try:
            return JSONResponse(simulator.summary(request.path_params["query_id"]))
        except JobError as exc:
            return error(404, str(exc))

    def complete(request: Request) -> Response:
        query_id = request.path_params["query_id"]
        wait = request.query_params.get("wait", "true").lower() not in ("0", "false", "no")
        try:
            simulator.complete(query_id, wait=wait, timeout=_COMPLETE_TIMEOUT_SECONDS)
            return JSONResponse(simulator.summary(query_id))
        except JobError as exc:
            return error(404 if simulator.job(query_id) is None else 409, str(exc))
        except TimeoutError as exc:
            return error(504, str(exc))

    async def fail(request: Request) -> Response:
        query_id = request.path_params["query_id"]
        raw = await request.body()
        message = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return error(400, 'body must be JSON like {"message": "..."}')
            message = body.get("message") if isinstance(body, dict) else None
        try:
            job = simulator.job(query_id)
            if job is None:
                raise JobError(f"unknown queryID {query_id!r}")
            await run_in_threadpool(simulator.fail, query_id, message)
            return JSONResponse(simulator.summary(query_id))
        except JobError as exc:
            return error(404, str(exc))

    def dataset(request: Request) -> Response:
        data = simulator.dataset
        return JSONResponse(
            {
                "seed": data.seed,
                "record_count": data.record_count,
                "start": data.start_ts,
                "end": data.end_ts,
            }
        )

    return [
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{query_id}", get_job, methods=["GET"]),
        Route("/jobs/{query_id}/complete", complete, methods=["POST"]),
        Route("/jobs/{query_id}/fail", fail, methods=["POST"]),
        Route("/dataset", dataset, methods=["GET"]),
    ]
