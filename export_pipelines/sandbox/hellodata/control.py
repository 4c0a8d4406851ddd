"""Test control of the HelloData simulator, mounted under ``/_sandbox/hellodata``.

* ``GET exports`` / ``GET exports/{uuid}``: exports as understood (dataset, state, rows, file), with
  every webhook attempt and its answer, and the webhook body as sent.
* ``POST exports/{uuid}/complete?wait=file|delivery|none``: produce now (default: answer once the
  file is written; ``delivery``: once delivering is over, delivered or given up).
* ``POST exports/{uuid}/fail`` (``{"message"}`` optional): a silent failure, no webhook.
* ``POST exports/{uuid}/replay``: re-send the delivered body verbatim (a replay); the attempt.
* ``GET exports/{uuid}/signed-url?ttl_seconds=N``: a fresh signed URL (negative: already expired).
* ``POST fail-next`` (``{"message"}`` optional): the next created export fails silently.
* ``POST|GET|DELETE delivery-faults``: ``{"kind": "drop"|"delay"|"duplicate", "times", "delay_seconds"}``.
* ``POST rate-limit/reset``; ``GET generator``: the dataset's parameters, to recompute rows.

Waiting handlers are sync, so Starlette runs them in its thread pool, off the event loop.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from export_pipelines.sandbox.control_json import control_error, json_object
from export_pipelines.sandbox.hellodata.routes import HelloDataApi, RateLimiter
from export_pipelines.sandbox.hellodata.simulator import (
    DeliveryFault,
    ExportError,
    HelloDataSimulator,
)

_WAIT_TIMEOUT_SECONDS = 600.0


def control_routes(
    simulator: HelloDataSimulator, api: HelloDataApi, limiter: RateLimiter
) -> list[BaseRoute]:
    def uuid_of(request: Request) -> str:
        return str(request.path_params["query_uuid"])

    def list_exports(request: Request) -> Response:
        return JSONResponse(
            {"exports": [simulator.summary(e.query_uuid) for e in simulator.exports()]}
        )

    def get_export(request: Request) -> Response:
        try:
            return JSONResponse(simulator.summary(uuid_of(request)))
        except ExportError as exc:
            return control_error(404, str(exc))

    def complete(request: Request) -> Response:
        wait = request.query_params.get("wait", "file")
        if wait not in ("file", "delivery", "none"):
            return control_error(400, "wait must be file, delivery or none")
        try:
            simulator.complete(uuid_of(request), wait, _WAIT_TIMEOUT_SECONDS)
            return JSONResponse(simulator.summary(uuid_of(request)))
        except ExportError as exc:
            return control_error(404, str(exc))
        except TimeoutError as exc:
            return control_error(504, str(exc))

    async def fail(request: Request) -> Response:
        try:
            body = await json_object(request)
            simulator.fail(uuid_of(request), body.get("message"))
            return JSONResponse(simulator.summary(uuid_of(request)))
        except ValueError as exc:
            return control_error(400, str(exc))
        except ExportError as exc:
            return control_error(409, str(exc))

    def replay(request: Request) -> Response:
        try:
            return JSONResponse(simulator.replay(uuid_of(request)).as_dict())
        except ExportError as exc:
            return control_error(409, str(exc))

    def signed_url(request: Request) -> Response:
        try:
            export = simulator.get(uuid_of(request))
            ttl = int(request.query_params.get("ttl_seconds", simulator.config.url_ttl_seconds))
        except ExportError as exc:
            return control_error(404, str(exc))
        except ValueError:
            return control_error(400, "ttl_seconds must be an integer")
        if export.filename is None:
            return control_error(409, f"export {export.query_uuid} has no file yet")
        url, expires = api.signed_url(export.root, export.query_uuid, export.filename, ttl)
        return JSONResponse({"url": url, "expires": expires.isoformat()})

    async def fail_next(request: Request) -> Response:
        try:
            body = await json_object(request)
        except ValueError as exc:
            return control_error(400, str(exc))
        message = str(body.get("message") or "export failed (sandbox fail-next)")
        simulator.fail_next(message)
        return JSONResponse({"armed": {"message": message}})

    async def delivery_faults(request: Request) -> Response:
        if request.method == "DELETE":
            simulator.clear_delivery_faults()
        elif request.method == "POST":
            try:
                body = await json_object(request)
                kind = body["kind"]
                if kind not in ("drop", "delay", "duplicate"):
                    raise ValueError(f"kind must be drop, delay or duplicate, got {kind!r}")
                fault = DeliveryFault(
                    kind, int(body.get("times", 1)), float(body.get("delay_seconds", 0))
                )
                if fault.remaining < 1 or fault.delay_seconds < 0:
                    raise ValueError("times must be ≥ 1 and delay_seconds ≥ 0")
            except (KeyError, ValueError, TypeError) as exc:
                return control_error(400, f"bad delivery fault: {exc}")
            simulator.add_delivery_fault(fault)
            return JSONResponse({"fault": fault.as_dict()}, status_code=201)
        return JSONResponse({"faults": simulator.delivery_faults()})

    def reset_rate_limit(request: Request) -> Response:
        limiter.reset()
        return JSONResponse({"reset": True})

    def generator(request: Request) -> Response:
        return JSONResponse(simulator.params.as_dict())

    return [
        Route("/exports", list_exports, methods=["GET"]),
        Route("/exports/{query_uuid}", get_export, methods=["GET"]),
        Route("/exports/{query_uuid}/complete", complete, methods=["POST"]),
        Route("/exports/{query_uuid}/fail", fail, methods=["POST"]),
        Route("/exports/{query_uuid}/replay", replay, methods=["POST"]),
        Route("/exports/{query_uuid}/signed-url", signed_url, methods=["GET"]),
        Route("/fail-next", fail_next, methods=["POST"]),
        Route("/delivery-faults", delivery_faults, methods=["GET", "POST", "DELETE"]),
        Route("/rate-limit/reset", reset_rate_limit, methods=["POST"]),
        Route("/generator", generator, methods=["GET"]),
    ]
