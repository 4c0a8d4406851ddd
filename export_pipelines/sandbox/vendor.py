"""What a simulated vendor contributes to the sandbox: one ``SandboxVendor`` object.

Each vendor is a sub-package (``sandbox/enterpret``, ``sandbox/hienergy``, later ``hellodata``,
``rebilly``, ``connhex``) exporting ``SANDBOX_VENDOR``, and ``sandbox/registry.py`` lists them; that
one line is all a new vendor adds to the shared files. The object carries:

* ``config_model``: the vendor's section of ``SandboxConfig`` (``SandboxConfig(<name>=...)``);
* ``serve_flags``: its ``export-pipelines sandbox serve --<name>-<flag>`` options;
* ``mount``: builds the running vendor (a ``VendorMount``) from its config: the API routes, mounted
  under ``/<name>``, its test controls under ``/_sandbox/<name>``, its fault routes, and the
  ``base_path`` under ``/<name>`` that the banner's ``<NAME>_BASE_URL`` points at;
* ``expected_records``: the records the sandbox generated for one of its jobs, recomputed in another
  process from the vendor's control endpoints (what the demo compares the lake with).

``name`` is also the stem of the ``<NAME>_BASE_URL`` and ``<NAME>_API_KEY`` environment variables.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import click
from pydantic import BaseModel, ConfigDict
from starlette.routing import BaseRoute

from export_pipelines.sandbox.faults import FaultRegistry, VendorRoutes
from export_pipelines.sandbox.signed_urls import UrlSigner

#: The seed of every vendor's synthetic data unless configured (``--seed`` sets all of them).
DEFAULT_SEED = 20240101

S = TypeVar("S", covariant=True)


class VendorConfig(BaseModel):
    """The base of every vendor's config section: at least the account's API key.

    A section with a ``seed`` or ``completion_delay_seconds`` field is set by the serve command's
    shared ``--seed`` / ``--completion-delay`` flags.
    """

    model_config = ConfigDict(frozen=True)

    api_key: str


C = TypeVar("C", bound=VendorConfig)
Sim = TypeVar("Sim")


@dataclass(frozen=True)
class VendorMount(Generic[S]):
    """One simulated vendor, running and ready to mount."""

    name: str
    api_key: str
    #: The vendor's in-process state, for tests to inspect (jobs, files, dataset).
    simulator: S
    routes: list[BaseRoute]
    control_routes: list[BaseRoute]
    fault_routes: VendorRoutes
    close: Callable[[], None]
    #: The API's path under ``/<name>`` (HiEnergy: ``/api/v1``); the banner's base URL ends with it.
    base_path: str = ""


@dataclass(frozen=True)
class MountContext:
    """What the sandbox shares with each vendor it mounts."""

    #: The vendor's own directory for generated files (``<work_dir>/<name>``).
    work_dir: Path
    faults: FaultRegistry
    signer: UrlSigner


@dataclass(frozen=True)
class ServeFlag:
    """``--<vendor>-<option>`` of ``sandbox serve``, setting ``field`` of the vendor's config."""

    option: str
    field: str
    type: click.ParamType
    help: str


#: (sandbox root URL, vendor job id, the request body the ledger holds) → the generated records,
#: in file order, each with the vendor's ``id`` field.
ExpectedRecords = Callable[[str, str, Mapping[str, Any]], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class SandboxVendor(Generic[C, Sim]):
    """One vendor sub-package's entry in the registry."""

    name: str
    config_model: type[C]
    mount: Callable[[C, MountContext], VendorMount[Sim]]
    expected_records: ExpectedRecords
    serve_flags: tuple[ServeFlag, ...] = ()
