"""The sandbox's ASGI app: each vendor under its own path prefix, the controls under ``/_sandbox``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.control import control_routes
from export_pipelines.sandbox.state import Sandbox

CONTROL_PREFIX = "/_sandbox"


def build_app(config: SandboxConfig | None = None, sandbox: Sandbox | None = None) -> Starlette:
    """The app over ``sandbox`` (built from ``config`` if not given).

    A sandbox built here is closed when the app shuts down; one passed in belongs to the caller.
    """
    owned = sandbox is None
    state = sandbox if sandbox is not None else Sandbox(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                state.close()

    routes: list[BaseRoute] = [
        Mount(f"/{name}", routes=mount.routes) for name, mount in state.vendors.items()
    ]
    routes.append(Mount(CONTROL_PREFIX, routes=control_routes(state)))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = state
    return app
