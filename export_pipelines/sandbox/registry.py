"""Every simulated vendor, in banner order; adding a vendor is one line here.

The app, the config, the serve command, the banner and the demo's verifier all read this tuple.
"""

from typing import Any

from export_pipelines.sandbox import connhex, enterpret, hellodata, hienergy, rebilly
from export_pipelines.sandbox.vendor import SandboxVendor

VENDORS: tuple[SandboxVendor[Any, Any], ...] = (
    enterpret.SANDBOX_VENDOR,
    hienergy.SANDBOX_VENDOR,
    rebilly.SANDBOX_VENDOR,
    hellodata.SANDBOX_VENDOR,
    connhex.SANDBOX_VENDOR,
)


def registered(name: str) -> SandboxVendor[Any, Any]:
    """The vendor called ``name`` (KeyError naming the known ones otherwise)."""
    for vendor in VENDORS:
        if vendor.name == name:
            return vendor
    raise KeyError(f"no sandbox vendor {name!r}; known: {sorted(v.name for v in VENDORS)}")
