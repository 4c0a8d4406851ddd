"""The in-process sandbox: its work directory, fault registry, URL signer and vendor simulators.

Built once per server from the registry: every registered vendor is mounted with its section of the
config. Tests reach a vendor's state with ``sandbox.simulator(SANDBOX_VENDOR)`` (typed), or
Enterpret's with ``sandbox.enterpret`` (kept for the tests written before the registry).
"""

import shutil
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from export_pipelines.sandbox import enterpret, registry
from export_pipelines.sandbox.config import SandboxConfig
from export_pipelines.sandbox.enterpret.simulator import EnterpretSimulator
from export_pipelines.sandbox.faults import Fault, FaultRegistry, FaultSpec
from export_pipelines.sandbox.inflight import InFlightMeter
from export_pipelines.sandbox.signed_urls import UrlSigner
from export_pipelines.sandbox.vendor import MountContext, SandboxVendor, VendorMount

Sim = TypeVar("Sim")


class Sandbox:
    """Every simulated vendor of one sandbox run, and what they share."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._temporary: Path | None = None
        if self.config.work_dir is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="export-pipelines-sandbox-"))
            self.work_dir = self._temporary
        else:
            self.work_dir = self.config.work_dir
            self.work_dir.mkdir(parents=True, exist_ok=True)
        self.faults = FaultRegistry(seed=self.config.fault_seed)
        self.signer = UrlSigner()
        #: Requests each vendor route is serving, and the most at once (``/_sandbox/in-flight``).
        self.in_flight = InFlightMeter()
        self.vendors: dict[str, VendorMount[Any]] = {}
        self._closed = False
        try:
            for vendor in registry.VENDORS:
                context = MountContext(self.work_dir / vendor.name, self.faults, self.signer)
                self._add(vendor.mount(self.config.vendor_config(vendor), context))
            for spec in self.config.faults:
                self.faults.add(spec)
        except BaseException:
            self.close()
            raise

    def _add(self, mount: VendorMount[Any]) -> None:
        self.faults.register(mount.name, mount.fault_routes)
        self.in_flight.instrument(mount.name, mount.routes)
        self.vendors[mount.name] = mount

    def vendor(self, name: str) -> VendorMount[Any]:
        try:
            return self.vendors[name]
        except KeyError:
            raise KeyError(f"no sandbox vendor {name!r}; known: {sorted(self.vendors)}") from None

    def simulator(self, vendor: SandboxVendor[Any, Sim]) -> Sim:
        """The running state of ``vendor``, with its own type."""
        simulator: Sim = self.vendor(vendor.name).simulator
        return simulator

    @property
    def enterpret(self) -> EnterpretSimulator:
        return self.simulator(enterpret.SANDBOX_VENDOR)

    def add_fault(self, vendor: str, route: str, **fault: Any) -> Fault:
        """Arm a fault, e.g. ``add_fault("enterpret", "fetch", status=503, times=2)``."""
        return self.faults.add(FaultSpec(vendor=vendor, route=route, **fault))

    def clear_faults(self) -> None:
        self.faults.clear()

    def close(self) -> None:
        """Stop the vendors' background work; remove the work directory if it was temporary."""
        if self._closed:
            return
        self._closed = True
        for mount in self.vendors.values():
            mount.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
