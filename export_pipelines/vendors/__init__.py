"""The vendor registry: name → adapter. Adding a vendor is one sub-package and one line here."""

from export_pipelines.vendors.base import VendorAdapter
from export_pipelines.vendors.enterpret import ADAPTER as ENTERPRET

VENDORS: dict[str, VendorAdapter] = {ENTERPRET.name: ENTERPRET}


def adapter_for(vendor: str) -> VendorAdapter:
    try:
        return VENDORS[vendor]
    except KeyError:
        known = ", ".join(sorted(VENDORS))
        raise ValueError(f"unknown vendor {vendor!r}; known vendors: {known}") from None
