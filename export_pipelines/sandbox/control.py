"""The sandbox's own API, under ``/_sandbox``: faults, the vendors' addresses, vendor controls.

* ``POST /_sandbox/faults`` arms a fault (body: ``FaultSpec``), 201 with the armed fault;
  ``GET`` lists the armed faults; ``DELETE`` clears them all.
* ``GET /_sandbox/in-flight``: each vendor's requests being served now, the most at once and how
  many were served, in total and per route; ``DELETE`` zeroes the high-water marks and totals.
* ``GET /_sandbox/vendors``: each vendor's base URL (on the host the caller used) and API key.
* ``/_sandbox/<vendor>/...``: that vendor's test controls (jobs, completing, failing).
"""

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from export_pipelines.sandbox.faults import FaultError, FaultSpec
from export_pipelines.sandbox.state import Sandbox


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def control_routes(sandbox: Sandbox) -> list[BaseRoute]:
    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.clear_faults()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            try:
                spec = FaultSpec.model_validate(json.loads(await request.body()))
                fault = sandbox.faults.add(spec)
            except json.JSONDecodeError as exc:
                return _error(400, f"body is not valid JSON: {exc}")
            except ValidationError as exc:
                return _error(400, _validation_message(exc))
            except FaultError as exc:
                return _error(400, str(exc))
            return JSONResponse({"fault": fault.as_dict()}, status_code=201)
        return JSONResponse({"faults": [fault.as_dict() for fault in sandbox.faults.list()]})

    async def vendors(request: Request) -> Response:
        root = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(
            {
                name: {"base_url": f"{root}/{name}{mount.base_path}", "api_key": mount.api_key}
                for name, mount in sandbox.vendors.items()
            }
        )

    async def in_flight(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.in_flight.reset()
        return JSONResponse(sandbox.in_flight.snapshot())

    routes: list[BaseRoute] = [
        Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/in-flight", in_flight, methods=["GET", "DELETE"]),
        Route("/vendors", vendors, methods=["GET"]),
    ]
    routes += [
        Mount(f"/{name}", routes=mount.control_routes) for name, mount in sandbox.vendors.items()
    ]
    return routes


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors()
    )
