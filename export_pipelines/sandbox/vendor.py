"""What a simulated vendor contributes to the sandbox: its routes, its controls, its faults.

Each vendor is a sub-package (``sandbox/enterpret``, later ``hellodata``, ``hienergy``, ``rebilly``,
``connhex``) with a ``mount`` function returning a ``VendorMount``. The app mounts the vendor API
under ``/<name>`` (so the client's base URL is ``http://host:port/<name>``) and its test controls
under ``/_sandbox/<name>``; ``name`` is also the stem of the ``<NAME>_BASE_URL`` and
``<NAME>_API_KEY`` environment variables.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from starlette.routing import BaseRoute

from export_pipelines.sandbox.faults import VendorRoutes

S = TypeVar("S", covariant=True)


@dataclass(frozen=True)
class VendorMount(Generic[S]):
    """One simulated vendor, ready to mount."""

    name: str
    api_key: str
    #: The vendor's in-process state, for tests to inspect (jobs, files, dataset).
    simulator: S
    routes: list[BaseRoute]
    control_routes: list[BaseRoute]
    fault_routes: VendorRoutes
    close: Callable[[], None]
