"""Settings of the sandbox: where it listens, where it writes, and one section per vendor.

The sections come from the registry: ``SandboxConfig(enterpret=EnterpretSandboxConfig(...))`` (or a
dict) sets a vendor's section, every other registered vendor gets its defaults, and a name that is
no registered vendor is refused. ``config.vendor_config(SANDBOX_VENDOR)`` reads a section, typed.
"""

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from export_pipelines.sandbox.enterpret.config import EnterpretSandboxConfig
from export_pipelines.sandbox.faults import FaultSpec
from export_pipelines.sandbox.vendor import DEFAULT_SEED, SandboxVendor, VendorConfig
from export_pipelines.settings import SANDBOX_DEFAULT_HOST, SANDBOX_DEFAULT_PORT

__all__ = ["DEFAULT_SEED", "EnterpretSandboxConfig", "SandboxConfig"]

C = TypeVar("C", bound=VendorConfig)


class SandboxConfig(BaseModel):
    """The whole sandbox: one HTTP server, one work directory, one section per vendor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = SANDBOX_DEFAULT_HOST
    #: 0 picks a free port (what tests want); the CLI defaults to ``SANDBOX_DEFAULT_PORT``.
    port: int = Field(default=SANDBOX_DEFAULT_PORT, ge=0, le=65535)
    #: Where generated export files go; None means a fresh temporary directory, removed on stop.
    work_dir: Path | None = None
    #: Vendor name → its section; filled from the keyword arguments named after vendors.
    vendors: dict[str, VendorConfig] = Field(default_factory=dict)
    #: Faults armed when the sandbox starts (``serve --fault``), e.g. a 503 on 5 % of every status
    #: poll for a whole run: ``FaultSpec(vendor=…, route=…, status=503, probability=0.05, times=…)``.
    faults: tuple[FaultSpec, ...] = ()
    #: Seed of the generator that decides which requests a fault with a ``probability`` hits.
    fault_seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _vendor_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # Imported here: the registry imports the vendor sub-packages, which import this package.
        from export_pipelines.sandbox.registry import VENDORS, registered

        data = dict(data)
        sections: dict[str, Any] = dict(data.pop("vendors", None) or {})
        for vendor in VENDORS:
            if vendor.name in data:
                sections[vendor.name] = data.pop(vendor.name)
        validated: dict[str, VendorConfig] = {}
        for name, section in sections.items():
            try:
                model = registered(name).config_model
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
            validated[name] = (
                section if isinstance(section, model) else model.model_validate(section)
            )
        for vendor in VENDORS:
            validated.setdefault(vendor.name, vendor.config_model())
        data["vendors"] = validated
        return data

    def vendor_config(self, vendor: SandboxVendor[C, Any]) -> C:
        """The section of ``vendor``, with its own type."""
        section = self.vendors[vendor.name]
        if not isinstance(section, vendor.config_model):
            raise TypeError(f"{vendor.name} section is a {type(section).__name__}")
        return section
